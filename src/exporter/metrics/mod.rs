//! Outcomes to `mailauth_*` series. The only place that names metrics: the common series
//! here, each kind's own series in its file (`dnsbl.rs`, ...). Encoded by prometheus-client
//! from a snapshot of state taken at scrape time (a [`Collector`], not long-lived gauges), so
//! series of removed probes and superseded label sets simply are not there any more.
//! prometheus-client writes OpenMetrics and appends the unit suffix itself: names here are
//! base names.

mod dns;
mod dnsbl;
mod reports;
mod roundtrip;
mod transport;

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::state::RunRecord;

/// The content type of what [`encode`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Daemon-wide facts for `/metrics` (absent from `/probe` answers).
#[derive(Debug, Clone)]
pub struct DaemonFacts {
    pub reload_successful: bool,
    pub last_reload_success: f64,
    /// The cumulative counters of every `kind: reports` probe's store.
    pub reports: Vec<(String, crate::store::reports::Counters)>,
}

#[derive(Debug)]
struct Snapshot {
    records: Vec<RunRecord>,
    daemon: Option<DaemonFacts>,
    /// `/metrics` serves the last scheduled run; `/probe` a live one. HELP says which.
    scheduled: bool,
}

/// Encodes `records` (and, for `/metrics`, the daemon facts) as OpenMetrics text.
pub fn encode(records: Vec<RunRecord>, daemon: Option<DaemonFacts>) -> String {
    let scheduled = daemon.is_some();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        records,
        daemon,
        scheduled,
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

type Labels = Vec<(&'static str, String)>;

/// Writes one gauge family; nothing when there are no rows.
pub(super) fn gauges(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    rows: Vec<(Labels, f64)>,
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Snapshot {
    fn help(&self, what: &str) -> String {
        if self.scheduled {
            format!("{what} (latest scheduled run).")
        } else {
            format!("{what} (this run).")
        }
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pt = |r: &RunRecord| -> Labels {
            vec![("probe", r.probe.clone()), ("target", r.target.clone())]
        };
        let recs = &self.records;
        gauges(
            &mut enc,
            "mailauth_probe_success",
            &self.help("1 when every finding of the run is OK or WARNING, else 0"),
            None,
            recs.iter()
                .map(|r| (pt(r), f64::from(u8::from(r.outcome.success()))))
                .collect(),
        )?;
        gauges(
            &mut enc,
            "mailauth_probe_duration",
            &self.help("How long the run took"),
            Some(Unit::Seconds),
            recs.iter()
                .map(|r| (pt(r), r.outcome.duration.as_secs_f64()))
                .collect(),
        )?;
        gauges(
            &mut enc,
            "mailauth_probe_last_run_timestamp",
            &self.help("When the run finished, in seconds since the Unix epoch"),
            Some(Unit::Seconds),
            recs.iter().map(|r| (pt(r), r.finished_at)).collect(),
        )?;
        gauges(
            &mut enc,
            "mailauth_probe_interval",
            &self.help("The probe's scheduled interval; its results are stale past twice this"),
            Some(Unit::Seconds),
            recs.iter()
                .filter_map(|r| Some((pt(r), r.interval_seconds?)))
                .collect(),
        )?;
        let mut status = Vec::new();
        for r in recs {
            // One series per check name; should a probe repeat a name, the worst state wins.
            let mut by_check: BTreeMap<&str, mailauth_probes::State> = BTreeMap::new();
            for f in &r.outcome.findings {
                let e = by_check.entry(f.check.as_str()).or_insert(f.state);
                *e = e.worst(f.state);
            }
            for (check, state) in by_check {
                let mut l = pt(r);
                l.push(("check", check.to_string()));
                status.push((l, f64::from(state.code())));
            }
        }
        gauges(
            &mut enc,
            "mailauth_check_status",
            &self.help("Every finding as a Nagios state: 0 ok, 1 warning, 2 critical, 3 unknown"),
            None,
            status,
        )?;
        dnsbl::encode(recs, &mut enc, self)?;
        dns::encode(recs, &mut enc, self)?;
        transport::encode(recs, &mut enc, self)?;
        roundtrip::encode(recs, &mut enc, self)?;
        // One family for every certificate seen, whichever kind saw it; the latest run wins.
        let mut certs: BTreeMap<(String, u16, String), (f64, i64)> = BTreeMap::new();
        for (t, p, s, na, at) in dns::cert_rows(recs)
            .into_iter()
            .chain(transport::cert_rows(recs))
        {
            let e = certs.entry((t, p, s)).or_insert((at, na));
            if at >= e.0 {
                *e = (at, na);
            }
        }
        gauges(
            &mut enc,
            "mailauth_tls_cert_not_after_timestamp",
            &self.help("Not-after of the certificate presented, in Unix seconds, reported whether or not it verifies"),
            Some(Unit::Seconds),
            certs
                .into_iter()
                .map(|((t, p, s), (_, na))| {
                    (vec![("target", t), ("port", p.to_string()), ("subject", s)], na as f64)
                })
                .collect(),
        )?;
        if let Some(d) = &self.daemon {
            reports::encode(&d.reports, &mut enc)?;
            gauges(
                &mut enc,
                "mailauth_config_last_reload_successful",
                "1 when the last config (re)load succeeded, 0 when it failed and the previous config is still in force.",
                None,
                vec![(vec![], f64::from(u8::from(d.reload_successful)))],
            )?;
            gauges(
                &mut enc,
                "mailauth_config_last_reload_success_timestamp",
                "When the config was last loaded successfully, in seconds since the Unix epoch.",
                Some(Unit::Seconds),
                vec![(vec![], d.last_reload_success)],
            )?;
            let mut info = enc.encode_descriptor(
                "mailauth_build",
                "Build information of mailauth-probe.",
                None,
                MetricType::Info,
            )?;
            let labels: Labels = vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("edition", "2024".to_string()),
            ];
            info.encode_info(&labels)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
