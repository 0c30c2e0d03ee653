//! Does a huge-page-backed X change the CSR gather rate? (DTLB hypothesis)
use rand::{Rng, SeedableRng};
use sparsekit_formats::Csr;
use sparsekit_kernels::*;
use std::time::Instant;

fn csr(r: &mut rand::rngs::StdRng, m: usize, k: usize, sp: f64) -> Csr<f32> {
    let mut rp = vec![0u32];
    let (mut c, mut v) = (vec![], vec![]);
    for _ in 0..m {
        for j in 0..k {
            if r.random_bool(1.0 - sp) {
                c.push(j as u32);
                v.push(r.random_range(-1.0..1.0));
            }
        }
        rp.push(c.len() as u32);
    }
    Csr::try_new(m, k, rp, c, v).unwrap()
}

fn huge<T: Copy + Default>(len: usize, hp: bool) -> &'static mut [T] {
    let bytes = (len * std::mem::size_of::<T>()).next_multiple_of(1 << 21);
    unsafe {
        let p =
            std::alloc::alloc_zeroed(std::alloc::Layout::from_size_align(bytes, 1 << 21).unwrap());
        if hp {
            assert_eq!(
                libc::madvise(p as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE),
                0
            );
        }
        std::ptr::write_bytes(p, 0, bytes);
        std::slice::from_raw_parts_mut(p as *mut T, len)
    }
}

fn med(mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..15)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[7]
}

fn main() {
    let mut r = rand::rngs::StdRng::seed_from_u64(0);
    let shapes: Vec<(usize, usize, f64)> = match std::env::var("HPL1") {
        Ok(_) => vec![(26000, 64, 0.0), (6500, 512, 0.5)],
        Err(_) => vec![(4096, 4096, 0.9), (4096, 4096, 0.98)],
    };
    let n = 64;
    for (m, k, sp) in shapes {
        let a = csr(&mut r, m, k, sp);
        let ab = a.cast::<half::bf16>();
        let xv: Vec<f32> = (0..k * n).map(|_| r.random_range(-1.0..1.0)).collect();
        for hp in [false, false, false] {
            let x = huge::<f32>(k * n, hp);
            x.copy_from_slice(&xv);
            let xb = huge::<half::bf16>(k * n, hp);
            for (d, s) in xb.iter_mut().zip(&xv) {
                *d = half::bf16::from_f32(*s);
            }
            let mut y = vec![0f32; m * n];
            let tf = med(|| {
                spmm(
                    a.view(),
                    MatRef::new(x, k, n).unwrap(),
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap()
            });
            let tb = med(|| {
                spmm(
                    ab.view(),
                    MatRef::new(xb, k, n).unwrap(),
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap()
            });
            let tm = med(|| {
                spmm(
                    a.view(),
                    MatRef::new(xb, k, n).unwrap(),
                    MatMut::new(&mut y, m, n).unwrap(),
                )
                .unwrap()
            });
            println!(
                "sp={sp}: f32 {:.3} ms  bf16 {:.3} ms  ratio {:.2}  f32 vals+bf16 X {:.3} ms ratio {:.2}",
                tf * 1e3,
                tb * 1e3,
                tf / tb,
                tm * 1e3,
                tf / tm
            );
        }
    }
    println!(
        "{}",
        std::fs::read_to_string("/proc/self/smaps_rollup")
            .unwrap()
            .lines()
            .filter(|l| l.contains("AnonHuge"))
            .collect::<String>()
    );
}
