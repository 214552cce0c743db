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
use crate::resolver::{DnsFailure, Resolver, weakest};
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
                // A validating upstream answers SERVFAIL both for a bogus zone and for one
                // whose chain it cannot fetch: the chain, asked with CD, tells which.
                let gap = match f {
                    DnsFailure::ServFail | DnsFailure::Timeout | DnsFailure::Other(_) => {
                        chain_gap(&zone, anchor_text, r).await
                    }
                    _ => None,
                };
                match gap {
                    Some(why) => cannot_validate(domain, &why),
                    None => Finding::new(
                        "dnssec:validation",
                        failure_state(f),
                        format!("validating {domain}: {}", failure_text(f)),
                    ),
                }
            } else {
                let proof = weakest(worst.iter().filter_map(|p| p.as_ref().ok().copied()))
                    .unwrap_or(Proof::Indeterminate);
                // hickory calls a chain it could not fetch (a parent unreachable, SERVFAIL
                // from our resolver for a DS or DNSKEY) bogus too: ask for the chain ourselves.
                let gap = if proof == Proof::Bogus {
                    chain_gap(&zone, anchor_text, r).await
                } else {
                    None
                };
                let (f, validated) = verdict(domain, &zone, proof, gap);
                facts.validated = validated;
                f
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

/// The `dnssec:validation` finding for the weakest proof of the domain's answers, and
/// whether it validated (`None` when undecided). `gap`: why the chain of trust could not be
/// fetched, when it could not ([`chain_gap`]): a Bogus proof is then ours to doubt, not the
/// zone's fault.
fn verdict(domain: &str, zone: &str, proof: Proof, gap: Option<String>) -> (Finding, Option<bool>) {
    match (proof, gap) {
        (Proof::Bogus, Some(why)) => (cannot_validate(domain, &why), None),
        (Proof::Secure, _) => (
            Finding::new(
                "dnssec:validation",
                State::Ok,
                format!("{domain} validates (DNSSEC secure)"),
            ),
            Some(true),
        ),
        (Proof::Bogus, None) => (
            Finding::new(
                "dnssec:validation",
                State::Critical,
                format!(
                    "DNSSEC validation of {domain} fails (bogus): validating resolvers answer SERVFAIL, mail to and SPF/DKIM of the domain break"
                ),
            ),
            Some(false),
        ),
        (Proof::Insecure, _) => (
            Finding::new(
                "dnssec:validation",
                State::Warning,
                format!(
                    "{zone} is signed but has no chain of trust from the anchor (is its DS published at the parent?)"
                ),
            ),
            Some(false),
        ),
        (Proof::Indeterminate, _) => (
            Finding::new(
                "dnssec:validation",
                State::Unknown,
                format!("DNSSEC status of {domain} could not be determined"),
            ),
            None,
        ),
    }
}

fn cannot_validate(domain: &str, why: &str) -> Finding {
    Finding::new(
        "dnssec:validation",
        State::Unknown,
        format!("could not validate {domain}: {why}"),
    )
}

/// Why the chain of trust from `zone` up to its anchor (a zone named in `anchor_text`, or
/// the root) cannot be fetched through our resolver, if it cannot: the first DNSKEY or DS
/// set on the way that our resolver does not give us (asked with CD, so a validating
/// upstream hands over even what does not validate). A negative answer is an answer (no DS:
/// an insecure delegation), not a gap.
async fn chain_gap(zone: &str, anchor_text: Option<&str>, r: &Resolver) -> Option<String> {
    let anchors: Vec<String> = anchor_text
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split(';').next()?.split_whitespace().next())
        .map(|owner| owner.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let mut at = zone.trim_end_matches('.').to_ascii_lowercase();
    loop {
        let name = Name::from_ascii(format!("{at}.")).ok()?;
        let shown = if at.is_empty() {
            "the root"
        } else {
            at.as_str()
        };
        let top = at.is_empty() || anchors.contains(&at);
        let mut sets = vec![RecordType::DNSKEY];
        if !top {
            sets.push(RecordType::DS);
        }
        for t in sets {
            match r.raw_records(name.clone(), t, true).await {
                Err(f) if !f.is_negative_answer() => {
                    return Some(format!(
                        "our resolver could not fetch the {t} set of {shown} ({f}): the chain of trust cannot be built, so the zone is not known to be bogus"
                    ));
                }
                _ => {}
            }
        }
        if top {
            return None;
        }
        at = at
            .split_once('.')
            .map(|(_, p)| p.to_string())
            .unwrap_or_default();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
    use std::net::SocketAddr;
    use std::time::Duration;

    #[test]
    fn bogus_is_critical_whatever_else_is_undecided() {
        let proof = weakest([Proof::Secure, Proof::Indeterminate, Proof::Bogus]).unwrap();
        let (f, validated) = verdict("example.test", "example.test", proof, None);
        assert_eq!(
            (f.state, validated),
            (State::Critical, Some(false)),
            "{f:?}"
        );
        assert!(f.summary.contains("bogus"));
        let proof = weakest([Proof::Secure, Proof::Indeterminate]).unwrap();
        let (f, validated) = verdict("example.test", "example.test", proof, None);
        assert_eq!((f.state, validated), (State::Unknown, None));
        // A chain we could not fetch: we cannot call the zone bogus.
        let gap = Some("our resolver could not fetch the DS set of example.test".into());
        let (f, validated) = verdict("example.test", "example.test", Proof::Bogus, gap);
        assert_eq!((f.state, validated), (State::Unknown, None));
        assert!(
            f.summary
                .starts_with("could not validate example.test: our resolver could not fetch")
        );
    }

    /// A DNS server on loopback: silent for DS questions about `silent_ds`, NODATA
    /// (authoritative, with no records) for everything else.
    async fn chain_server(silent_ds: &'static str) -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let q = Message::from_vec(&buf[..n]).unwrap();
                let query = &q.queries[0];
                if query.query_type() == RecordType::DS && query.name().to_ascii() == silent_ds {
                    continue;
                }
                let mut reply = q.clone();
                reply.metadata.message_type = MessageType::Response;
                reply.metadata.authoritative = true;
                reply.metadata.response_code = ResponseCode::NoError;
                let _ = socket.send_to(&reply.to_vec().unwrap(), from).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_chain_our_resolver_cannot_fetch_is_named() {
        let upstream = |a| crate::resolver::Upstream::Servers(vec![a]);
        let server = chain_server("example.test.").await;
        let r = Resolver::new(&upstream(server), Duration::from_millis(300)).unwrap();
        let gap = chain_gap("mail.example.test", None, &r).await.unwrap();
        assert!(gap.contains("DS set of example.test"), "{gap}");
        assert!(gap.contains("no answer within"), "{gap}");
        // Every set answered (NODATA is an answer): nothing missing up to the root.
        let server = chain_server("nothing.").await;
        let r = Resolver::new(&upstream(server), Duration::from_millis(300)).unwrap();
        assert_eq!(chain_gap("mail.example.test", None, &r).await, None);
        // An anchor at example.test: nothing above it is asked.
        let server = chain_server("test.").await;
        let r = Resolver::new(&upstream(server), Duration::from_millis(300)).unwrap();
        let anchor = "example.test. 3600 IN DS 1 13 2 00";
        assert_eq!(chain_gap("mail.example.test", Some(anchor), &r).await, None);
    }
}
