//! Timing whole operations: warm-up, then `samples` timed calls each; median, min and max.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Timed calls (BENCH.md: at least 10 for a reported row).
    pub samples: usize,
    /// Warm-up calls at least, ...
    pub warmup_calls: usize,
    /// ... and until this much time has been spent warming up (capped at 20 calls).
    pub warmup_time: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub samples: usize,
    pub median_s: f64,
    pub min_s: f64,
    pub max_s: f64,
}

/// Times `a` and `b` (e.g. a sparse kernel and its dense baseline) with their samples
/// interleaved (a b, b a, a b, …) after warming both up, so drift on a shared machine affects
/// both alike. Returns their stats in argument order.
pub fn measure_interleaved(
    timing: &Timing,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (Stats, Stats) {
    let start = Instant::now();
    let mut calls = 0;
    while calls < timing.warmup_calls || (start.elapsed() < timing.warmup_time && calls < 20) {
        a();
        b();
        calls += 1;
    }
    let n = timing.samples.max(1);
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let time = |f: &mut dyn FnMut(), into: &mut Vec<f64>| {
        let t = Instant::now();
        f();
        into.push(t.elapsed().as_secs_f64());
    };
    for i in 0..n {
        if i % 2 == 0 {
            time(&mut a, &mut ta);
            time(&mut b, &mut tb);
        } else {
            time(&mut b, &mut tb);
            time(&mut a, &mut ta);
        }
    }
    (stats(&mut ta), stats(&mut tb))
}

/// Median (mean of the middle two for an even count), min, max.
pub fn stats(ts: &mut [f64]) -> Stats {
    assert!(!ts.is_empty());
    ts.sort_by(f64::total_cmp);
    let n = ts.len();
    let median_s = if n % 2 == 1 {
        ts[n / 2]
    } else {
        0.5 * (ts[n / 2 - 1] + ts[n / 2])
    };
    Stats {
        samples: n,
        median_s,
        min_s: ts[0],
        max_s: ts[n - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = stats(&mut [3.0, 1.0, 2.0]);
        assert_eq!(
            (s.samples, s.median_s, s.min_s, s.max_s),
            (3, 2.0, 1.0, 3.0)
        );
        assert_eq!(stats(&mut [4.0, 1.0, 2.0, 3.0]).median_s, 2.5);
    }

    #[test]
    fn interleaved_calls_both_equally() {
        let (mut ca, mut cb) = (0, 0);
        let t = Timing {
            samples: 5,
            warmup_calls: 1,
            warmup_time: Duration::ZERO,
        };
        let (sa, sb) = measure_interleaved(&t, || ca += 1, || cb += 1);
        assert_eq!((sa.samples, sb.samples, ca, cb), (5, 5, 6, 6));
    }
}
