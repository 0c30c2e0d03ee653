//! The one timer of the project's benchmarks and probes: warm-up, then `samples` timed calls;
//! median, min and max ([`Stats`]). [`measure`] times one operation, [`measure_interleaved`] an
//! operation and its baseline together; [`stats`] summarizes samples timed elsewhere (phases of
//! a stateful loop). Criterion benches (`benches/`) use criterion's own timer.

use std::time::{Duration, Instant};

/// How to time an operation.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Timed calls (docs/bench.md: at least 10 for a reported row).
    pub samples: usize,
    /// Warm-up calls at least, ...
    pub warmup_calls: usize,
    /// ... and until this much time has been spent warming up (capped at 20 calls).
    pub warmup_time: Duration,
}

/// Summary of the timed calls, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Timed calls.
    pub samples: usize,
    /// Median (mean of the middle two for an even count).
    pub median_s: f64,
    /// Fastest call.
    pub min_s: f64,
    /// Slowest call.
    pub max_s: f64,
}

/// Calls `f` (every closure in it) `timing.warmup_calls` times at least, and until
/// `timing.warmup_time` has passed, at most 20 times.
fn warm_up(timing: &Timing, f: &mut dyn FnMut()) {
    let start = Instant::now();
    let mut calls = 0;
    while calls < timing.warmup_calls || (start.elapsed() < timing.warmup_time && calls < 20) {
        f();
        calls += 1;
    }
}

/// Appends the seconds of `count` consecutive calls of `f` to `into`.
fn timed(f: &mut dyn FnMut(), count: usize, into: &mut Vec<f64>) {
    for _ in 0..count {
        let t = Instant::now();
        f();
        into.push(t.elapsed().as_secs_f64());
    }
}

/// Times `f`: warm-up, then `timing.samples` (at least 1) consecutive timed calls.
pub fn measure(timing: &Timing, mut f: impl FnMut()) -> Stats {
    warm_up(timing, &mut f);
    let n = timing.samples.max(1);
    let mut ts = Vec::with_capacity(n);
    timed(&mut f, n, &mut ts);
    stats(&mut ts)
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
    warm_up(timing, &mut || {
        a();
        b();
    });
    let n = timing.samples.max(1);
    let per_block = n.div_ceil(2);
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let block = |f: &mut dyn FnMut(), into: &mut Vec<f64>| {
        f();
        timed(f, per_block.min(n - into.len()), into);
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

/// Median (mean of the middle two for an even count), min, max of `ts` (sorted in place).
///
/// # Panics
/// If `ts` is empty.
pub fn stats(ts: &mut [f64]) -> Stats {
    assert!(!ts.is_empty(), "stats of no samples");
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

    #[test]
    fn measure_warms_up_then_times_samples() {
        let mut calls = 0;
        let t = Timing {
            samples: 4,
            warmup_calls: 2,
            warmup_time: Duration::ZERO,
        };
        let s = measure(&t, || {
            calls += 1;
            std::thread::sleep(Duration::from_micros(200));
        });
        assert_eq!((s.samples, calls), (4, 6));
        assert!(s.min_s >= 200e-6 && s.min_s <= s.median_s && s.median_s <= s.max_s);
        // samples = 0 still times one call.
        assert_eq!(measure(&Timing { samples: 0, ..t }, || {}).samples, 1);
    }
}
