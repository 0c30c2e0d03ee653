//! CSR sparse × dense products: [`spmm`] / [`spmm_with`] (`Y = αA·X + βY`), [`spmm_t`] /
//! [`spmm_t_bias`] (`Y = X·Wᵀ + b`, the linear-layer forward) and [`spmm_at`] /
//! [`spmm_at_cached`] (`Y = Aᵀ·X`, the input gradient, through a [`CsrTranspose`] cache).
//!
//! One register-blocked kernel serves all of them: for each sparse row and each panel of up to
//! `8 · LANES` output columns (64 with AVX2, 128 with AVX-512) the panel lives in 8 vector
//! registers across the row's non-zeros — `acc += a_ij · X[j, panel]` — and is written once.
//! Rows are split over rayon by non-zero count; each output element is computed by one thread in
//! the order of the stored entries, so results do not depend on the thread count.
//!
//! Files: `driver.rs` (the row driver shared with the BSR / N:M kernels), `csr.rs` (`spmm`,
//! `spmm_t`), `transpose.rs` (`spmm_at` and the [`CsrTranspose`] cache).

mod csr;
mod driver;
mod transpose;

pub use csr::{spmm, spmm_isa, spmm_t, spmm_t_bias, spmm_t_isa, spmm_with};
pub use transpose::{spmm_at, spmm_at_cached, spmm_at_isa, CsrTranspose};

pub(crate) use driver::{panel_match, run_rows, write_out, Job, Out, RowSource, PANEL_VECS};
