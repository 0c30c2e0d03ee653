//! Data-dependent initialisation: the decoder bias at the geometric median (or mean) of a batch.

/// How `b_dec` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BDecInit {
    /// Zeros.
    Zeros,
    /// The mean of the first batch (sparsify's choice).
    Mean,
    /// The geometric median of the first batch, by Weiszfeld's iteration (SAELens' default;
    /// Bricken et al. 2023).
    GeometricMedian,
}

/// The mean of the rows of `x` (`n × d`), in f64.
pub(crate) fn mean(x: &[f32], d: usize) -> Vec<f32> {
    let n = x.len() / d.max(1);
    let mut acc = vec![0.0f64; d];
    for r in x.chunks(d) {
        acc.iter_mut().zip(r).for_each(|(a, v)| *a += *v as f64);
    }
    acc.into_iter()
        .map(|a| (a / n.max(1) as f64) as f32)
        .collect()
}

/// The geometric median of the rows of `x` (`n × d`): the point minimising the sum of Euclidean
/// distances, by Weiszfeld's iteration from the mean, in f64, until the point moves less than
/// `tol` (relative) or `max_iter` iterations. Rows that coincide with the current point are
/// skipped in that iteration (Vardi & Zhang's fix of the singular case).
pub(crate) fn geometric_median(x: &[f32], d: usize, max_iter: usize, tol: f64) -> Vec<f32> {
    let n = x.len() / d.max(1);
    if n == 0 {
        return vec![0.0; d];
    }
    let mut y: Vec<f64> = mean(x, d).into_iter().map(f64::from).collect();
    for _ in 0..max_iter {
        let mut num = vec![0.0f64; d];
        let mut den = 0.0f64;
        for r in x.chunks(d) {
            let dist = r
                .iter()
                .zip(&y)
                .map(|(a, b)| (*a as f64 - b).powi(2))
                .sum::<f64>()
                .sqrt();
            if dist < 1e-12 {
                continue;
            }
            let w = 1.0 / dist;
            num.iter_mut().zip(r).for_each(|(s, v)| *s += w * *v as f64);
            den += w;
        }
        if den == 0.0 {
            break;
        }
        let next: Vec<f64> = num.iter().map(|s| s / den).collect();
        let moved = next
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let scale = y.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        y = next;
        if moved <= tol * scale {
            break;
        }
    }
    y.into_iter().map(|v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 objective: the sum of distances from `p` to the rows.
    fn cost(x: &[f32], d: usize, p: &[f64]) -> f64 {
        x.chunks(d)
            .map(|r| {
                r.iter()
                    .zip(p)
                    .map(|(a, b)| (*a as f64 - b).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .sum()
    }

    #[test]
    fn median_beats_mean_and_perturbations() {
        // Skewed cloud: the median and the mean differ.
        let d = 3;
        let mut x = Vec::new();
        for i in 0..50 {
            let t = i as f32 * 0.1;
            x.extend_from_slice(&[t.sin(), t.cos(), 0.1 * t]);
        }
        x.extend_from_slice(&[100.0, 100.0, 100.0]);
        let gm: Vec<f64> = geometric_median(&x, d, 500, 1e-12)
            .iter()
            .map(|v| *v as f64)
            .collect();
        let mu: Vec<f64> = mean(&x, d).iter().map(|v| *v as f64).collect();
        let c = cost(&x, d, &gm);
        assert!(c < cost(&x, d, &mu));
        for k in 0..d {
            for s in [-1e-3, 1e-3] {
                let mut p = gm.clone();
                p[k] += s;
                assert!(c <= cost(&x, d, &p) + 1e-9, "not a minimum along axis {k}");
            }
        }
    }

    #[test]
    fn median_of_one_point_and_of_nothing() {
        assert_eq!(geometric_median(&[1.0, 2.0], 2, 10, 1e-9), vec![1.0, 2.0]);
        assert_eq!(geometric_median(&[], 2, 10, 1e-9), vec![0.0, 0.0]);
    }
}
