//! The latest result of every scheduled (probe, target), what `/metrics`, `/` and
//! `check_mailauth --daemon` read. Results of a config generation that a reload replaced are
//! not recorded, and the series of probes a reload removed disappear with their entries.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use mailauth_probes::roundtrip::Placement;
use mailauth_probes::{Outcome, State};
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
    /// What accumulates across scheduled runs (round-trip latency histogram, last success);
    /// `None` for one-off runs, whose metrics then describe that run alone.
    #[serde(default)]
    pub history: Option<Arc<RoundtripHistory>>,
}

/// Upper bounds (seconds) of the round-trip latency histogram's buckets.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Per seed mailbox, accumulated over a probe's scheduled runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MailboxHistory {
    /// Observations per bucket of [`LATENCY_BUCKETS`], then one for +Inf (not cumulative).
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    /// When a run last delivered to this mailbox with every finding about it OK or WARNING.
    pub last_success: Option<f64>,
}

/// The round-trip facts that outlive one run, by mailbox name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundtripHistory {
    pub mailboxes: BTreeMap<String, MailboxHistory>,
}

impl RoundtripHistory {
    /// `prev` with the run `outcome` (finished at `finished_at`) added; `None` when the
    /// outcome is not a round trip's.
    pub fn after(
        prev: Option<&RoundtripHistory>,
        outcome: &Outcome,
        finished_at: f64,
    ) -> Option<Self> {
        let mailauth_probes::Report::Roundtrip(report) = &outcome.report else {
            return None;
        };
        let mut next = prev.cloned().unwrap_or_default();
        // Mailboxes no longer configured disappear with their series.
        next.mailboxes
            .retain(|name, _| report.mailboxes.iter().any(|m| &m.name == name));
        let send_ok = outcome
            .findings
            .iter()
            .filter(|f| f.check == "send" || f.check.starts_with("send:"))
            .all(|f| matches!(f.state, State::Ok | State::Warning));
        for m in &report.mailboxes {
            let h = next.mailboxes.entry(m.name.clone()).or_default();
            h.buckets.resize(LATENCY_BUCKETS.len() + 1, 0);
            if let Some(l) = m.latency_seconds {
                let i = LATENCY_BUCKETS
                    .iter()
                    .position(|b| l <= *b)
                    .unwrap_or(LATENCY_BUCKETS.len());
                h.buckets[i] += 1;
                h.sum += l;
                h.count += 1;
            }
            let suffix = format!(":{}", m.name);
            let mine_ok = outcome
                .findings
                .iter()
                .filter(|f| f.check.ends_with(&suffix))
                .all(|f| matches!(f.state, State::Ok | State::Warning));
            let delivered = matches!(m.placement, Some(Placement::Inbox) | Some(Placement::Junk));
            if send_ok && mine_ok && delivered {
                h.last_success = Some(finished_at);
            }
        }
        Some(next)
    }
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
            let mut record = record;
            let key = (record.probe.clone(), record.target.clone());
            let previous = inner.results.get(&key);
            let prev = previous.and_then(|r| r.history.as_deref());
            record.history =
                RoundtripHistory::after(prev, &record.outcome, record.finished_at).map(Arc::new);
            inner.results.insert(key, record);
        }
    }

    /// The latest outcome of `probe` on `target`, which the scheduler hands to the next run
    /// (checks that compare runs, such as the dns probe's `mta-sts:id`, read it).
    pub fn latest(&self, probe: &str, target: &str) -> Option<Arc<Outcome>> {
        self.read()
            .results
            .get(&(probe.to_string(), target.to_string()))
            .map(|r| r.outcome.clone())
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

#[cfg(test)]
mod tests {
    use super::*;
    use mailauth_probes::Report;
    use mailauth_probes::dns::DnsReport;

    fn dns_run(at: f64, id: &str, policy: &str) -> RunRecord {
        let report = DnsReport {
            domain: "lab.test".into(),
            mta_sts_id: Some(id.into()),
            mta_sts_policy: Some(policy.into()),
            ..DnsReport::default()
        };
        RunRecord {
            probe: "d".into(),
            kind: "dns".into(),
            target: "lab.test".into(),
            finished_at: at,
            outcome: Arc::new(Outcome::new(vec![], Report::Dns(Box::new(report)))),
            history: None,
        }
    }

    /// The daemon's side of `mta-sts:id`: the scheduler hands the store's latest outcome to
    /// the next run, and the dns probe compares (`dns::with_previous`, unit-tested there).
    fn notes(store: &Store, next: &RunRecord) -> Vec<(State, String)> {
        let mailauth_probes::Report::Dns(next) = &next.outcome.report else {
            unreachable!()
        };
        let previous = store.latest("d", "lab.test");
        mailauth_probes::dns::with_previous(previous.as_deref(), next)
            .into_iter()
            .map(|f| (f.state, f.summary))
            .collect()
    }

    #[test]
    fn mta_sts_id_changes_are_noted_and_a_policy_changed_under_the_same_id_warned() {
        let store = Store::default();
        store.begin_generation(1, &[("d".into(), "lab.test".into(), "dns".into())]);
        let runs = [
            dns_run(1.0, "a1", "mode enforce"),
            dns_run(2.0, "a1", "mode enforce"),
            dns_run(3.0, "b2", "mode testing"),
            dns_run(4.0, "b2", "mode enforce"),
        ];
        let mut seen = vec![];
        for run in runs {
            seen.push(notes(&store, &run));
            store.record(1, run);
        }
        assert!(seen[0].is_empty(), "nothing to compare with yet");
        assert!(seen[1].is_empty());
        assert_eq!(seen[2].len(), 1);
        assert_eq!(seen[2][0].0, State::Ok);
        assert!(seen[2][0].1.contains("from a1 to b2"), "{}", seen[2][0].1);
        assert_eq!(seen[3][0].0, State::Warning);
        assert!(seen[3][0].1.contains("did not"), "{}", seen[3][0].1);
        assert!(store.latest("d", "other.test").is_none());
    }
}
