//! The sparse code of a batch ([`SparseCode`]): per token, the latents that fired and their
//! activations, in CSR layout (rows = tokens, columns = latents).

use rayon::prelude::*;

/// The active latents of `n` tokens: token `i` has `indices[row_ptr[i]..row_ptr[i + 1]]` with
/// activations `values[..]` (same range), in the order the encoder produced them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseCode {
    /// Number of latents (columns).
    pub d_sae: usize,
    /// `n + 1` offsets.
    pub row_ptr: Vec<usize>,
    /// Latent of each entry.
    pub indices: Vec<u32>,
    /// Activation of each entry.
    pub values: Vec<f32>,
}

impl SparseCode {
    /// An empty code for `d_sae` latents (no tokens).
    pub fn new(d_sae: usize) -> Self {
        SparseCode {
            d_sae,
            row_ptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Checks the layout: `row_ptr` starts at 0, never decreases and ends at the number of
    /// entries; as many values as indices; every latent `< d_sae`. Describes the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.row_ptr.first() != Some(&0) {
            return Err("row_ptr must start with 0".into());
        }
        if self.row_ptr.windows(2).any(|w| w[1] < w[0]) {
            return Err("row_ptr decreases".into());
        }
        if self.row_ptr.last() != Some(&self.indices.len()) {
            return Err(format!(
                "row_ptr ends at {:?} but there are {} entries",
                self.row_ptr.last(),
                self.indices.len()
            ));
        }
        if self.values.len() != self.indices.len() {
            return Err(format!(
                "{} values for {} indices",
                self.values.len(),
                self.indices.len()
            ));
        }
        if let Some(&j) = self.indices.iter().find(|&&j| j as usize >= self.d_sae) {
            return Err(format!("latent {j} ≥ d_sae = {}", self.d_sae));
        }
        Ok(())
    }

    /// Number of tokens.
    pub fn rows(&self) -> usize {
        self.row_ptr.len().saturating_sub(1)
    }

    /// Number of active entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Latents and activations of token `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.row_ptr[i]..self.row_ptr[i + 1];
        (&self.indices[r.clone()], &self.values[r])
    }

    /// Mean number of active latents per token (0 for no tokens).
    pub fn l0(&self) -> f64 {
        if self.rows() == 0 {
            0.0
        } else {
            self.nnz() as f64 / self.rows() as f64
        }
    }

    /// The code as a dense row-major `n × d_sae` matrix.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows() * self.d_sae];
        for i in 0..self.rows() {
            let (idx, val) = self.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                out[i * self.d_sae + j as usize] = v;
            }
        }
        out
    }

    /// Appends a token's entries (latents `< d_sae`; checked in debug).
    pub fn push_row(&mut self, idx: impl IntoIterator<Item = (u32, f32)>) {
        for (j, v) in idx {
            debug_assert!((j as usize) < self.d_sae);
            self.indices.push(j);
            self.values.push(v);
        }
        self.row_ptr.push(self.indices.len());
    }
}

/// The entries of a code grouped by latent (the transpose's CSR): for latent `j`,
/// `entries[ptr[j]..ptr[j + 1]]` are positions into the code's `indices`/`values`, in token
/// order. A counting sort: O(nnz + d_sae), deterministic.
#[derive(Clone, Debug, Default)]
pub struct ByLatent {
    /// `d_sae + 1` offsets.
    pub ptr: Vec<usize>,
    /// Entry positions (into the code), grouped by latent, tokens ascending.
    pub entries: Vec<u32>,
    /// The token of each entry in `entries`.
    pub tokens: Vec<u32>,
}

impl ByLatent {
    /// Groups `code`'s entries by latent.
    pub fn new(code: &SparseCode) -> Self {
        let mut ptr = vec![0usize; code.d_sae + 1];
        for &j in &code.indices {
            ptr[j as usize + 1] += 1;
        }
        for j in 0..code.d_sae {
            ptr[j + 1] += ptr[j];
        }
        let mut next = ptr.clone();
        let nnz = code.nnz();
        let mut entries = vec![0u32; nnz];
        let mut tokens = vec![0u32; nnz];
        for i in 0..code.rows() {
            for e in code.row_ptr[i]..code.row_ptr[i + 1] {
                let j = code.indices[e] as usize;
                entries[next[j]] = e as u32;
                tokens[next[j]] = i as u32;
                next[j] += 1;
            }
        }
        ByLatent {
            ptr,
            entries,
            tokens,
        }
    }

    /// Latents with at least one entry, ascending.
    pub fn active_latents(&self) -> Vec<u32> {
        (0..self.ptr.len() - 1)
            .filter(|&j| self.ptr[j + 1] > self.ptr[j])
            .map(|j| j as u32)
            .collect()
    }
}

/// `out[i] = bias + Σ_t values[t] · rows[indices[t]]` for every token `i` of `code`: the
/// gather-sum decoder (no dense `n × d_sae` product). `rows` is `[d_sae, d]` row-major, `out`
/// `n × d`. Parallel over tokens, one thread per output row (thread-count independent).
pub fn gather_sum(
    code: &SparseCode,
    rows: &[f32],
    d: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), code.rows() * d);
    out.par_chunks_mut(d.max(1))
        .enumerate()
        .with_min_len(16)
        .for_each(|(i, o)| {
            match bias {
                Some(b) => o.copy_from_slice(b),
                None => o.fill(0.0),
            }
            let (idx, val) = code.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                let r = &rows[j as usize * d..(j as usize + 1) * d];
                axpy(v, r, o);
            }
        });
}

/// `y += a·x` (LLVM vectorises this loop).
#[inline]
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `x·y` in f32 with eight partial sums (vectorisable, fixed order).
#[inline]
pub(crate) fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (xc, xr) = x.split_at(x.len() - x.len() % 8);
    let (yc, yr) = y.split_at(xc.len());
    for (a, b) in xc.chunks_exact(8).zip(yc.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (a, b) in xr.iter().zip(yr) {
        s += a * b;
    }
    s
}
