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
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csr => "csr",
        }
    }
}

/// One measured case (one row per device).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub suite: Suite,
    pub format: Format,
    pub shape: Shape,
    pub sparsity: f64,
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

/// Formats of BENCH.md's matrix that the kernels crate does not provide yet. Each becomes a note
/// in the report ("not yet implemented") instead of a row; never a made-up number.
pub const PENDING_FORMATS: [(&str, &str); 4] = [
    ("bsr4x4", "bsr_spmm / bsr_spmm_t over Bsr (4×4 blocks)"),
    ("bsr16x16", "bsr_spmm / bsr_spmm_t over Bsr (16×16 blocks)"),
    ("2:4", "nm_spmm / nm_spmm_t over NM (2:4)"),
    ("1:4", "nm_spmm / nm_spmm_t over NM (1:4)"),
];

/// The cases of a run, in order, and notes about the cases of BENCH.md's matrix it leaves out.
///
/// `shapes` / `sparsities` override the matrix's (used for custom and smoke runs).
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
                });
            }
        }
        if !quick && suite != Suite::Sddmm {
            for (format, what) in PENDING_FORMATS {
                notes.push(format!(
                    "{suite}: format {format} not yet implemented ({what}); no rows"
                ));
            }
        }
    }
    if quick && suites.iter().any(|s| *s != Suite::Sddmm) {
        let formats: Vec<&str> = PENDING_FORMATS.iter().map(|(f, _)| *f).collect();
        notes.push(format!(
            "formats {} are not yet implemented (no Bsr/NM types or kernels yet); the quick matrix is \
             csr only, the full run lists them per suite",
            formats.join(", ")
        ));
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
        assert_eq!(cases.len(), 3 * 3);
        for suite in Suite::ALL {
            for s in [0.7, 0.9, 0.98] {
                assert!(
                    cases.iter().any(|c| c.suite == suite
                        && c.format == Format::Csr
                        && c.shape
                            == Shape {
                                m: 4096,
                                k: 4096,
                                n: 64
                            }
                        && c.sparsity == s),
                    "missing {suite} at {s}"
                );
            }
        }
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("not yet implemented"));
    }

    #[test]
    fn full_matrix_covers_every_shape_and_sparsity_and_notes_pending_formats() {
        let (cases, notes) = matrix(false, &Suite::ALL, None, None);
        assert_eq!(cases.len(), 3 * 3 * 6);
        assert_eq!(notes.len(), 2 * PENDING_FORMATS.len());
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
                sparsity: 0.5
            }]
        );
        assert_eq!("spmm_t".parse::<Suite>(), Ok(Suite::SpmmT));
        assert!("gemm".parse::<Suite>().is_err());
        assert_eq!(parse_shape("64,32,8"), Ok(Shape { m: 64, k: 32, n: 8 }));
        assert!(parse_shape("64,32").is_err());
    }
}
