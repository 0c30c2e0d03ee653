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

/// Times `a` and `b` (e.g. a sparse kernel and its dense baseline): after warming both up,
/// `samples` timed calls of each in warm blocks — one untimed call, then consecutive timed
/// calls — with the blocks in ABBA order (a-block, b-block, then b-block, a-block), so drift
/// on a shared machine affects both alike. Returns their stats in argument order.
///
/// Why blocks: every timed call should find the caches as a previous call of the *same* op
/// left them, as the peers' back-to-back timings (and criterion) do. Alternating single calls
/// made each op run after the other had evicted its data half of the time: the 4096² CSR
/// spmm at 98 % then read 0.60 ms, between a warm cluster at ~0.40 and a cold one, against
/// peers timed warm (docs/bench.md).
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
    let per_block = n.div_ceil(2);
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let block = |f: &mut dyn FnMut(), into: &mut Vec<f64>| {
        f();
        for _ in 0..per_block.min(n - into.len()) {
            let t = Instant::now();
            f();
            into.push(t.elapsed().as_secs_f64());
        }
    };
    let mut round = 0;
    while ta.len() < n || tb.len() < n {
        if round % 2 == 0 {
            block(&mut a, &mut ta);
            block(&mut b, &mut tb);
        } else {
            block(&mut b, &mut tb);
            block(&mut a, &mut ta);
        }
        round += 1;
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
    fn blocks_call_both_equally() {
        let (mut ca, mut cb) = (0, 0);
        let t = Timing {
            samples: 5,
            warmup_calls: 1,
            warmup_time: Duration::ZERO,
        };
        let (sa, sb) = measure_interleaved(&t, || ca += 1, || cb += 1);
        // 1 warm-up + 2 blocks (3 + 2 timed calls, each after one untimed call).
        assert_eq!((sa.samples, sb.samples, ca, cb), (5, 5, 8, 8));
    }
}
