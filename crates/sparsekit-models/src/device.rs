//! The devices a model runs on, by name (`flex`, `ndarray`, `wgpu`), for commands and benches.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind};

/// A burn device by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// burn's Flex CPU backend (SIMD + rayon).
    #[default]
    Flex,
    /// burn's NdArray CPU backend.
    NdArray,
    /// burn's wgpu backend on the default adapter (`CUBECL_WGPU_DEFAULT_DEVICE` overrides it,
    /// e.g. `Cpu` for Mesa's software Vulkan).
    Wgpu,
}

impl DeviceChoice {
    /// All choices.
    pub const ALL: [DeviceChoice; 3] = [
        DeviceChoice::Flex,
        DeviceChoice::NdArray,
        DeviceChoice::Wgpu,
    ];

    /// The burn device.
    #[allow(deprecated)] // burn-ndarray is deprecated upstream but still supported by sparsekit
    pub fn device(self) -> Device {
        match self {
            DeviceChoice::Flex => Device::flex(),
            DeviceChoice::NdArray => Device::ndarray(),
            DeviceChoice::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
        }
    }

    /// The name (`flex`, `ndarray`, `wgpu`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Flex => "flex",
            DeviceChoice::NdArray => "ndarray",
            DeviceChoice::Wgpu => "wgpu",
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceChoice::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown device {s:?} (expected flex, ndarray or wgpu)"))
    }
}
