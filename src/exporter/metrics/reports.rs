//! `kind: reports` series: cumulative counters from each probe's report store (kept across
//! restarts, each report counted once). Labels are the reporter's organization, the domains
//! and result words of the reports: never a source IP or a report id.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Unit;

use super::{Labels, gauges};
use crate::store::reports::Counters;

fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(Labels, u64)>,
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn rows(all: &[(String, Counters)], family: &str, names: &[&'static str]) -> Vec<(Labels, u64)> {
    let mut out = vec![];
    for (probe, c) in all {
        for (labels, v) in c.family(family) {
            let mut l: Labels = vec![("probe", probe.clone())];
            l.extend(names.iter().copied().zip(labels.iter().cloned()));
            out.push((l, v));
        }
    }
    out
}

pub(super) fn encode(
    all: &[(String, Counters)],
    enc: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    counters(
        enc,
        "mailauth_dmarc_report_messages",
        "Messages counted in DMARC aggregate reports, by reporter, header-from domain, disposition applied, and the DMARC-evaluated DKIM and SPF results (aligned and passing: pass).",
        rows(
            all,
            "dmarc_messages",
            &["reporter", "domain", "disposition", "dkim", "spf"],
        ),
    )?;
    counters(
        enc,
        "mailauth_dmarc_reports",
        "DMARC aggregate reports counted, by reporter (each reporter's report id once).",
        rows(all, "dmarc_reports", &["reporter"]),
    )?;
    counters(
        enc,
        "mailauth_tlsrpt_sessions",
        "TLS sessions in TLS-RPT reports, by reporter, policy domain and result (success, or the failure result type such as starttls-not-supported).",
        rows(
            all,
            "tlsrpt_sessions",
            &["reporter", "policy_domain", "result"],
        ),
    )?;
    counters(
        enc,
        "mailauth_reports_invalid_messages",
        "Messages of the report mailbox that held no usable report and were moved to the invalid folder.",
        rows(all, "invalid", &[]),
    )?;
    gauges(
        enc,
        "mailauth_reports_last_ingest_timestamp",
        "When a report was last counted (Unix seconds).",
        Some(Unit::Seconds),
        all.iter()
            .filter_map(|(p, c)| Some((vec![("probe", p.clone())], c.last_ingest?)))
            .collect(),
    )
}
