//! One sparsity vocabulary (issue 13): every public path that turns a sparsity into kept entries
//! — the structure core (`mask`), the burn `Pruner`, one-shot pruning, `SparseLinearConfig` (what
//! dynamic sparse training starts from), `Select::TopK` of the formats — keeps the same count
//! (`keep_count`) and the same entries (the vocabulary's ranking: NaN first, ties to the lower
//! index), and every N:M or block mask the pruner produces is accepted by the structured storage
//! (`SparseTensor::with_structure`, `from_nm`, `from_bsr`) even where kept weights are zero.
//!
//! Before the vocabulary these paths disagreed (`round((1−s)·n)` kept vs `round(s·n)` pruned vs
//! `⌊·⌋`; NaN first vs last; "at most N" vs "exactly N" per group), so this test would have failed.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use proptest::prelude::*;
use sparsekit_formats::sparsity::{keep_count, mask, top_k, Structure};
use sparsekit_formats::{Bsr, Csr, Mask, Select, NM};
use sparsekit_prune::oneshot::{magnitude, SparsityTarget};
use sparsekit_prune::{Pruner, PrunerConfig, Schedule};
use sparsekit_tensor::{SparseLinear, SparseLinearConfig, SparseTensor};

#[derive(Module, Debug)]
struct One {
    l: Linear,
}

/// A `Linear` whose `W` (output × input, row-major) is `w`; burn stores the transpose.
fn linear(w: &[f32], rows: usize, cols: usize, device: &Device) -> Linear {
    let mut l = LinearConfig::new(cols, rows).init(device);
    let wt: Vec<f32> = (0..cols * rows)
        .map(|p| w[(p % rows) * cols + p / rows])
        .collect();
    l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(wt, [cols, rows]), device));
    l
}

/// Scores drawn from a small set (ties everywhere), with NaN of both signs and ±0.
fn score() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => (-3i32..=3).prop_map(|v| v as f32),
        2 => -4.0f32..4.0,
        1 => Just(f32::NAN),
        1 => Just(f32::from_bits(0xFFC0_0000)), // negative NaN
        1 => Just(-0.0f32),
    ]
}

fn sparsity() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..=10).prop_map(|t| t as f64 / 10.0), // 0.5 hits the rounding ties
        0.0f64..=1.0,
    ]
}

fn matrix() -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (0usize..9, 0usize..13)
        .prop_flat_map(|(r, c)| (Just(r), Just(c), prop::collection::vec(score(), r * c)))
}

fn kept(m: &Mask) -> Vec<usize> {
    m.to_bools()
        .iter()
        .enumerate()
        .filter_map(|(i, &k)| k.then_some(i))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Unstructured: the core, the formats' top-k, one-shot pruning per row, and the burn Pruner
    /// keep the same entries; `SparseLinearConfig` keeps the same count.
    #[test]
    fn every_path_keeps_the_same_entries((rows, cols, w) in matrix(), s in sparsity()) {
        let n = rows * cols;
        let k = keep_count(n, s).unwrap();
        let mag: Vec<f32> = w.iter().map(|v| v.abs()).collect();

        // The structure core.
        let core = mask(&mag, rows, cols, s, Structure::Unstructured).unwrap();
        prop_assert_eq!(core.count_ones(), k);
        prop_assert_eq!(kept(&core), top_k(&mag, k));

        // The formats' dense → sparse selection by magnitude.
        let csr = Csr::<f32>::from_dense(&w, rows, cols, Select::TopK(k)).unwrap();
        prop_assert_eq!(Mask::from_pattern(csr.pattern()).unwrap(), core.clone());

        // One-shot pruning (which refuses non-finite weights) compares within each output row:
        // per row, the core on that row.
        let finite: Vec<f32> = w.iter().map(|v| if v.is_nan() { 9.0 } else { *v }).collect();
        let fmag: Vec<f32> = finite.iter().map(|v| v.abs()).collect();
        let p = magnitude(&finite, rows, cols, SparsityTarget::Unstructured(s)).unwrap();
        for r in 0..rows {
            let row = mask(&fmag[r * cols..(r + 1) * cols], 1, cols, s, Structure::Unstructured)
                .unwrap();
            let got: Vec<bool> = (0..cols).map(|c| p.mask.get(r, c)).collect();
            prop_assert_eq!(got, row.to_bools(), "one-shot row {}", r);
            prop_assert_eq!(row.count_ones(), keep_count(cols, s).unwrap());
        }

        // SparseLinearConfig (the start of dynamic sparse training) keeps the same count.
        let device = Device::flex();
        if rows > 0 && cols > 0 {
            let layer = SparseLinearConfig::new(cols, rows)
                .with_sparsity(s)
                .with_seed(Some(7))
                .try_init(&device)
                .unwrap();
            prop_assert_eq!(layer.nnz(), k);

            // The burn Pruner on a Linear holding the finite W.
            let net = One { l: linear(&finite, rows, cols, &device) };
            let mut pruner = Pruner::new(
                PrunerConfig::new(Schedule::OneShot { at: 0, sparsity: s }),
                &net,
            )
            .unwrap();
            pruner.step(net, 0).unwrap();
            let want = mask(&fmag, rows, cols, s, Structure::Unstructured).unwrap();
            prop_assert_eq!(pruner.mask("l.weight").unwrap(), &want);
        }
    }

    /// Every N:M mask of the pruner is stored by N:M storage, including when kept weights are
    /// exactly zero (their group then holds fewer than N non-zeros).
    #[test]
    fn nm_masks_are_accepted_by_nm_storage(
        (rows, groups, m) in (0usize..6, 0usize..4, 2usize..=8),
        n_frac in 0.0f64..1.0,
        seed in any::<u64>(),
    ) {
        let n = 1 + ((m - 1) as f64 * n_frac) as usize; // 1 ≤ n < m
        let cols = groups * m;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        let w: Vec<f32> = (0..rows * cols)
            .map(|_| {
                let v: f32 = rand::Rng::random_range(&mut rng, -2.0..2.0);
                if rand::Rng::random_bool(&mut rng, 0.3) { 0.0 } else { v }
            })
            .collect();
        let mag: Vec<f32> = w.iter().map(|v| v.abs()).collect();
        let st = Structure::NM { n, m };
        let mk = mask(&mag, rows, cols, 0.0, st).unwrap();
        prop_assert!(sparsekit_formats::sparsity::satisfies(&mk, st));
        let pruned: Vec<f32> =
            w.iter().zip(mk.to_bools()).map(|(v, k)| if k { *v } else { 0.0 }).collect();
        let device = Device::flex();

        // The non-zeros of the pruned matrix (fewer than N in some groups).
        let nz = Csr::<f32>::from_dense(&pruned, rows, cols, Select::NonZero).unwrap();
        let nm = NM::from_csr(&nz, n, m).unwrap();
        let t = SparseTensor::from_nm(&nm, &device).unwrap();
        prop_assert_eq!(t.structure(), st);
        let t = SparseTensor::from_csr(&nz, &device).unwrap().with_structure(st).unwrap();
        prop_assert_eq!(t.structure(), st);
        prop_assert_eq!(t.nnz(), rows * groups * n);
        let dense: Vec<f32> = t.to_dense().into_data().try_to_vec().unwrap();
        prop_assert_eq!(dense, pruned.clone());

        // The layer built from the mask, and from the pruned weights read back by non-zeros.
        if rows > 0 && cols > 0 {
            let l = linear(&w, rows, cols, &device);
            let sl = SparseLinear::from_linear(&l, &mk).unwrap().with_structure(st).unwrap();
            prop_assert_eq!(sl.nnz(), rows * groups * n);
            let pl = linear(&pruned, rows, cols, &device);
            let nzmask = Mask::from_pattern(nz.pattern()).unwrap();
            let sl = SparseLinear::from_linear(&pl, &nzmask).unwrap().with_structure(st).unwrap();
            prop_assert_eq!(sl.nnz(), rows * groups * n);
        }
    }

    /// Every block mask of the pruner is stored as BSR and accepted as a block-tagged tensor.
    #[test]
    fn block_masks_are_accepted_by_block_storage(
        (br, bc, nbr, nbc) in (1usize..4, 1usize..4, 0usize..4, 0usize..4),
        s in sparsity(),
        (w_seed, zero_frac) in (any::<u64>(), 0.0f64..0.6),
    ) {
        let (rows, cols) = (br * nbr, bc * nbc);
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(w_seed);
        let w: Vec<f32> = (0..rows * cols)
            .map(|_| {
                let v: f32 = rand::Rng::random_range(&mut rng, -2.0..2.0);
                if rand::Rng::random_bool(&mut rng, zero_frac) { 0.0 } else { v }
            })
            .collect();
        let mag: Vec<f32> = w.iter().map(|v| v.abs()).collect();
        let st = Structure::Block { rows: br, cols: bc };
        let mk = mask(&mag, rows, cols, s, st).unwrap();
        prop_assert_eq!(mk.count_ones(), keep_count(nbr * nbc, s).unwrap() * br * bc);
        // The mask's entries (zeros included) are whole blocks.
        let csr = Csr::<f32>::from_dense(&w, rows, cols, Select::Mask(&mk)).unwrap();
        let bsr = Bsr::from_csr(&csr, (br, bc)).unwrap();
        prop_assert_eq!(bsr.nnz_stored(), mk.count_ones());
        let device = Device::flex();
        let t = SparseTensor::from_bsr(&bsr, &device).unwrap();
        prop_assert_eq!(t.structure(), st);
        let t = SparseTensor::from_csr(&csr, &device).unwrap().with_structure(st).unwrap();
        prop_assert_eq!(t.structure(), st);
    }
}

/// N:M on a shape that N:M storage cannot hold (a short last group) is a typed error there,
/// while the mask itself satisfies the rule.
#[test]
fn nm_on_a_short_last_group_is_a_typed_storage_error() {
    let scores = [3.0f32, 1.0, 2.0, 5.0, 4.0, 0.5];
    let st = Structure::NM { n: 2, m: 4 };
    let mk = mask(&scores, 1, 6, 0.0, st).unwrap();
    assert_eq!(mk.to_bools(), [true, false, false, true, true, true]);
    assert!(sparsekit_formats::sparsity::satisfies(&mk, st));
    let csr = Csr::<f32>::from_dense(&scores, 1, 6, Select::Mask(&mk)).unwrap();
    let t = SparseTensor::from_csr(&csr, &Device::flex()).unwrap();
    assert!(matches!(
        t.with_structure(st),
        Err(sparsekit_tensor::SparseError::Structure(_))
    ));
    assert!(NM::from_csr(&csr, 2, 4).is_err());
}

/// Whole rows / columns: the pruner's masks are accepted as `Rows` / `Columns` tags, the wrong
/// tag is a typed error, and random row / column patterns keep `keep_count` units — including
/// empty shapes.
#[test]
fn row_and_column_structures_agree_across_layers() {
    use sparsekit_formats::sparsity::satisfies;
    use sparsekit_tensor::{random_structured_pattern, SparseError};
    let device = Device::flex();
    for &(rows, cols) in &[(0usize, 0usize), (0, 5), (4, 0), (1, 1), (5, 7), (8, 3)] {
        for s in [0.0, 0.3, 0.5, 1.0] {
            let scores: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919) % 13) as f32).collect();
            for (st, other, units, len) in [
                (Structure::Rows, Structure::Columns, rows, cols),
                (Structure::Columns, Structure::Rows, cols, rows),
            ] {
                let mk = mask(&scores, rows, cols, s, st).unwrap();
                assert_eq!(mk.count_ones(), keep_count(units, s).unwrap() * len);
                assert!(satisfies(&mk, st));
                let csr = Csr::<f32>::from_dense(&scores, rows, cols, Select::Mask(&mk)).unwrap();
                let t = SparseTensor::from_csr(&csr, &device).unwrap();
                assert_eq!(t.clone().with_structure(st).unwrap().structure(), st);
                if !satisfies(&mk, other) {
                    assert!(matches!(
                        t.with_structure(other),
                        Err(SparseError::Structure(_))
                    ));
                }
                let p = random_structured_pattern(rows, cols, st, s, Some(3)).unwrap();
                let pm = Mask::from_pattern(&p).unwrap();
                assert_eq!(
                    pm.count_ones(),
                    keep_count(units, s).unwrap() * len,
                    "{st} {s}"
                );
                assert!(satisfies(&pm, st), "{st} {rows}x{cols} s={s}");
            }
        }
    }
}
