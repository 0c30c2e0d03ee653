//! Making sure a wgpu adapter exists. Machines without a GPU run wgpu on Mesa's software Vulkan
//! driver (lavapipe, Debian/Ubuntu package `mesa-vulkan-drivers`).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

const ICD_DIRS: &[&str] = &[
    "/usr/share/vulkan/icd.d",
    "/etc/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
];

/// Vulkan installable client drivers (ICD manifests) present on this machine.
pub fn vulkan_icds() -> Vec<String> {
    let mut found = Vec::new();
    for dir in ICD_DIRS {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") {
                    found.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    found.sort();
    found
}

/// On Linux, checks for a Vulkan driver and installs `mesa-vulkan-drivers` with apt when none is
/// found and `install` is true. Elsewhere (macOS: Metal; Windows: DX12/Vulkan) wgpu finds the
/// system's adapter by itself.
pub fn ensure_vulkan_driver(install: bool) -> Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let icds = vulkan_icds();
    if !icds.is_empty() {
        eprintln!("xtask: Vulkan drivers found: {}", icds.join(", "));
        return Ok(());
    }
    let hint = "no Vulkan driver found for wgpu; install Mesa's software driver: \
                `sudo apt-get install -y mesa-vulkan-drivers` (Debian/Ubuntu) or \
                `sudo dnf install -y mesa-vulkan-drivers` (Fedora)";
    if !install {
        bail!("{hint}");
    }
    let apt = Path::new("/usr/bin/apt-get").exists();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let sudo_ok = !is_root
        && Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if !apt || !(is_root || sudo_ok) {
        bail!("{hint}");
    }
    eprintln!(
        "xtask: no Vulkan driver found; installing mesa-vulkan-drivers (software Vulkan for wgpu)"
    );
    let prefix: &[&str] = if is_root { &[] } else { &["sudo", "-n"] };
    for args in [
        &["apt-get", "update", "-qq"][..],
        &["apt-get", "install", "-y", "-qq", "mesa-vulkan-drivers"][..],
    ] {
        let full: Vec<&str> = prefix.iter().chain(args.iter()).copied().collect();
        let st = Command::new(full[0])
            .args(&full[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !st.success() {
            bail!("`{}` failed; {hint}", full.join(" "));
        }
    }
    if vulkan_icds().is_empty() {
        bail!("mesa-vulkan-drivers installed but no Vulkan ICD manifest appeared; {hint}");
    }
    Ok(())
}
