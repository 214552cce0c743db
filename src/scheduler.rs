//! When probes run. Every (probe, target) pair gets its own task that runs on the probe's
//! interval, shifted by random jitter so a thousand targets do not fire in the same second.
//! Runs are bounded by their deadline (in the runner) and a global concurrency limit; a slow
//! or hanging probe only ever occupies its own task, so it never delays another's schedule.
//!
//! Two tokens stop the tasks: the generation's `stop` (a reload replaced the config: stop at
//! once, in-flight runs are dropped) and the process' `shutdown` (SIGTERM: start no new run,
//! let in-flight runs finish; the daemon waits for them up to the drain bound).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Probe};
use crate::runner::Runtime;
use crate::state::{RunRecord, Store, now};

/// One loaded config and what its runs share.
pub struct Generation {
    pub number: u64,
    pub config: Arc<Config>,
    pub runtime: Arc<Runtime>,
    /// Cancelled when a reload replaces this generation.
    pub stop: CancellationToken,
}

/// Starts one task per (probe, target) of `generation` on `tracker`.
pub fn start(
    generation: &Arc<Generation>,
    store: &Arc<Store>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) {
    for (index, probe) in generation.config.probes.iter().enumerate() {
        for target in &probe.targets {
            let job = Job {
                generation: generation.clone(),
                probe: index,
                target: target.clone(),
                store: store.clone(),
                shutdown: shutdown.clone(),
            };
            tracker.spawn(job.run());
        }
    }
}

struct Job {
    generation: Arc<Generation>,
    /// Index into the generation's `config.probes`: a task per target must not copy the
    /// probe (and its list of every target) with it.
    probe: usize,
    target: String,
    store: Arc<Store>,
    shutdown: CancellationToken,
}

impl Job {
    fn probe(&self) -> &Probe {
        &self.generation.config.probes[self.probe]
    }

    async fn run(self) {
        let jitter = self.generation.config.global.jitter;
        // The first run comes soon (within a second, spread out), so a fresh daemon has
        // results quickly; later runs follow the interval.
        let mut next = Instant::now() + spread(Duration::from_secs(1), 1.0);
        loop {
            tokio::select! {
                _ = self.generation.stop.cancelled() => return,
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            let previous = self.store.latest(&self.probe().name, &self.target);
            let outcome = tokio::select! {
                _ = self.generation.stop.cancelled() => return,
                o = self.generation.runtime.run_after(self.probe(), &self.target, None, previous) => o,
            };
            tracing::debug!(
                probe = %self.probe().name,
                target = %self.target,
                state = %outcome.state(),
                duration_ms = outcome.duration.as_millis() as u64,
                "run finished"
            );
            self.store.record(
                self.generation.number,
                RunRecord {
                    probe: self.probe().name.clone(),
                    kind: self.probe().settings.kind().to_string(),
                    target: self.target.clone(),
                    finished_at: now(),
                    outcome: Arc::new(outcome),
                    history: None,
                },
            );
            // Next run one interval after this one started, shifted by ±jitter.
            let interval = self.probe().interval;
            let shift = spread(interval, jitter * 2.0);
            next = (started + interval + shift)
                .checked_sub(interval.mul_f64(jitter))
                .unwrap_or(started + interval);
            if next <= Instant::now() {
                next = Instant::now();
            }
        }
    }
}

/// A random duration in `[0, base * fraction]`.
fn spread(base: Duration, fraction: f64) -> Duration {
    if fraction <= 0.0 {
        return Duration::ZERO;
    }
    base.mul_f64(rand::rng().random_range(0.0..=fraction))
}

/// Every (probe, target, kind) of a config, for keeping state across a reload.
pub fn keys(config: &Config) -> Vec<(String, String, String)> {
    config
        .probes
        .iter()
        .flat_map(|p| {
            p.targets
                .iter()
                .map(move |t| (p.name.clone(), t.clone(), p.settings.kind().to_string()))
        })
        .collect()
}
