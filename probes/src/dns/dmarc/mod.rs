//! DMARC as receivers apply it to the probed domain: the record is found by the RFC 9989 DNS
//! tree walk (`discover.rs`), parsed strictly (`parse.rs`), and turned into findings here:
//! where the policy came from, which tag gives it (`p`, `sp`, `np`), where RFC 7489 receivers
//! (public suffix list) would find something else, and whether external report destinations
//! accept the reports.

pub mod discover;
pub mod parse;

pub use discover::org_domain_by_psl;
pub use parse::{DmarcRecord, Issue, is_dmarc};

use super::{DnsSettings, failure_state, failure_text, location};
use crate::resolver::{DnsFailure, Resolver};
use crate::{Finding, State};
use discover::{Discovery, Source};

#[cfg(test)]
mod tests;

/// The DMARC findings for `domain`; the policy in force goes to `policy_out`.
pub(super) async fn checks(
    domain: &str,
    settings: &DnsSettings,
    r: &Resolver,
    policy_out: &mut Option<String>,
) -> Vec<Finding> {
    let found = discover::discover(r, domain).await;
    let (mut out, rec) = policy_findings(&found, settings, policy_out);
    if let Some(rec) = rec {
        out.extend(rua_checks(domain, &rec, r).await);
    }
    out
}

/// The findings of a discovery (pure): the record and where it came from, its syntax, the
/// policy tag that applies, the RFC 7489 comparison. Returns the applied record, parsed.
fn policy_findings(
    found: &Discovery,
    settings: &DnsSettings,
    policy_out: &mut Option<String>,
) -> (Vec<Finding>, Option<DmarcRecord>) {
    let domain = found.domain.as_str();
    let mut out = Vec::new();
    let own = found.levels.first();
    if let Some(own) = own.filter(|l| l.records.len() > 1) {
        out.push(
            Finding::new(
                "dmarc:record",
                State::Critical,
                format!(
                    "{} DMARC records at _dmarc.{}: receivers ignore them all (RFC 9989 4.10)",
                    own.records.len(),
                    own.domain
                ),
            )
            .with_detail(own.records.join("\n")),
        );
    }
    if let Some((name, f)) = &found.failure {
        out.push(Finding::new(
            "dmarc:record",
            failure_state(f),
            format!(
                "DMARC policy discovery for {domain} at {name}: {}",
                failure_text(f)
            ),
        ));
        return (out, None);
    }
    out.extend(discovery_note(found));
    let Some(applied) = &found.applied else {
        if out.is_empty() {
            let above = if found.levels.len() > 1 {
                " nor above it"
            } else {
                ""
            };
            out.push(Finding::new(
                "dmarc:record",
                State::Critical,
                format!("no DMARC record at _dmarc.{domain}{above}: receivers apply no policy, and you get no reports"),
            ).with_detail(format!("publish e.g. `v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}` and tighten to p=reject")));
        } else if !out.iter().any(|f| f.state == State::Critical) {
            out.push(Finding::new(
                "dmarc:record",
                State::Critical,
                format!("no usable DMARC record for {domain}: receivers apply no policy"),
            ));
        }
        return (out, None);
    };
    let name = format!("_dmarc.{}", applied.at);
    let text = &applied.text;
    let rec = DmarcRecord::parse(text);
    let via = match applied.source.describe() {
        s if s.is_empty() => String::new(),
        s => format!(" ({s})"),
    };
    out.push(Finding::new(
        "dmarc:record",
        State::Ok,
        format!("DMARC record at {name}{via}: {text}"),
    ));
    let mut syntax_ok = true;
    for i in &rec.issues {
        syntax_ok &= i.state == State::Ok;
        out.push(
            Finding::new("dmarc:syntax", i.state, format!("DMARC: {}", i.message)).at(location(
                format!("TXT {name}"),
                text,
                i.start,
                i.end,
            )),
        );
    }
    if syntax_ok {
        out.push(Finding::new(
            "dmarc:syntax",
            State::Ok,
            "DMARC syntax is valid",
        ));
    }
    if let Some((tag, p)) = &applied.policy {
        *policy_out = Some(p.clone());
        let state = match p.as_str() {
            "none" => settings.dmarc_p_none,
            _ => State::Ok,
        };
        let why = match (*tag, applied.exists) {
            ("np", _) => format!(" ({domain} does not exist: the non-existent subdomain policy)"),
            ("sp", _) => format!(" (the subdomain policy: {domain} is below {})", applied.at),
            ("p", _) if applied.source != Source::Own => {
                format!(" ({domain} is below {}, which gives no sp=)", applied.at)
            }
            _ => String::new(),
        };
        let from = match applied.source.describe() {
            s if s.is_empty() => String::new(),
            s => format!(", {s}"),
        };
        let mut f = Finding::new(
            "dmarc:policy",
            state,
            format!("DMARC policy {tag}={p}, pct={}{from}{why}", rec.pct),
        );
        if p == "none" {
            f = f.with_detail("p=none only monitors: forged mail is delivered; move to quarantine, then reject, once reports are clean");
        }
        out.push(f);
    }
    (out, Some(rec))
}

/// Where RFC 7489 receivers (public suffix list) would apply another record than the RFC 9989
/// tree walk finds: a WARNING naming both, since receivers of both kinds are in service.
fn discovery_note(found: &Discovery) -> Option<Finding> {
    let old = found.rfc7489.as_ref()?;
    let new_at = found.applied.as_ref().map(|a| a.at.as_str());
    let old_at = old.record_at.as_deref();
    if new_at == old_at {
        return None;
    }
    let said = |at: Option<&str>| match at {
        Some(d) => format!("the record at _dmarc.{d}"),
        None => "no record".to_string(),
    };
    Some(
        Finding::new(
            "dmarc:discovery",
            State::Warning,
            format!(
                "RFC 9989 receivers (DNS tree walk) apply {} to {}; RFC 7489 receivers (public suffix list, organizational domain {}) apply {}",
                said(new_at),
                found.domain,
                old.org_domain,
                said(old_at)
            ),
        )
        .with_detail(format!(
            "the tree walk asked {}; publish a record at _dmarc.{} to make both agree",
            found
                .levels
                .iter()
                .map(|l| format!("_dmarc.{}", l.domain))
                .collect::<Vec<_>>()
                .join(", "),
            found.domain
        )),
    )
}

/// External report destinations must authorize themselves (RFC 7489 7.1): a destination
/// outside the domain's organizational domain (public suffix list) is asked.
async fn rua_checks(domain: &str, rec: &DmarcRecord, r: &Resolver) -> Vec<Finding> {
    let mut out = Vec::new();
    let org = org_domain_by_psl(domain);
    for dest in rec.rua_domains() {
        if dest == *domain || dest.ends_with(&format!(".{org}")) || dest == org {
            continue;
        }
        let auth_name = format!("{domain}._report._dmarc.{dest}");
        let check = format!("dmarc:rua:{dest}");
        match r.txt(&auth_name).await {
            Ok(v) if v.iter().any(|t| t.to_ascii_lowercase().starts_with("v=dmarc1")) => out.push(
                Finding::new(check, State::Ok, format!("{dest} accepts DMARC reports for {domain}")),
            ),
            Ok(_) | Err(DnsFailure::NxDomain | DnsFailure::NoData) => out.push(
                Finding::new(
                    check,
                    State::Warning,
                    format!("{dest} has not authorized reports for {domain}: receivers will not send them there"),
                )
                .with_detail(format!("{dest} must publish `v=DMARC1` at {auth_name}")),
            ),
            Err(f) => out.push(Finding::new(check, failure_state(&f), format!("{auth_name}: {}", failure_text(&f)))),
        }
    }
    out
}
