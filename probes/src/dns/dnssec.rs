//! DNSSEC of the domain's zone: is it signed, does it validate from the configured trust
//! anchor (default: the root), and when does the earliest signature on the records mail
//! depends on (DNSKEY, MX, TXT, TLSA) expire? Signatures that lapse are a classic silent
//! outage: validating receivers then SERVFAIL the whole domain.
//!
//! Anchors come as zone-file text with DNSKEY and/or DS records. hickory takes DNSKEYs only,
//! and a zone anchored by its KSK alone does not validate against an authoritative-only
//! server (it looks for the zone's own DS and loops), so a DS anchor is turned into the
//! zone's whole DNSKEY set, after the DS matches a key and that key's signature over the set
//! verifies.

use std::time::{SystemTime, UNIX_EPOCH};

use hickory_resolver::proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors, Verifier};
use hickory_resolver::proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

use super::{failure_state, failure_text};
use crate::resolver::{DnsFailure, Resolver};
use crate::{Finding, State};

/// What the DNSSEC checks found, for the report.
#[derive(Debug, Default)]
pub struct DnssecFacts {
    pub signed: Option<bool>,
    pub validated: Option<bool>,
    /// Unix seconds of the earliest RRSIG expiration seen.
    pub rrsig_expiry: Option<u64>,
}

pub async fn check(
    domain: &str,
    mx_hosts: &[String],
    anchor_text: Option<&str>,
    r: &Resolver,
) -> (Vec<Finding>, DnssecFacts) {
    let mut out = vec![];
    let mut facts = DnssecFacts::default();
    let zone = match zone_of(domain, r).await {
        Ok(z) => z,
        Err((zone, f)) => {
            out.push(Finding::new(
                "dnssec:signed",
                failure_state(&f),
                format!("NS of {zone}: {}", failure_text(&f)),
            ));
            return (out, facts);
        }
    };
    let Ok(zone_name) = Name::from_ascii(format!("{zone}.")) else {
        return (out, facts);
    };
    let dnskey_answer = match r
        .raw_records(zone_name.clone(), RecordType::DNSKEY, true)
        .await
    {
        Ok(v) => v,
        Err(f) if f.is_negative_answer() => {
            facts.signed = Some(false);
            out.push(Finding::new(
                "dnssec:signed",
                State::Ok,
                format!(
                    "zone {zone} is not signed (no DNSKEY): nothing to validate; DANE needs DNSSEC"
                ),
            ));
            return (out, facts);
        }
        Err(f) => {
            out.push(Finding::new(
                "dnssec:signed",
                failure_state(&f),
                format!("DNSKEY of {zone}: {}", failure_text(&f)),
            ));
            return (out, facts);
        }
    };
    facts.signed = Some(true);
    let keys: Vec<(Record, DNSKEY)> = dnskey_answer
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some((rec.clone(), k.clone())),
            _ => None,
        })
        .collect();
    let mut sigs: Vec<RRSIG> = rrsigs(&dnskey_answer);
    out.push(Finding::new(
        "dnssec:signed",
        State::Ok,
        format!("zone {zone} is signed ({} DNSKEY)", keys.len()),
    ));

    // Trust anchors.
    let anchors = match build_anchors(anchor_text, &zone_name, &keys, &sigs) {
        Ok(a) => a,
        Err(e) => {
            out.push(Finding::new(
                "dnssec:validation",
                State::Unknown,
                format!("trust anchor: {e}"),
            ));
            return (out, facts);
        }
    };
    match r.validating_twin(anchors) {
        Err(e) => out.push(Finding::new(
            "dnssec:validation",
            State::Unknown,
            e.to_string(),
        )),
        Ok(v) => {
            let (soa, mx) = futures::join!(
                v.proof(&zone, RecordType::SOA),
                v.proof(domain, RecordType::MX)
            );
            let worst = [soa, mx]
                .into_iter()
                .filter_map(|p| match p {
                    Ok(p) => Some(Ok(p)),
                    Err(f) if f.is_negative_answer() => None,
                    Err(f) => Some(Err(f)),
                })
                .collect::<Vec<_>>();
            let f = if let Some(Err(f)) = worst.iter().find(|p| p.is_err()) {
                Finding::new(
                    "dnssec:validation",
                    failure_state(f),
                    format!("validating {domain}: {}", failure_text(f)),
                )
            } else {
                let proof = worst
                    .iter()
                    .filter_map(|p| p.as_ref().ok())
                    .min()
                    .copied()
                    .unwrap_or(Proof::Indeterminate);
                facts.validated = Some(proof == Proof::Secure);
                match proof {
                    Proof::Secure => Finding::new(
                        "dnssec:validation",
                        State::Ok,
                        format!("{domain} validates (DNSSEC secure)"),
                    ),
                    Proof::Bogus => Finding::new(
                        "dnssec:validation",
                        State::Critical,
                        format!(
                            "DNSSEC validation of {domain} fails (bogus): validating resolvers answer SERVFAIL, mail to and SPF/DKIM of the domain break"
                        ),
                    ),
                    Proof::Insecure => Finding::new(
                        "dnssec:validation",
                        State::Warning,
                        format!(
                            "{zone} is signed but has no chain of trust from the anchor (is its DS published at the parent?)"
                        ),
                    ),
                    Proof::Indeterminate => Finding::new(
                        "dnssec:validation",
                        State::Unknown,
                        format!("DNSSEC status of {domain} could not be determined"),
                    ),
                }
            };
            out.push(f);
        }
    }

    // Signature lifetimes on what mail depends on.
    let mut names: Vec<(String, RecordType)> = vec![
        (domain.to_string(), RecordType::MX),
        (domain.to_string(), RecordType::TXT),
    ];
    for mx in mx_hosts {
        if mx == &zone || mx.ends_with(&format!(".{zone}")) {
            names.push((format!("_25._tcp.{mx}"), RecordType::TLSA));
        }
    }
    let answers = futures::future::join_all(names.iter().map(|(n, t)| async move {
        match Name::from_ascii(format!("{n}.")) {
            Ok(name) => r.raw_records(name, *t, true).await.unwrap_or_default(),
            Err(_) => vec![],
        }
    }))
    .await;
    for a in &answers {
        sigs.extend(rrsigs(a));
    }
    let earliest = sigs
        .iter()
        .map(|s| {
            (
                u64::from(s.input().sig_expiration.get()),
                s.input().type_covered,
            )
        })
        .min_by_key(|(t, _)| *t);
    if let Some((exp, covered)) = earliest {
        facts.rrsig_expiry = Some(exp);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let left = exp as i64 - now as i64;
        let days = left as f64 / 86400.0;
        let (state, what) = if left <= 0 {
            (
                State::Critical,
                format!(
                    "the {covered} signature of {zone} EXPIRED {:.1} days ago: validating resolvers answer SERVFAIL",
                    -days
                ),
            )
        } else if days < 1.0 {
            (
                State::Critical,
                format!(
                    "the earliest signature ({covered}) expires in {:.1} hours: is the signer re-signing?",
                    left as f64 / 3600.0
                ),
            )
        } else if days < 3.0 {
            (
                State::Warning,
                format!(
                    "the earliest signature ({covered}) expires in {days:.1} days: is the signer re-signing?"
                ),
            )
        } else {
            (
                State::Ok,
                format!("the earliest signature ({covered}) expires in {days:.1} days"),
            )
        };
        out.push(Finding::new("dnssec:rrsig", state, what));
    }
    (out, facts)
}

/// A resolver validating `name`'s zone from `anchor_text` (DS/DNSKEY zone-file text; `None`:
/// the root), for lookups whose proof matters (TLSA for DANE).
pub async fn validating_for(
    name: &str,
    anchor_text: Option<&str>,
    r: &Resolver,
) -> Result<Resolver, String> {
    let zone = zone_of(name, r)
        .await
        .map_err(|(zone, f)| format!("NS of {zone}: {f}"))?;
    let zone_name = Name::from_ascii(format!("{zone}.")).map_err(|e| e.to_string())?;
    let answer = r
        .raw_records(zone_name.clone(), RecordType::DNSKEY, true)
        .await
        .unwrap_or_default();
    let keys: Vec<(Record, DNSKEY)> = answer
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some((rec.clone(), k.clone())),
            _ => None,
        })
        .collect();
    let anchors = build_anchors(anchor_text, &zone_name, &keys, &rrsigs(&answer))?;
    r.validating_twin(anchors).map_err(|e| e.to_string())
}

/// The zone holding `name`: the closest enclosing name with NS records, a zone's apex (asked
/// as the nameserver check asks, so within a run the answers serve both). On failure, the
/// name being asked and why.
async fn zone_of(name: &str, r: &Resolver) -> Result<String, (String, DnsFailure)> {
    let mut zone = name.trim_end_matches('.').to_ascii_lowercase();
    loop {
        match r.ns(&zone).await {
            Ok(_) => return Ok(zone),
            Err(DnsFailure::NoData | DnsFailure::NxDomain) if zone.matches('.').count() > 1 => {
                zone = zone
                    .split_once('.')
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_default();
            }
            Err(f) => return Err((zone, f)),
        }
    }
}

fn rrsigs(records: &[Record]) -> Vec<RRSIG> {
    records
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Anchors from zone-file text: DNSKEY lines as they are; DS lines for `zone` turned into the
/// zone's DNSKEY set (see the module doc). Without text: the root's keys.
fn build_anchors(
    text: Option<&str>,
    zone: &Name,
    keys: &[(Record, DNSKEY)],
    sigs: &[RRSIG],
) -> Result<TrustAnchors, String> {
    let Some(text) = text else {
        return Ok(TrustAnchors::default());
    };
    let zone_lower = LowerName::from(zone);
    let mut ds_for_zone = vec![];
    let mut dnskey_lines = String::new();
    let mut dnskey_for_zone = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(tpos) = tokens
            .iter()
            .position(|t| t.eq_ignore_ascii_case("DS") || t.eq_ignore_ascii_case("DNSKEY"))
        else {
            return Err(format!("line {}: not a DS or DNSKEY record", i + 1));
        };
        if tokens[tpos].eq_ignore_ascii_case("DNSKEY") {
            // hickory's own anchor parser reads DNSKEY lines (owner, TTL, class, type, data).
            if Name::from_ascii(tokens[0]).is_ok_and(|o| LowerName::from(&o) == zone_lower) {
                dnskey_for_zone = true;
            }
            dnskey_lines.push_str(line);
            dnskey_lines.push('\n');
            continue;
        }
        let owner = Name::from_ascii(tokens[0]).map_err(|e| format!("line {}: {e}", i + 1))?;
        let rdata = tokens[tpos + 1..].join(" ");
        match RData::try_from_str(RecordType::DS, &rdata)
            .map_err(|e| format!("line {}: {e}", i + 1))?
        {
            RData::DNSSEC(DNSSECRData::DS(ds)) => {
                if LowerName::from(&owner) == zone_lower {
                    ds_for_zone.push(ds);
                }
            }
            _ => return Err(format!("line {}: not a DS record", i + 1)),
        }
    }
    let mut anchors = if dnskey_lines.is_empty() {
        TrustAnchors::empty()
    } else {
        dnskey_lines
            .parse::<TrustAnchors>()
            .map_err(|e| format!("DNSKEY anchors: {e}"))?
    };
    if dnskey_for_zone
        && !keys
            .iter()
            .any(|(_, k)| anchors.contains_with_name(k.public_key(), &zone_lower))
    {
        return Err(format!(
            "no DNSKEY of {zone} matches the DNSKEY anchor (key rolled over, or a wrong anchor)"
        ));
    }
    // The root's keys stay trusted beside the configured ones.
    let roots = TrustAnchors::default();
    let mut i = 0;
    while let Some(k) = roots.get(i) {
        anchors.insert(k);
        i += 1;
    }
    if !ds_for_zone.is_empty() {
        let ksk = keys.iter().find(|(_, k)| {
            ds_for_zone
                .iter()
                .any(|ds: &DS| ds.covers(zone, k).unwrap_or(false))
        });
        let Some((_, ksk)) = ksk else {
            return Err(format!(
                "no DNSKEY of {zone} matches the DS anchor (key rolled over, or a wrong anchor)"
            ));
        };
        let records: Vec<Record> = keys.iter().map(|(r, _)| r.clone()).collect();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let verified = sigs.iter().any(|s| {
            s.input().type_covered == RecordType::DNSKEY
                && u64::from(s.input().sig_inception.get()) <= now
                && u64::from(s.input().sig_expiration.get()) > now
                && ksk
                    .verify_rrsig(zone, DNSClass::IN, s, records.iter())
                    .is_ok()
        });
        if !verified {
            return Err(format!(
                "the DNSKEY set of {zone} is not validly signed by the anchored key"
            ));
        }
        for (_, k) in keys {
            anchors.insert_with_name(k.public_key(), zone_lower.clone());
        }
    }
    Ok(anchors)
}
