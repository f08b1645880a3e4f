//! Timing shared by the benchmarks: warm-up, calibrated rounds, median.
//!
//! [`compare`] measures two implementations of the same operation side by
//! side. Each is warmed up (which also estimates its time per iteration),
//! then both run the same number of rounds of about `seconds / rounds` each,
//! alternating which goes first so that a slow spell on a shared machine
//! hits both. A round's figure is its time per iteration; [`Stats`] reports
//! the median round, and the spread between the fastest and slowest.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::Result;
use crate::args::Args;

/// One iteration of a benchmarked operation. It returns a value derived
/// from its output (a length, a checksum), which the harness passes through
/// [`black_box`] so the work cannot be optimized away.
pub(crate) type Workload<'a> = dyn FnMut() -> Result<u64> + 'a;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Measured time per case and implementation, excluding warm-up.
    pub(crate) seconds: f64,
    /// Rounds the measured time is split into.
    pub(crate) rounds: u32,
    /// Warm-up time per case and implementation.
    pub(crate) warmup: Duration,
}

impl Timing {
    /// Reads `--seconds`, `--rounds` and `--warmup`.
    pub(crate) fn from_args(args: &mut Args) -> Result<Self> {
        let seconds = args.value::<f64>("--seconds")?.unwrap_or(1.5);
        let rounds = args.value::<u32>("--rounds")?.unwrap_or(7);
        let warmup = args.value::<f64>("--warmup")?.unwrap_or(0.3);
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err("--seconds must be positive".into());
        }
        if rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        let warmup = Duration::try_from_secs_f64(warmup)
            .map_err(|error| format!("--warmup {warmup}: {error}"))?;
        Ok(Self {
            seconds,
            rounds,
            warmup,
        })
    }
}

/// The measured rounds of one implementation.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Time per iteration in each round, sorted fastest first.
    per_iteration: Vec<Duration>,
    /// Iterations in each round.
    iterations_per_round: u64,
}

impl Stats {
    /// The median round's time per iteration.
    pub(crate) fn median(&self) -> Duration {
        self.per_iteration
            .get(self.per_iteration.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    /// (slowest - fastest) / median, as a fraction: how noisy the rounds were.
    pub(crate) fn spread(&self) -> f64 {
        let (Some(fastest), Some(slowest)) =
            (self.per_iteration.first(), self.per_iteration.last())
        else {
            return 0.0;
        };
        let median = self.median().as_secs_f64();
        if median > 0.0 {
            (slowest.as_secs_f64() - fastest.as_secs_f64()) / median
        } else {
            0.0
        }
    }

    /// Iterations in each round.
    pub(crate) fn iterations_per_round(&self) -> u64 {
        self.iterations_per_round
    }
}

/// Runs `workload` `iterations` times and returns the time per iteration.
fn round(workload: &mut Workload<'_>, iterations: u64) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(workload()?);
    }
    let elapsed = start.elapsed();
    Ok(elapsed.div_f64(iterations.max(1) as f64))
}

/// Warms `workload` up for at least `warmup` and three iterations, and
/// returns the iterations a round of `round_time` needs.
fn calibrate(workload: &mut Workload<'_>, warmup: Duration, round_time: f64) -> Result<u64> {
    let start = Instant::now();
    let mut iterations: u64 = 0;
    while iterations < 3 || start.elapsed() < warmup {
        black_box(workload()?);
        iterations += 1;
    }
    let per_iteration = start.elapsed().as_secs_f64() / iterations as f64;
    let wanted = (round_time / per_iteration.max(1e-9)).ceil();
    // The float-to-int cast saturates; a round never has zero iterations.
    Ok((wanted as u64).max(1))
}

/// Measures `a` and `b` side by side; see the module documentation.
pub(crate) fn compare(
    timing: &Timing,
    a: &mut Workload<'_>,
    b: &mut Workload<'_>,
) -> Result<(Stats, Stats)> {
    let round_time = timing.seconds / f64::from(timing.rounds);
    let a_iterations = calibrate(a, timing.warmup, round_time)?;
    let b_iterations = calibrate(b, timing.warmup, round_time)?;
    let mut a_rounds = Vec::new();
    let mut b_rounds = Vec::new();
    for index in 0..timing.rounds {
        if index % 2 == 0 {
            a_rounds.push(round(a, a_iterations)?);
            b_rounds.push(round(b, b_iterations)?);
        } else {
            b_rounds.push(round(b, b_iterations)?);
            a_rounds.push(round(a, a_iterations)?);
        }
    }
    a_rounds.sort_unstable();
    b_rounds.sort_unstable();
    Ok((
        Stats {
            per_iteration: a_rounds,
            iterations_per_round: a_iterations,
        },
        Stats {
            per_iteration: b_rounds,
            iterations_per_round: b_iterations,
        },
    ))
}

/// The `key=value` fields of the last line of a child benchmark's output
/// that starts with `prefix` (how a child process reports its figures).
pub(crate) struct ChildResult<'a> {
    fields: std::collections::HashMap<&'a str, &'a str>,
}

impl<'a> ChildResult<'a> {
    /// Finds the result line in `stdout`.
    pub(crate) fn parse(stdout: &'a str, prefix: &str) -> Result<Self> {
        let line = stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(prefix))
            .ok_or("the child printed no result line")?;
        Ok(ChildResult {
            fields: line
                .split_whitespace()
                .filter_map(|field| field.split_once('='))
                .collect(),
        })
    }

    /// One field, parsed.
    pub(crate) fn get<T>(&self, name: &str) -> Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let value = self
            .fields
            .get(name)
            .ok_or_else(|| format!("the child's result has no {name}"))?;
        Ok(value.parse()?)
    }
}
