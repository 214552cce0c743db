//! What must outlive a run: the report stores of `kind: reports` probes ([`reports`]) and the
//! daemon's state history ([`history`]).
//! [`ReportStores`] opens one per such probe for a config generation; the runner only asks it
//! for the store of the probe it runs.

pub mod history;
pub mod reports;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, ProbeSettings};
use reports::{Counters, ReportStore};

/// The report store of each `kind: reports` probe, or why it could not be opened (the probe
/// then reports that as UNKNOWN; the daemon keeps serving).
#[derive(Default)]
pub struct ReportStores(BTreeMap<String, Result<Arc<ReportStore>, String>>);

impl ReportStores {
    /// Opens the store of every `kind: reports` probe of `config`, logging those that fail.
    pub fn open(config: &Config) -> Self {
        let mut stores = BTreeMap::new();
        for p in &config.probes {
            if let ProbeSettings::Reports(r) = &p.settings {
                let opened = ReportStore::open(&r.store, r.keep_days)
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                if let Err(e) = &opened {
                    tracing::error!(probe = %p.name, "{e}");
                }
                stores.insert(p.name.clone(), opened);
            }
        }
        ReportStores(stores)
    }

    /// The store of probe `name`: `None` when it is not a `kind: reports` probe of this config.
    pub fn get(&self, name: &str) -> Option<&Result<Arc<ReportStore>, String>> {
        self.0.get(name)
    }

    /// The counters of every store that is open.
    pub fn counters(&self) -> Vec<(String, Counters)> {
        self.0
            .iter()
            .filter_map(|(p, s)| Some((p.clone(), s.as_ref().ok()?.counters())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reports_probe_gets_its_store_or_the_reason_it_has_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
        std::fs::write(
            dir.path().join("bad.sqlite"),
            "not a database, long enough to tell",
        )
        .unwrap();
        let probe = |name: &str, store: &str| {
            format!(
                "  - name: {name}\n    kind: reports\n    store: {store}\n    imap:\n      host: imap.example.net\n      username: reports@example.net\n      password_file: pw\n"
            )
        };
        let text = format!(
            "probes:\n{}{}  - name: d\n    kind: dnsbl\n    targets: [192.0.2.1]\n",
            probe("good", "good.sqlite"),
            probe("bad", "bad.sqlite")
        );
        let config =
            Config::from_str(&text, &dir.path().join("c.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let stores = ReportStores::open(&config);
        assert!(matches!(stores.get("good"), Some(Ok(_))));
        let bad = stores.get("bad").unwrap().as_ref().err().unwrap();
        assert!(bad.contains("bad.sqlite"), "{bad}");
        assert!(stores.get("d").is_none());
        let counted: Vec<_> = stores.counters().into_iter().map(|(p, _)| p).collect();
        assert_eq!(counted, ["good"]);
    }
}
