//! `kind: transport` series: STARTTLS offered, strippable, certificate verification, and the
//! certificate rows of `mailauth_tls_cert_not_after_timestamp_seconds` (one family, shared
//! with the dns kind's MTA-STS host; see [`super::cert_rows`]).

use std::collections::BTreeMap;

use mailauth_probes::Report;
use prometheus_client::encoding::DescriptorEncoder;

use super::{Labels, Snapshot, gauges};
use crate::state::RunRecord;

fn reports(
    records: &[RunRecord],
) -> Vec<(&RunRecord, &mailauth_probes::transport::TransportReport)> {
    records
        .iter()
        .filter_map(|r| match &r.outcome.report {
            Report::Transport(t) => Some((r, t.as_ref())),
            _ => None,
        })
        .collect()
}

/// (target, port, subject, not_after, finished_at) of every certificate seen.
pub(super) fn cert_rows(records: &[RunRecord]) -> Vec<(String, u16, String, i64, f64)> {
    let mut v = vec![];
    for (r, t) in reports(records) {
        for e in &t.endpoints {
            if let Some(c) = e.tls.as_ref().and_then(|t| t.leaf.as_ref()) {
                v.push((
                    e.host.clone(),
                    e.port,
                    c.subject.clone(),
                    c.not_after,
                    r.finished_at,
                ));
            }
        }
    }
    v
}

pub(super) fn encode(
    records: &[RunRecord],
    enc: &mut DescriptorEncoder,
    snap: &Snapshot,
) -> Result<(), std::fmt::Error> {
    // Per (host, port): STARTTLS offered on every address; the certificate verifies on all.
    let mut offered: BTreeMap<(String, u16), (f64, bool)> = BTreeMap::new();
    let mut verified: BTreeMap<(String, u16), (f64, bool)> = BTreeMap::new();
    // Per MX host: the latest run's answer; `None` (no series) when it was undecided.
    let mut strippable: BTreeMap<String, (f64, Option<bool>)> = BTreeMap::new();
    for (r, t) in reports(records) {
        for e in &t.endpoints {
            let key = (e.host.clone(), e.port);
            if let Some(o) = e.starttls_offered {
                merge(&mut offered, key.clone(), r.finished_at, o);
            }
            if let Some(tls) = &e.tls {
                merge(&mut verified, key, r.finished_at, tls.verified.is_ok());
            }
        }
        for p in &t.protection {
            let entry = strippable
                .entry(p.host.clone())
                .or_insert((r.finished_at, None));
            if r.finished_at >= entry.0 {
                *entry = (r.finished_at, p.strippable());
            }
        }
    }
    let rows = |m: BTreeMap<(String, u16), (f64, bool)>| -> Vec<(Labels, f64)> {
        m.into_iter()
            .map(|((h, p), (_, v))| {
                (
                    vec![("target", h), ("port", p.to_string())],
                    f64::from(u8::from(v)),
                )
            })
            .collect()
    };
    gauges(
        enc,
        "mailauth_tls_starttls_offered",
        &snap.help("1 when every address of the host advertised STARTTLS, 0 when one did not (disabled or stripped)"),
        None,
        rows(offered),
    )?;
    gauges(
        enc,
        "mailauth_tls_cert_verified",
        &snap.help("1 when the certificate verifies for the host name on every address (trusted CA, valid dates, right name), else 0"),
        None,
        rows(verified),
    )?;
    gauges(
        enc,
        "mailauth_tls_strippable",
        &snap.help("1 when neither DANE nor an enforced MTA-STS policy stops senders from falling back to plaintext for this MX, 0 when one does; absent when undecided (MTA-STS announced but its policy could not be fetched)"),
        None,
        strippable
            .into_iter()
            .filter_map(|(h, (_, s))| Some((vec![("target", h)], f64::from(u8::from(s?)))))
            .collect(),
    )
}

fn merge(m: &mut BTreeMap<(String, u16), (f64, bool)>, key: (String, u16), at: f64, v: bool) {
    match m.get_mut(&key) {
        // The same run: all addresses must agree; a newer run replaces an older one.
        Some((t, old)) if *t == at => *old &= v,
        Some((t, _)) if *t > at => {}
        _ => {
            m.insert(key, (at, v));
        }
    }
}
