//! Statistics of attention probabilities: how sparse they are.

use burn::tensor::{Bool, Tensor};

use crate::error::{AttnError, Result};

/// Exact zeros among attention probabilities, counted over the (query, key) pairs where both
/// are real tokens (padding queries and padding keys excluded), all heads together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZeroCount {
    /// Probabilities that are exactly `0.0`.
    pub zeros: u64,
    /// Probabilities counted.
    pub total: u64,
}

impl ZeroCount {
    /// Counts the exact zeros of `weights` (`[batch, heads, seq_q, seq_k]`, e.g.
    /// [`SparseMultiHeadAttention::attention_weights`](crate::SparseMultiHeadAttention::attention_weights)
    /// of a self-attention) with the padding mask `padding` (`[batch, seq]`, `true` = padding,
    /// applied to queries and keys; `None` = no padding). Reads the weights back to the host.
    /// A padding mask of another shape, or non-square weights with a padding mask, are
    /// [`AttnError::Shape`].
    ///
    /// ```
    /// use burn::tensor::{Bool, Device, Tensor, TensorData};
    /// use sparsekit_attn::stats::ZeroCount;
    /// let device = Device::flex();
    /// // One text of 2 real tokens and 1 padding token, one head.
    /// let w = Tensor::<4>::from_data(
    ///     TensorData::new(vec![1.0f32, 0.0, 0.0, 0.5, 0.5, 0.0, 0.3, 0.7, 0.0], [1, 1, 3, 3]),
    ///     &device,
    /// );
    /// let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, true], [1, 3]), &device);
    /// let z = ZeroCount::of(w, Some(pad)).unwrap();
    /// assert_eq!((z.zeros, z.total), (1, 4));
    /// assert_eq!(z.fraction(), 0.25);
    /// ```
    pub fn of(weights: Tensor<4>, padding: Option<Tensor<2, Bool>>) -> Result<Self> {
        let [b, h, sq, sk] = weights.dims();
        let keep: Vec<bool> = match padding {
            None => vec![true; b * sq.max(sk)],
            Some(p) => {
                if sq != sk {
                    return Err(AttnError::Shape {
                        what: "keys of self-attention weights (seq_k = seq_q)",
                        expected: sq,
                        got: sk,
                    });
                }
                let [pb, ps] = p.dims();
                if [pb, ps] != [b, sq] {
                    return Err(AttnError::Shape {
                        what: "padding mask [batch, seq]",
                        expected: b * sq,
                        got: pb * ps,
                    });
                }
                p.into_data().iter::<bool>().map(|pad| !pad).collect()
            }
        };
        let w: Vec<f32> = weights.into_data().iter::<f32>().collect();
        let s = sq.max(sk);
        let mut c = ZeroCount::default();
        for bi in 0..b {
            let kq = &keep[bi * s..];
            for hi in 0..h {
                for (q, _) in (0..sq).zip(kq).filter(|(_, &k)| k) {
                    let row = &w[((bi * h + hi) * sq + q) * sk..][..sk];
                    for (x, _) in row.iter().zip(kq).filter(|(_, &k)| k) {
                        c.total += 1;
                        c.zeros += u64::from(*x == 0.0);
                    }
                }
            }
        }
        Ok(c)
    }

    /// `zeros / total` (0 when nothing was counted).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.zeros as f64 / self.total as f64
        }
    }
}

impl std::ops::AddAssign for ZeroCount {
    fn add_assign(&mut self, o: Self) {
        self.zeros += o.zeros;
        self.total += o.total;
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn weights(v: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    #[test]
    fn padding_excludes_queries_and_keys_per_text_and_head() {
        // Two texts (lengths 2 and 1, seq 2), two heads.
        let w = weights(
            vec![
                0.0, 1.0, 0.5, 0.5, // text 0, head 0
                0.0, 1.0, 0.0, 1.0, // text 0, head 1
                1.0, 0.0, 0.0, 0.0, // text 1, head 0: only (0, 0) counts
                0.0, 0.0, 0.0, 0.0, // text 1, head 1: only (0, 0) counts
            ],
            [2, 2, 2, 2],
        );
        let pad = Tensor::<2, Bool>::from_data(
            TensorData::new(vec![false, false, false, true], [2, 2]),
            &Device::flex(),
        );
        let c = ZeroCount::of(w.clone(), Some(pad)).unwrap();
        assert_eq!((c.zeros, c.total), (3 + 1, 8 + 2));
        let all = ZeroCount::of(w, None).unwrap();
        assert_eq!((all.zeros, all.total), (10, 16));
        let mut sum = c;
        sum += all;
        assert_eq!((sum.zeros, sum.total), (14, 26));
        assert_eq!(ZeroCount::default().fraction(), 0.0);
    }

    #[test]
    fn mismatched_padding_is_an_error() {
        let w = weights(vec![0.0; 8], [1, 2, 2, 2]);
        let pad =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![false; 3], [1, 3]), &Device::flex());
        assert!(ZeroCount::of(w, Some(pad)).is_err());
        let rect = weights(vec![0.0; 6], [1, 1, 2, 3]);
        let pad =
            Tensor::<2, Bool>::from_data(TensorData::new(vec![false; 2], [1, 2]), &Device::flex());
        assert!(ZeroCount::of(rect, Some(pad)).is_err());
    }
}
