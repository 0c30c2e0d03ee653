//! `sparsekit-bench machine`: what the report's `machine` object says about this computer.
//! Every probe degrades to "unknown" / an empty list; none of them fails or panics.

use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    /// SIMD extensions detected at run time (`avx2`, `fma`, `avx512f`, `neon`).
    pub simd: Vec<String>,
    pub os: String,
    pub arch: String,
    pub adapters: Vec<Adapter>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adapter {
    pub name: String,
    /// `cpu` (software), `integrated_gpu`, `discrete_gpu`, `virtual_gpu` or `other`.
    pub kind: String,
    /// `vulkan`, `metal`, `dx12`, `gl`, `webgpu`.
    pub api: String,
    #[serde(default)]
    pub driver: String,
}

impl Adapter {
    /// Software rasterizers (lavapipe/llvmpipe, SwiftShader, WARP) prove correctness, not speed.
    pub fn is_software(&self) -> bool {
        self.kind == "cpu" || is_software_name(&self.name)
    }
}

pub fn is_software_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "llvmpipe",
        "lavapipe",
        "swiftshader",
        "softpipe",
        "warp",
        "microsoft basic render",
    ]
    .iter()
    .any(|s| n.contains(s))
}

pub fn probe() -> Machine {
    Machine {
        cpu: cpu_model().unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        simd: simd_features(),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        adapters: adapters(Duration::from_secs(10)),
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let field = |key: &str| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_string())
        })
    };
    // x86: "model name"; some ARM kernels: "Model" / "Hardware"; else the implementer/part ids.
    field("model name")
        .or_else(|| field("Model"))
        .or_else(|| field("Hardware"))
        .or_else(|| {
            let (imp, part) = (field("CPU implementer")?, field("CPU part")?);
            Some(format!("arm implementer {imp} part {part}"))
        })
}

pub fn simd_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut found: Vec<&str> = Vec::new();
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::is_x86_feature_detected!("fma") {
            found.push("fma");
        }
        if std::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            found.push("neon");
        }
    }
    found.into_iter().map(String::from).collect()
}

/// The wgpu adapters of the primary APIs (Vulkan, Metal, DX12). Runs in a thread so a driver
/// that panics or hangs costs at most `timeout` and an empty list.
pub fn adapters(timeout: Duration) -> Vec<Adapter> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("wgpu-probe".into())
        .spawn(move || {
            let list = std::panic::catch_unwind(enumerate).unwrap_or_default();
            let _ = tx.send(list);
        });
    if spawned.is_err() {
        return Vec::new();
    }
    rx.recv_timeout(timeout).unwrap_or_default()
}

fn enumerate() -> Vec<Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(desc);
    let adapters = block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    let mut out: Vec<Adapter> = adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            let kind = match info.device_type {
                wgpu::DeviceType::Cpu => "cpu",
                wgpu::DeviceType::IntegratedGpu => "integrated_gpu",
                wgpu::DeviceType::DiscreteGpu => "discrete_gpu",
                wgpu::DeviceType::VirtualGpu => "virtual_gpu",
                wgpu::DeviceType::Other => "other",
            };
            Adapter {
                name: info.name,
                kind: kind.into(),
                api: info.backend.to_str().into(),
                driver: info.driver,
            }
        })
        .collect();
    out.dedup();
    out
}

/// A minimal executor for the (on native, immediately ready) adapter future.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_never_panics_and_serializes() {
        let m = probe();
        assert!(m.cores >= 1);
        assert!(!m.cpu.is_empty() && !m.os.is_empty());
        let v = serde_json::to_value(&m).unwrap();
        for key in ["cpu", "cores", "simd", "os", "adapters"] {
            assert!(v.get(key).is_some(), "machine lacks {key}");
        }
        assert!(v["adapters"].is_array());
    }

    #[test]
    fn software_adapters_are_recognized() {
        let a = |name: &str, kind: &str| Adapter {
            name: name.into(),
            kind: kind.into(),
            api: "vulkan".into(),
            driver: String::new(),
        };
        assert!(a("llvmpipe (LLVM 15.0.6, 256 bits)", "cpu").is_software());
        assert!(a("llvmpipe (LLVM 15.0.6, 256 bits)", "other").is_software());
        assert!(!a("NVIDIA GeForce RTX 4090", "discrete_gpu").is_software());
    }
}
