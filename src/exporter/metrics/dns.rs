//! `kind: dns` series: SPF lookup counts, the DMARC policy, DKIM key sizes, and the health of
//! every authoritative nameserver address.

use mailauth_probes::Report;
use prometheus_client::encoding::DescriptorEncoder;

use super::{Labels, Snapshot, gauges};
use crate::state::RunRecord;

/// (target, port, subject, not_after, finished_at) of every MTA-STS policy host's certificate.
pub(super) fn cert_rows(records: &[RunRecord]) -> Vec<(String, u16, String, i64, f64)> {
    records
        .iter()
        .filter_map(|r| match &r.outcome.report {
            Report::Dns(d) => d.mta_sts_cert.as_ref().map(|c| {
                (
                    format!("mta-sts.{}", d.domain),
                    443,
                    c.subject.clone(),
                    c.not_after,
                    r.finished_at,
                )
            }),
            _ => None,
        })
        .collect()
}

pub(super) fn encode(
    records: &[RunRecord],
    enc: &mut DescriptorEncoder,
    snap: &Snapshot,
) -> Result<(), std::fmt::Error> {
    let reports: Vec<(&RunRecord, &mailauth_probes::dns::DnsReport)> = records
        .iter()
        .filter_map(|r| match &r.outcome.report {
            Report::Dns(d) => Some((r, d.as_ref())),
            _ => None,
        })
        .collect();
    let base = |r: &RunRecord, d: &mailauth_probes::dns::DnsReport| -> Labels {
        vec![("probe", r.probe.clone()), ("domain", d.domain.clone())]
    };
    gauges(
        enc,
        "mailauth_dns_spf_lookups",
        &snap.help("DNS-querying SPF terms across includes and redirects; receivers answer permerror above 10"),
        None,
        reports
            .iter()
            .filter_map(|(r, d)| d.spf_lookups.map(|n| (base(r, d), f64::from(n))))
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_dns_spf_void_lookups",
        &snap.help("SPF lookups of names that do not exist; receivers answer permerror above 2"),
        None,
        reports
            .iter()
            .filter_map(|(r, d)| d.spf_void_lookups.map(|n| (base(r, d), f64::from(n))))
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_dmarc_policy",
        &snap.help("1 for the DMARC policy in force (policy: none, quarantine, reject)"),
        None,
        reports
            .iter()
            .filter_map(|(r, d)| {
                d.dmarc_policy.as_ref().map(|p| {
                    let mut l = base(r, d);
                    l.push(("policy", p.clone()));
                    (l, 1.0)
                })
            })
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_dkim_key_bits",
        &snap.help(
            "Size of each configured selector's DKIM key (RSA modulus bits; 256 for ed25519)",
        ),
        None,
        reports
            .iter()
            .flat_map(|(r, d)| {
                d.dkim_key_bits.iter().map(move |(sel, bits)| {
                    let mut l = base(r, d);
                    l.push(("selector", sel.clone()));
                    (l, f64::from(*bits))
                })
            })
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_dnssec_rrsig_expiry_timestamp",
        &snap.help("When the earliest RRSIG on the zone's DNSKEY or the domain's MX, TXT or TLSA records expires, in Unix seconds (absent for unsigned zones)"),
        Some(prometheus_client::registry::Unit::Seconds),
        reports
            .iter()
            .filter_map(|(r, d)| d.rrsig_expiry.map(|t| (base(r, d), t as f64)))
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_dnssec_validated",
        &snap.help("1 when the domain validates from the trust anchor (DNSSEC secure), 0 when it does not; absent for unsigned zones"),
        None,
        reports
            .iter()
            .filter_map(|(r, d)| d.dnssec_validated.map(|v| (base(r, d), f64::from(u8::from(v)))))
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_mta_sts_mode",
        &snap.help("1 for the mode of the MTA-STS policy fetched (mode: enforce, testing, none); absent when no policy could be fetched"),
        None,
        reports
            .iter()
            .filter_map(|(r, d)| {
                d.mta_sts_mode.as_ref().map(|m| {
                    let mut l = base(r, d);
                    l.push(("mode", m.clone()));
                    (l, 1.0)
                })
            })
            .collect(),
    )?;
    gauges(
        enc,
        "mailauth_dns_nameserver_up",
        &snap.help("1 when the authoritative nameserver address answers for the domain's zone, 0 when it times out, fails or is lame"),
        None,
        reports
            .iter()
            .flat_map(|(r, d)| {
                d.nameservers.iter().map(move |ns| {
                    let mut l = base(r, d);
                    l.push(("nameserver", ns.name.clone()));
                    l.push(("address", ns.address.to_string()));
                    (l, f64::from(u8::from(ns.up)))
                })
            })
            .collect(),
    )
}
