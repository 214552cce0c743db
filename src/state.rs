//! The latest result of every scheduled (probe, target), what `/metrics`, `/` and
//! `check_mailauth --daemon` read. Results of a config generation that a reload replaced are
//! not recorded, and the series of probes a reload removed disappear with their entries.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use mailauth_probes::Outcome;
use serde::{Deserialize, Serialize};

/// One finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub probe: String,
    pub kind: String,
    pub target: String,
    /// Seconds since the Unix epoch when the run finished.
    pub finished_at: f64,
    pub outcome: Arc<Outcome>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    results: BTreeMap<(String, String), RunRecord>,
    reload_successful: bool,
    last_reload_success: f64,
}

/// Shared state of the daemon.
#[derive(Debug)]
pub struct Store {
    inner: RwLock<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            inner: RwLock::new(Inner {
                reload_successful: true,
                last_reload_success: now(),
                ..Inner::default()
            }),
        }
    }
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Store {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a run of `generation`; a run of a replaced generation is dropped.
    pub fn record(&self, generation: u64, record: RunRecord) {
        let mut inner = self.write();
        if inner.generation == generation {
            inner
                .results
                .insert((record.probe.clone(), record.target.clone()), record);
        }
    }

    /// A new config generation: keeps only results of (probe, target) pairs it still has, with
    /// an unchanged kind.
    pub fn begin_generation(&self, generation: u64, keep: &[(String, String, String)]) {
        let mut inner = self.write();
        inner.generation = generation;
        inner.results.retain(|(p, t), r| {
            keep.iter()
                .any(|(kp, kt, kk)| kp == p && kt == t && *kk == r.kind)
        });
        inner.reload_successful = true;
        inner.last_reload_success = now();
    }

    pub fn reload_failed(&self) {
        self.write().reload_successful = false;
    }

    pub fn reload_status(&self) -> (bool, f64) {
        let i = self.read();
        (i.reload_successful, i.last_reload_success)
    }

    /// A copy of every latest result, ordered by probe then target.
    pub fn snapshot(&self) -> Vec<RunRecord> {
        self.read().results.values().cloned().collect()
    }
}
