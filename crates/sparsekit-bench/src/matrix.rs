//! The benchmark matrix of BENCH.md: which (suite, format, shape, sparsity) cases a run measures.

use std::fmt;
use std::str::FromStr;

use crate::row::Shape;

/// A kernel suite of BENCH.md's matrix that this runner knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// `Y = A·X`, A sparse m×k, X dense k×n.
    Spmm,
    /// `Y = X·Wᵀ` (linear layer forward), W sparse m×k, X dense n×k.
    SpmmT,
    /// `dW = (dYᵀ·X) ⊙ pattern(W)` (linear layer weight gradient), dY n×m, X n×k.
    Sddmm,
}

impl Suite {
    pub const ALL: [Suite; 3] = [Suite::Spmm, Suite::SpmmT, Suite::Sddmm];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Spmm => "spmm",
            Suite::SpmmT => "spmm_t",
            Suite::Sddmm => "sddmm",
        }
    }

    /// The `op` field of its rows.
    pub fn op(self) -> &'static str {
        self.name()
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Suite::ALL
            .into_iter()
            .find(|x| x.name() == s.trim())
            .ok_or_else(|| format!("unknown suite `{s}` (this runner knows spmm, spmm_t, sddmm)"))
    }
}

/// A sparse storage format timed by the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Csr,
    /// BSR with `r × c` blocks; the sparsity is the fraction of zero blocks.
    Bsr(usize, usize),
    /// N:M along rows (at its own sparsity `1 - N/M`).
    Nm(usize, usize),
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csr => "csr",
            Format::Bsr(4, 4) => "bsr4x4",
            Format::Bsr(16, 16) => "bsr16x16",
            Format::Bsr(..) => "bsr",
            Format::Nm(2, 4) => "2:4",
            Format::Nm(1, 4) => "1:4",
            Format::Nm(..) => "nm",
        }
    }

    /// Whether an m × k matrix can be stored in this format.
    pub fn fits(self, m: usize, k: usize) -> bool {
        match self {
            Format::Csr => true,
            Format::Bsr(r, c) => m % r == 0 && k % c == 0,
            Format::Nm(_, mm) => k % mm == 0,
        }
    }

    /// The sparsity of an N:M format (`None` for formats timed at the matrix's sparsities).
    pub fn own_sparsity(self) -> Option<f64> {
        match self {
            Format::Nm(n, m) => Some(1.0 - n as f64 / m as f64),
            _ => None,
        }
    }
}

/// The value and dense-operand type of a case: f32 everywhere, or half precision (values and
/// `X` in bf16 / f16, f32 accumulation, output in the same half type; the dense baseline is
/// burn's matmul in that dtype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    Bf16,
    F16,
}

impl Precision {
    /// The row's `dtype`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// The half-precision cases of the spmm suite (issue 18): csr in bf16 and f16, bsr16x16 in bf16
/// (AMX tiles where the CPU has them), at the run's sparsities.
const HALF_FORMATS: [(Format, Precision); 3] = [
    (Format::Csr, Precision::Bf16),
    (Format::Csr, Precision::F16),
    (Format::Bsr(16, 16), Precision::Bf16),
];

/// The structured formats of BENCH.md's matrix per suite: (quick run, full run).
fn structured_formats(suite: Suite, quick: bool) -> &'static [Format] {
    match (suite, quick) {
        (Suite::Spmm, true) => &[Format::Bsr(16, 16), Format::Bsr(4, 4)],
        (Suite::SpmmT, true) => &[Format::Nm(2, 4)],
        (Suite::Spmm | Suite::SpmmT, false) => &[
            Format::Bsr(16, 16),
            Format::Bsr(4, 4),
            Format::Nm(2, 4),
            Format::Nm(1, 4),
        ],
        (Suite::Sddmm, _) => &[],
    }
}

/// One measured case (one row per device).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub suite: Suite,
    pub format: Format,
    pub shape: Shape,
    pub sparsity: f64,
    pub dtype: Precision,
}

pub const QUICK_SHAPES: [Shape; 1] = [Shape {
    m: 4096,
    k: 4096,
    n: 64,
}];
pub const FULL_SHAPES: [Shape; 3] = [
    Shape {
        m: 4096,
        k: 4096,
        n: 64,
    },
    Shape {
        m: 3072,
        k: 768,
        n: 128,
    },
    Shape {
        m: 1024,
        k: 1024,
        n: 256,
    },
];
/// BENCH.md marks 0.9 and 0.98 as quick; 0.7 is added to show where the break-even lies.
pub const QUICK_SPARSITIES: [f64; 3] = [0.7, 0.9, 0.98];
pub const FULL_SPARSITIES: [f64; 6] = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98];

/// The cases of a run, in order, and notes about the cases of BENCH.md's matrix it leaves out.
///
/// `shapes` / `sparsities` override the matrix's (used for custom and smoke runs). BSR rows use
/// the run's sparsities (fraction of zero blocks); N:M rows run once per shape at `1 - N/M`.
pub fn matrix(
    quick: bool,
    suites: &[Suite],
    shapes: Option<&[Shape]>,
    sparsities: Option<&[f64]>,
) -> (Vec<Case>, Vec<String>) {
    let shapes: &[Shape] = shapes.unwrap_or(if quick { &QUICK_SHAPES } else { &FULL_SHAPES });
    let sparsities: &[f64] = sparsities.unwrap_or(if quick {
        &QUICK_SPARSITIES
    } else {
        &FULL_SPARSITIES
    });
    let mut cases = Vec::new();
    let mut notes = Vec::new();
    for &suite in suites {
        for &shape in shapes {
            for &sparsity in sparsities {
                cases.push(Case {
                    suite,
                    format: Format::Csr,
                    shape,
                    sparsity,
                    dtype: Precision::F32,
                });
            }
            for &format in structured_formats(suite, quick) {
                if !format.fits(shape.m, shape.k) {
                    notes.push(format!(
                        "{suite}: format {} does not fit shape {shape}; no rows",
                        format.name()
                    ));
                    continue;
                }
                match format.own_sparsity() {
                    Some(sparsity) => cases.push(Case {
                        suite,
                        format,
                        shape,
                        sparsity,
                        dtype: Precision::F32,
                    }),
                    None => cases.extend(sparsities.iter().map(|&sparsity| Case {
                        suite,
                        format,
                        shape,
                        sparsity,
                        dtype: Precision::F32,
                    })),
                }
            }
            if suite == Suite::Spmm {
                for (format, dtype) in HALF_FORMATS {
                    if format.fits(shape.m, shape.k) {
                        cases.extend(sparsities.iter().map(|&sparsity| Case {
                            suite,
                            format,
                            shape,
                            sparsity,
                            dtype,
                        }));
                    }
                }
            }
        }
    }
    if suites.contains(&Suite::Sddmm) && !quick {
        notes.push(
            "sddmm: formats bsr / N:M not yet implemented in the runner (nm_sddmm exists in \
             sparsekit-kernels; bench it with `cargo bench --bench kernels -- sddmm/nm`); csr rows only"
                .into(),
        );
    }
    (cases, notes)
}

/// Parses `m,k,n` (or `mxkxn`).
pub fn parse_shape(s: &str) -> Result<Shape, String> {
    let parts: Vec<&str> = s.split([',', 'x', '×']).map(str::trim).collect();
    let nums: Result<Vec<usize>, _> = parts.iter().map(|p| p.parse::<usize>()).collect();
    match nums.as_deref() {
        Ok(&[m, k, n]) => Ok(Shape { m, k, n }),
        _ => Err(format!("shape `{s}`: expected three integers m,k,n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_matrix_has_the_q_rows_of_bench_md() {
        let (cases, notes) = matrix(true, &Suite::ALL, None, None);
        let q = Shape {
            m: 4096,
            k: 4096,
            n: 64,
        };
        // csr × 3 suites × 3 sparsities, bsr16x16 + bsr4x4 spmm × 3 sparsities, 2:4 spmm_t once,
        // spmm in half precision (csr bf16, csr f16, bsr16x16 bf16) × 3 sparsities.
        assert_eq!(cases.len(), 3 * 3 + 2 * 3 + 1 + 3 * 3);
        for (f, d) in HALF_FORMATS {
            for s in [0.7, 0.9, 0.98] {
                assert!(cases.iter().any(|c| c.suite == Suite::Spmm
                    && c.format == f
                    && c.dtype == d
                    && c.sparsity == s));
            }
        }
        for suite in Suite::ALL {
            for s in [0.7, 0.9, 0.98] {
                assert!(
                    cases.iter().any(|c| c.suite == suite
                        && c.format == Format::Csr
                        && c.shape == q
                        && c.sparsity == s),
                    "missing {suite} at {s}"
                );
            }
        }
        for f in [Format::Bsr(16, 16), Format::Bsr(4, 4)] {
            for s in [0.7, 0.9, 0.98] {
                assert!(cases
                    .iter()
                    .any(|c| c.suite == Suite::Spmm && c.format == f && c.sparsity == s));
            }
        }
        assert!(cases
            .iter()
            .any(|c| c.suite == Suite::SpmmT && c.format == Format::Nm(2, 4) && c.sparsity == 0.5));
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn full_matrix_covers_every_shape_and_sparsity_and_structured_formats() {
        let (cases, notes) = matrix(false, &Suite::ALL, None, None);
        // csr: 3 suites × 3 shapes × 6; spmm, spmm_t: 2 bsr × 3 × 6 + 2 N:M × 3; spmm half:
        // 3 (csr bf16, csr f16, bsr16x16 bf16) × 3 shapes × 6.
        assert_eq!(cases.len(), 3 * 3 * 6 + 2 * (2 * 3 * 6 + 2 * 3) + 3 * 3 * 6);
        assert_eq!(notes.len(), 1);
        assert!(notes.iter().all(|n| n.contains("not yet implemented")));
    }

    #[test]
    fn suite_filter_and_overrides() {
        let shape = Shape { m: 64, k: 64, n: 8 };
        let (cases, _) = matrix(true, &[Suite::Sddmm], Some(&[shape]), Some(&[0.5]));
        assert_eq!(
            cases,
            vec![Case {
                suite: Suite::Sddmm,
                format: Format::Csr,
                shape,
                sparsity: 0.5,
                dtype: Precision::F32,
            }]
        );
        assert_eq!("spmm_t".parse::<Suite>(), Ok(Suite::SpmmT));
        assert!("gemm".parse::<Suite>().is_err());
        assert_eq!(parse_shape("64,32,8"), Ok(Shape { m: 64, k: 32, n: 8 }));
        assert!(parse_shape("64,32").is_err());
    }
}
