//! Intel AMX plumbing shared by the kernels that use tile registers (the SAE encoder's
//! `amx-bf16` path in `sae/kernels.rs` and the BSR kernel in `bsr_amx.rs`): run-time detection,
//! Linux's permission request for the tile data state, and the tile configuration.
//!
//! - Detection: CPUID leaf 7 (AMX-TILE: EDX bit 24, AMX-BF16: EDX bit 22) and Linux's permission
//!   to use the XTILEDATA state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)` by a raw
//!   `syscall`, asked once per process — the permission is per process, so every rayon thread
//!   may then use the tiles). A refusal (old kernel, seccomp, …) disables every AMX path.
//! - Mnemonics are written in `asm!` (the AMX intrinsics are unstable); they need no
//!   `target_feature` and build on the workspace MSRV.
//! - Every user loads a [`TileCfg`] (`ldtilecfg`) at the start of its task and ends it with
//!   [`tile_release`] (`tilerelease`), so no tile state leaks between tasks or callers.

/// AVX-512F with AVX2 and FMA (run-time detection; needs the compiler's AVX-512 intrinsics,
/// `cfg(sparsekit_avx512)`).
pub(crate) fn has_avx512f() -> bool {
    #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
    {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(target_arch = "x86_64", sparsekit_avx512)))]
    {
        false
    }
}

/// AVX-512 BF16 (`vdpbf16ps`) on top of [`has_avx512f`].
pub(crate) fn has_avx512bf16() -> bool {
    #[cfg(all(target_arch = "x86_64", sparsekit_avx512))]
    {
        has_avx512f() && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(all(target_arch = "x86_64", sparsekit_avx512)))]
    {
        false
    }
}

/// Whether this process can run AMX bf16 tile code (`tdpbf16ps`): the CPU lists AMX-TILE and
/// AMX-BF16 (CPUID leaf 7) and Linux granted the XTILEDATA permission (asked on the first call,
/// cached for the process; a refusal makes this false for good). Always false off x86_64 Linux.
pub(crate) fn has_amx_bf16() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OK.get_or_init(|| cpu_has_amx_bf16() && request_permission())
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// CPUID leaf 7, sub-leaf 0: AMX-TILE (EDX bit 24) and AMX-BF16 (EDX bit 22).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn cpu_has_amx_bf16() -> bool {
    // SAFETY: CPUID leaves 0 and 7 exist on every x86_64 CPU and have no side effects.
    #[allow(unused_unsafe)]
    let (max, l7) = unsafe {
        (
            std::arch::x86_64::__cpuid(0).eax,
            std::arch::x86_64::__cpuid_count(7, 0),
        )
    };
    max >= 7 && (l7.edx >> 24) & 1 == 1 && (l7.edx >> 22) & 1 == 1
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: true when Linux grants this process
/// the AMX tile data state (returns 0).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_permission() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: a plain Linux syscall with integer arguments; it touches no memory of ours.
    // `syscall` clobbers rcx and r11, declared below.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

/// A palette-1 tile configuration (the 64-byte `ldtilecfg` operand): per tile register
/// `tmm0..7`, its rows (byte 48 + t) and bytes per row (`colsb`, bytes 16 + 2t). Unconfigured
/// tiles stay 0 × 0 (unusable).
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
pub(crate) struct TileCfg([u8; 64]);

#[cfg(target_arch = "x86_64")]
impl TileCfg {
    /// Every tile unconfigured.
    pub(crate) fn new() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1; // palette 1
        TileCfg(c)
    }

    /// `tmm<t>` holds `rows` rows (≤ 16) of `colsb` bytes (≤ 64, a multiple of 4).
    pub(crate) fn tile(mut self, t: usize, rows: usize, colsb: usize) -> Self {
        debug_assert!(t < 8 && rows <= 16 && colsb <= 64 && colsb % 4 == 0);
        self.0[16 + 2 * t] = colsb as u8;
        self.0[17 + 2 * t] = 0;
        self.0[48 + t] = rows as u8;
        self
    }

    /// tmm0..7 all 16 rows × 64 bytes.
    pub(crate) fn full() -> Self {
        (0..8).fold(Self::new(), |c, t| c.tile(t, 16, 64))
    }

    /// `ldtilecfg`: makes this the current configuration (zeroing every tile).
    ///
    /// # Safety
    /// [`has_amx_bf16`] returned true in this process. The caller ends its use of the tiles with
    /// [`tile_release`] on the same thread.
    #[inline]
    pub(crate) unsafe fn load(&self) {
        // SAFETY: the operand is this 64-byte configuration (valid palette 1, rows ≤ 16,
        // colsb ≤ 64); AMX is usable per the contract.
        unsafe {
            std::arch::asm!("ldtilecfg [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly));
        }
    }
}

/// `tilerelease`: returns the tile state to its initial (unconfigured) state.
///
/// # Safety
/// [`has_amx_bf16`] returned true in this process.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) unsafe fn tile_release() {
    // SAFETY: AMX is usable per the contract; tilerelease touches no memory.
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) }
}
