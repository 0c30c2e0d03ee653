#!/usr/bin/env python3
"""How much the placement of X in memory moves Intel MKL's CSR product (sparse_dot_mkl).

Y = A @ X, A 4096 x 4096 CSR f32 at 70 / 90 / 98 % sparsity, X 4096 x 64 f32 viewed at byte
offsets 0, 16, 32, 48 from a 64-byte (cache-line) boundary. Rows of X are 256 bytes: at offset
0 each row is 4 cache lines, otherwise 5, and every 64-byte vector load straddles two lines.
numpy places large arrays wherever malloc does (16 bytes past a line on glibc, or aligned,
by luck), so a single `spmm_peers.py` run can time MKL either way; sparsekit re-aligns X itself.

Run with the peers venv:  source ../shared/peers/setup.sh && $PEERS_PY benches/peers/mkl_alignment.py
Prints one line per (sparsity, offset): median of 21 calls after one warm-up.
"""
import time
import numpy as np
import scipy.sparse as sp
import sparse_dot_mkl as sdm


def median_s(f, reps=21):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    rng = np.random.default_rng(0)
    m = k = 4096
    n = 64
    base = rng.standard_normal(k * n + 64, dtype=np.float32)
    start = (-base.ctypes.data % 64) // 4  # first float on a line boundary
    for s in (0.7, 0.9, 0.98):
        a = sp.random(m, k, density=1 - s, format="csr", dtype=np.float32, random_state=rng,
                      data_rvs=rng.standard_normal)
        a.sort_indices()
        for off_bytes in (0, 16, 32, 48):
            o = start + off_bytes // 4
            x = base[o:o + k * n].reshape(k, n)
            assert x.ctypes.data % 64 == off_bytes
            t = median_s(lambda: sdm.dot_product_mkl(a, x))
            print(f"sparsity {s:.2f}  X at line offset {off_bytes:2d} B: MKL csr {t * 1e3:7.3f} ms"
                  f"  ({2 * a.nnz * n / t / 1e9:6.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
