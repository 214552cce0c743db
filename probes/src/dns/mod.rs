//! `kind: dns`: everything a receiver reads about the operator's domain in DNS, checked the
//! way a strict receiver reads it: SPF (our strict parser plus mail-auth's `check_host()` for
//! every sending IP), DMARC, DKIM keys, MX, PTR and forward-confirmed reverse DNS, the MTA-STS
//! and TLS-RPT records, and every authoritative nameserver asked directly.
//!
//! Parsers are pure and live beside this file (`spf.rs`, `dmarc/parse.rs`, `dkim.rs`,
//! `tags.rs`); this file does the lookups and turns what it finds into findings. DMARC's
//! policy discovery (the RFC 9989 tree walk) and its findings live in `dmarc/`. A record that
//! cannot be fetched because the domain's servers fail (SERVFAIL, REFUSED) is CRITICAL, as a
//! receiver meets it (`temperror`); our resolver not answering is UNKNOWN.

mod compare;
pub mod dkim;
pub mod dmarc;
pub mod dnssec;
pub mod lookup;
mod nameservers;
pub mod spf;
pub mod spf_check;
pub mod spf_walk;
pub mod tags;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::resolver::{DnsFailure, Resolver};
use crate::{Finding, Location, Outcome, ProbeContext, Report, State};

pub use compare::{mta_sts_change, with_previous};
pub use nameservers::NameserverResult;

/// The settings of one `kind: dns` probe; the target is the domain.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// DKIM selectors that must publish a usable key.
    pub selectors: Vec<String>,
    /// Addresses the domain sends from: SPF must give `pass`, PTR must confirm.
    pub sending_ips: Vec<IpAddr>,
    /// The HELO name of the sending servers, if known: it must resolve to a sending IP.
    pub helo: Option<String>,
    /// MX hosts the operator expects; a difference is a WARNING.
    pub mx_expected: Vec<String>,
    /// The state of `p=none` (WARNING by default: monitoring only, nothing is protected).
    pub dmarc_p_none: State,
    /// Ask every authoritative nameserver directly.
    pub check_nameservers: bool,
    /// DNSSEC trust anchors as zone-file text (DS and/or DNSKEY records); `None`: the root.
    pub trust_anchor: Option<String>,
    /// Fetch the MTA-STS policy over HTTPS when a valid `_mta-sts` record announces one
    /// (default true). False limits the run to DNS: the record is still checked, the policy
    /// and its certificate are not (no `mta-sts:policy`, `mta-sts:cert`, `mta-sts:mx:*`
    /// findings). Used by `benches/dns.rs`; no config key sets it.
    pub fetch_mta_sts_policy: bool,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            selectors: vec![],
            sending_ips: vec![],
            helo: None,
            mx_expected: vec![],
            dmarc_p_none: State::Warning,
            check_nameservers: true,
            trust_anchor: None,
            fetch_mta_sts_policy: true,
        }
    }
}

/// What one dns run measured, for metrics and perfdata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsReport {
    pub domain: String,
    /// DNS-querying SPF terms across includes and redirects on the worst-case evaluation path
    /// (`spf_walk`'s module doc; the limit is 10).
    pub spf_lookups: Option<u32>,
    pub spf_void_lookups: Option<u32>,
    /// `none`, `quarantine` or `reject`.
    pub dmarc_policy: Option<String>,
    /// (selector, RSA bits or 256 for ed25519) of every key that parsed.
    pub dkim_key_bits: Vec<(String, u32)>,
    pub mx: Vec<String>,
    pub nameservers: Vec<NameserverResult>,
    /// Whether the zone is signed, and validates from the anchor.
    pub dnssec_signed: Option<bool>,
    pub dnssec_validated: Option<bool>,
    /// Unix seconds when the earliest RRSIG on DNSKEY, MX, TXT or TLSA expires.
    pub rrsig_expiry: Option<u64>,
    /// The MTA-STS policy's mode, when a policy was fetched.
    pub mta_sts_mode: Option<String>,
    /// The MTA-STS policy host's certificate, whether or not it verified.
    pub mta_sts_cert: Option<crate::tls::CertFacts>,
    /// The `id=` of a valid `_mta-sts` record.
    #[serde(default)]
    pub mta_sts_id: Option<String>,
    /// The fetched policy in canonical form (mode, max_age, sorted mx), to notice a policy
    /// that changed without a new id across runs.
    #[serde(default)]
    pub mta_sts_policy: Option<String>,
}

/// The state for a record we could not fetch.
pub(crate) fn failure_state(f: &DnsFailure) -> State {
    match f {
        DnsFailure::ServFail
        | DnsFailure::Refused
        | DnsFailure::CnameLoop(_)
        | DnsFailure::AliasChainTooLong(_) => State::Critical,
        _ => State::Unknown,
    }
}

pub(crate) fn failure_text(f: &DnsFailure) -> String {
    match f {
        DnsFailure::ServFail | DnsFailure::Refused => format!(
            "the domain's nameservers answered {f}: receivers get a temporary error (temperror) and defer or reject"
        ),
        DnsFailure::CnameLoop(_) | DnsFailure::AliasChainTooLong(_) => {
            format!("the domain publishes a {f}: no resolver can answer, receivers get an error")
        }
        // Our resolver sent us elsewhere: it is not recursing for us, so we learnt nothing.
        DnsFailure::Referral => {
            format!("our resolver answered with {f}: is the configured resolver a recursive one?")
        }
        other => format!("our resolver could not get an answer: {other}"),
    }
}

/// The finding for a host whose A or AAAA lookup failed while the other family gave
/// addresses (`check` is the caller's, e.g. `mx:address:<host>`): CRITICAL when the domain's
/// servers fail (senders of that family get a temporary error), UNKNOWN when our resolver
/// did not answer. Never silent: "every address" would otherwise be one family's.
pub(crate) fn family_failed(
    check: String,
    host: &str,
    (asked, f): &(hickory_resolver::proto::rr::RecordType, DnsFailure),
) -> Finding {
    let family = if *asked == hickory_resolver::proto::rr::RecordType::AAAA {
        "IPv6"
    } else {
        "IPv4"
    };
    let state = failure_state(f);
    let summary = if state == State::Critical {
        format!(
            "{asked} lookup of {host} failed: {f}: {family}-preferring senders get a temporary error"
        )
    } else {
        format!(
            "{asked} lookup of {host}: {}; its {family} addresses are not checked",
            failure_text(f)
        )
    };
    Finding::new(check, state, summary)
}

fn location(record: String, text: &str, start: usize, end: usize) -> Location {
    Location {
        record,
        text: text.to_string(),
        start: start.min(text.len()),
        end: end.min(text.len()),
    }
}

/// Runs every DNS check on `target` (a domain), bounded by the context's deadline.
pub async fn probe(settings: &DnsSettings, target: &str, ctx: &ProbeContext) -> Outcome {
    let domain = target.trim().trim_end_matches('.').to_ascii_lowercase();
    if spf::domain_spec(&domain, false).is_err() || domain.contains('%') {
        return Outcome::single(Finding::new(
            "target",
            State::Unknown,
            format!("`{target}` is not a domain name"),
        ));
    }
    let mut report = DnsReport {
        domain: domain.clone(),
        ..DnsReport::default()
    };
    let r = &ctx.resolver;
    let work = async {
        let mut findings = Vec::new();
        let (spf_f, dmarc_f, dkim_f, mx_f, ptr_f, other_f, ns_f) = futures::join!(
            spf_checks(
                &domain,
                settings,
                r,
                &mut report.spf_lookups,
                &mut report.spf_void_lookups
            ),
            dmarc::checks(&domain, settings, r, &mut report.dmarc_policy),
            dkim_checks(&domain, settings, r, &mut report.dkim_key_bits),
            mx_checks(&domain, settings, r, &mut report.mx),
            ptr_checks(settings, r),
            policy_records(&domain, r),
            async {
                if settings.check_nameservers {
                    nameservers::check(&domain, r, ctx.deadline).await
                } else {
                    (vec![], vec![])
                }
            },
        );
        let (other_f, sts_id) = other_f;
        report.mta_sts_id = sts_id.clone();
        let sts_published = sts_id.is_some();
        for v in [spf_f, dmarc_f, dkim_f, mx_f, ptr_f, other_f] {
            findings.extend(v);
        }
        if sts_published && settings.fetch_mta_sts_policy {
            let (f, mode, cert, canonical) = mta_sts_policy(&domain, &report.mx, ctx).await;
            findings.extend(f);
            report.mta_sts_mode = mode;
            report.mta_sts_policy = canonical;
            report.mta_sts_cert = cert;
        }
        let (ns_findings, ns_results) = ns_f;
        findings.extend(ns_findings);
        report.nameservers = ns_results;
        let (sec_findings, facts) =
            dnssec::check(&domain, &report.mx, settings.trust_anchor.as_deref(), r).await;
        findings.extend(sec_findings);
        report.dnssec_signed = facts.signed;
        report.dnssec_validated = facts.validated;
        report.rrsig_expiry = facts.rrsig_expiry;
        findings
    };
    match ctx.deadline.run(work).await {
        Ok(mut findings) => {
            findings.extend(with_previous(ctx.previous.as_deref(), &report));
            Outcome::new(findings, Report::Dns(Box::new(report)))
        }
        Err(_) => Outcome::single(Finding::new(
            "deadline",
            State::Unknown,
            format!("the DNS checks of {domain} did not finish before the probe's deadline"),
        )),
    }
}

/// Fetches the TXT records of `name` that `is_kind` accepts: Ok(records as their strings),
/// or the finding that says why there is nothing usable.
async fn txt_of_kind(
    r: &Resolver,
    name: &str,
    check: &str,
    what: &str,
    is_kind: fn(&str) -> bool,
) -> Result<Vec<Vec<String>>, Option<Finding>> {
    match r.txt_strings(name).await {
        Ok(all) => Ok(all
            .into_iter()
            .filter(|parts| is_kind(&parts.concat()))
            .collect()),
        Err(f) if f.is_negative_answer() => Ok(vec![]),
        Err(f) => Err(Some(Finding::new(
            check,
            failure_state(&f),
            format!("{what} at {name}: {}", failure_text(&f)),
        ))),
    }
}

async fn spf_checks(
    domain: &str,
    settings: &DnsSettings,
    r: &Resolver,
    lookups_out: &mut Option<u32>,
    voids_out: &mut Option<u32>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let records = match txt_of_kind(r, domain, "spf:record", "the SPF record", spf::is_spf).await {
        Ok(v) => v,
        Err(f) => return f.into_iter().collect(),
    };
    let parts = match records.len() {
        0 => {
            out.push(Finding::new(
                "spf:record",
                State::Critical,
                format!("{domain} publishes no SPF record: receivers cannot tell your servers from forgers"),
            ).with_detail(format!("publish a TXT record at {domain}, e.g. `v=spf1 ip4:<your sending IP> -all`")));
            return out;
        }
        1 => records.into_iter().next().unwrap_or_default(),
        n => {
            out.push(Finding::new(
                "spf:record",
                State::Critical,
                format!("{domain} publishes {n} SPF records: receivers answer permerror (RFC 7208 3.2); merge them into one"),
            ).with_detail(records.iter().map(|p| p.concat()).collect::<Vec<_>>().join("\n")));
            return out;
        }
    };
    let text = parts.concat();
    let record = spf::SpfRecord::parse(&text);
    out.push(Finding::new(
        "spf:record",
        State::Ok,
        format!("SPF record found: {text}"),
    ));
    // Receivers join the strings of a TXT record without a space: a split inside a term
    // glues two terms together.
    let mut boundaries = vec![];
    let mut pos = 0;
    for p in &parts[..parts.len().saturating_sub(1)] {
        pos += p.len();
        boundaries.push(pos);
    }
    let mut syntax_ok = true;
    for i in &record.issues {
        let split_note = boundaries
            .iter()
            .find(|b| **b > i.start && **b < i.end.max(i.start + 1))
            .map(|b| format!(" (the record is split into strings at byte {b}, inside this term: receivers join the strings without a space)"))
            .unwrap_or_default();
        if i.state != State::Ok {
            syntax_ok = false;
        }
        out.push(
            Finding::new(
                "spf:syntax",
                i.state,
                format!("SPF: {}{split_note}", i.message),
            )
            .at(location(format!("TXT {domain}"), &text, i.start, i.end)),
        );
    }
    if syntax_ok {
        out.push(Finding::new("spf:syntax", State::Ok, "SPF syntax is valid"));
    }
    let walk = spf_walk::walk(domain, &record, r).await;
    *lookups_out = Some(walk.lookups);
    *voids_out = Some(walk.voids);
    out.extend(walk.findings);
    // check_host() for every sending IP, by mail-auth, as a receiver evaluates it.
    let auth = mail_auth::MessageAuthenticator(r.hickory().clone());
    let helo = settings.helo.clone().unwrap_or_else(|| domain.to_string());
    let sender = format!("postmaster@{domain}");
    for ip in &settings.sending_ips {
        let params = mail_auth::spf::verify::SpfParameters::verify_mail_from(
            *ip,
            &helo,
            "mailauth-probe",
            &sender,
        );
        let seen = spf_check::SeenSpf::of(r, *ip);
        let output = auth
            .verify_spf(mail_auth::Parameters::new(params).with_txt_cache(&seen))
            .await;
        let result = output.result();
        let check = format!("spf:pass:{ip}");
        let f = match result {
            mail_auth::SpfResult::Pass => {
                Finding::new(check, State::Ok, format!("SPF passes for {ip}"))
            }
            other => {
                // mail-auth is lenient where strict receivers are not: a syntax error found
                // above decides first.
                let strict = if syntax_ok {
                    ""
                } else {
                    " (strict receivers answer permerror: see the syntax findings)"
                };
                Finding::new(
                    check,
                    State::Critical,
                    format!(
                        "SPF gives {} for sending IP {ip}, not pass{strict}",
                        spf_result_name(other)
                    ),
                )
            }
        };
        out.push(f);
    }
    out
}

pub(crate) fn spf_result_name(r: mail_auth::SpfResult) -> &'static str {
    use mail_auth::SpfResult::*;
    match r {
        Pass => "pass",
        Fail => "fail",
        SoftFail => "softfail",
        Neutral => "neutral",
        TempError => "temperror",
        PermError => "permerror",
        None => "none",
    }
}

async fn dkim_checks(
    domain: &str,
    settings: &DnsSettings,
    r: &Resolver,
    bits_out: &mut Vec<(String, u32)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for sel in &settings.selectors {
        let name = format!("{sel}._domainkey.{domain}");
        let check = format!("dkim:{sel}");
        let records = match r.txt(&name).await {
            Ok(v) => v,
            Err(f) if f.is_negative_answer() => {
                out.push(Finding::new(
                    check,
                    State::Critical,
                    format!("no DKIM key at {name}: every signature with selector {sel} fails"),
                ));
                continue;
            }
            Err(f) => {
                out.push(Finding::new(
                    check,
                    failure_state(&f),
                    format!("{name}: {}", failure_text(&f)),
                ));
                continue;
            }
        };
        let keys: Vec<&String> = records
            .iter()
            .filter(|t| t.contains("p=") || t.to_ascii_lowercase().starts_with("v=dkim1"))
            .collect();
        let Some(text) = keys.first() else {
            out.push(Finding::new(
                check,
                State::Critical,
                format!("{name} holds no DKIM key record"),
            ));
            continue;
        };
        if keys.len() > 1 {
            out.push(Finding::new(
                check.clone(),
                State::Critical,
                format!(
                    "{name} holds {} key records: verifiers may pick either",
                    keys.len()
                ),
            ));
        }
        let key = dkim::DkimKey::parse(text);
        if let Some(b) = key.bits {
            bits_out.push((sel.clone(), b));
        }
        if key.issues.iter().all(|i| i.state == State::Ok) {
            out.push(Finding::new(
                check.clone(),
                State::Ok,
                format!(
                    "DKIM key {sel}: {} {} bits",
                    key.key_type,
                    key.bits.unwrap_or(0)
                ),
            ));
        }
        for i in &key.issues {
            out.push(
                Finding::new(
                    check.clone(),
                    i.state,
                    format!("DKIM key {sel}: {}", i.message),
                )
                .at(location(format!("TXT {name}"), text, i.start, i.end)),
            );
        }
    }
    out
}

async fn mx_checks(
    domain: &str,
    settings: &DnsSettings,
    r: &Resolver,
    mx_out: &mut Vec<String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut mx = match r.mx(domain).await {
        Ok(v) => v,
        Err(DnsFailure::NxDomain) => {
            return vec![Finding::new(
                "mx:record",
                State::Critical,
                format!("{domain} does not exist (NXDOMAIN)"),
            )];
        }
        Err(DnsFailure::NoData) => {
            return vec![Finding::new(
                "mx:record",
                State::Warning,
                format!(
                    "{domain} has no MX: senders fall back to its A/AAAA record (implicit MX); publish an MX, or a null MX if it receives no mail"
                ),
            )];
        }
        Err(f) => {
            return vec![Finding::new(
                "mx:record",
                failure_state(&f),
                format!("MX of {domain}: {}", failure_text(&f)),
            )];
        }
    };
    mx.sort();
    if mx.len() == 1 && (mx[0].1.is_empty() || mx[0].1 == ".") {
        out.push(Finding::new(
            "mx:record",
            State::Ok,
            format!("{domain} publishes a null MX: it accepts no mail (RFC 7505)"),
        ));
        return out;
    }
    *mx_out = mx.iter().map(|(_, h)| h.clone()).collect();
    out.push(Finding::new(
        "mx:record",
        State::Ok,
        format!(
            "MX: {}",
            mx.iter()
                .map(|(p, h)| format!("{p} {h}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    if !settings.mx_expected.is_empty() {
        let mut want: Vec<String> = settings
            .mx_expected
            .iter()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        want.sort();
        let mut got = mx_out.clone();
        got.sort();
        got.dedup();
        if want != got {
            out.push(Finding::new(
                "mx:expected",
                State::Warning,
                format!(
                    "MX hosts are {} but {} are expected",
                    got.join(", "),
                    want.join(", ")
                ),
            ));
        } else {
            out.push(Finding::new(
                "mx:expected",
                State::Ok,
                "MX hosts are as expected",
            ));
        }
    }
    for (_, host) in &mx {
        let check = format!("mx:host:{host}");
        if host.parse::<IpAddr>().is_ok() {
            out.push(Finding::new(
                check,
                State::Critical,
                format!("MX {host} is an address, not a host name (RFC 5321 5.1)"),
            ));
            continue;
        }
        let crate::resolver::Addresses {
            ips,
            aliases,
            failed,
        } = r.ips_via(host).await;
        if let Some(failed) = &failed {
            out.push(family_failed(format!("mx:address:{host}"), host, failed));
        }
        if !aliases.is_empty() {
            out.push(Finding::new(
                check.clone(),
                State::Warning,
                format!("MX {host} is an alias (CNAME to {}): RFC 2181 10.3 forbids it and some senders refuse", aliases.join(" → ")),
            ));
        }
        match ips {
            Ok(ips) if !ips.is_empty() => {
                let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                out.push(Finding::new(
                    check,
                    State::Ok,
                    format!("MX {host} resolves to {}", list.join(", ")),
                ));
                for ip in ips {
                    out.push(ptr_finding(r, ip, &format!("ptr:mx:{ip}"), State::Warning).await);
                }
            }
            Ok(_) | Err(DnsFailure::NxDomain | DnsFailure::NoData) => out.push(Finding::new(
                check,
                State::Critical,
                format!("MX {host} has no address: senders cannot deliver to it"),
            )),
            Err(f) => out.push(Finding::new(
                check,
                failure_state(&f),
                format!("MX {host}: {}", failure_text(&f)),
            )),
        }
    }
    out
}

/// PTR and forward-confirmed reverse DNS of `ip`; `missing` is the state when there is none.
async fn ptr_finding(r: &Resolver, ip: IpAddr, check: &str, missing: State) -> Finding {
    match r.ptr(ip).await {
        Ok(names) => {
            for name in &names {
                if let Ok(true) = r.resolves_to(name, ip).await {
                    return Finding::new(
                        check,
                        State::Ok,
                        format!("{ip} has PTR {name}, which resolves back to it"),
                    );
                }
            }
            Finding::new(
                check,
                missing,
                format!(
                    "{ip} has PTR {} but no name resolves back to {ip} (not forward-confirmed)",
                    names.join(", ")
                ),
            )
        }
        Err(f) if f.is_negative_answer() => Finding::new(
            check,
            missing,
            format!(
                "{ip} has no PTR record: many receivers reject mail from addresses without reverse DNS"
            ),
        ),
        Err(f) => Finding::new(
            check,
            failure_state(&f),
            format!("PTR of {ip}: {}", failure_text(&f)),
        ),
    }
}

async fn ptr_checks(settings: &DnsSettings, r: &Resolver) -> Vec<Finding> {
    let mut out = Vec::new();
    for ip in &settings.sending_ips {
        out.push(ptr_finding(r, *ip, &format!("ptr:{ip}"), State::Critical).await);
    }
    if let Some(helo) = &settings.helo {
        let f = match r.ips(helo).await {
            Ok(ips)
                if settings.sending_ips.is_empty()
                    || ips.iter().any(|i| settings.sending_ips.contains(i)) =>
            {
                Finding::new("helo", State::Ok, format!("HELO name {helo} resolves"))
            }
            Ok(ips) => Finding::new(
                "helo",
                State::Warning,
                format!(
                    "HELO name {helo} resolves to {}, none of the sending IPs",
                    ips.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Err(f) if f.is_negative_answer() => Finding::new(
                "helo",
                State::Warning,
                format!("HELO name {helo} does not resolve: some receivers reject such mail"),
            ),
            Err(f) => Finding::new(
                "helo",
                failure_state(&f),
                format!("HELO name {helo}: {}", failure_text(&f)),
            ),
        };
        out.push(f);
    }
    out
}

/// The MTA-STS policy over HTTPS: fetched, parsed, its certificate, and every MX matched.
async fn mta_sts_policy(
    domain: &str,
    mx: &[String],
    ctx: &ProbeContext,
) -> (
    Vec<Finding>,
    Option<String>,
    Option<crate::tls::CertFacts>,
    Option<String>,
) {
    use crate::mta_sts::{Mode, fetch, mx_matches};
    let mut out = vec![];
    let fetched = fetch(domain, ctx).await;
    let cert = fetched.tls.as_ref().and_then(|t| t.leaf.clone());
    if let Some(t) = &fetched.tls {
        out.push(crate::tls::cert_finding(
            "mta-sts:cert",
            &fetched.host,
            t,
            14,
        ));
    }
    let policy = match fetched.policy {
        Ok(p) => p,
        Err(e) => {
            out.push(Finding::new(
                "mta-sts:policy",
                State::Critical,
                format!("MTA-STS policy of {domain}: {e}"),
            ).with_detail("the _mta-sts record announces a policy that senders cannot use: they fall back to opportunistic TLS (or keep a stale cached policy)"));
            return (out, None, cert, None);
        }
    };
    let mode = policy.mode.as_str().to_string();
    let canonical = {
        let mut mx: Vec<String> = policy.mx.iter().map(|m| m.to_ascii_lowercase()).collect();
        mx.sort();
        format!(
            "mode {mode}, max_age {}, mx {}",
            policy.max_age,
            mx.join(" ")
        )
    };
    let state = match policy.mode {
        Mode::Enforce => State::Ok,
        Mode::Testing => State::Warning,
        Mode::None => State::Warning,
    };
    let mut f = Finding::new(
        "mta-sts:policy",
        state,
        format!(
            "MTA-STS policy: mode {mode}, max_age {}, mx {}",
            policy.max_age,
            policy.mx.join(", ")
        ),
    );
    if policy.mode != Mode::Enforce {
        f = f.with_detail("only mode enforce makes senders refuse to deliver without valid TLS");
    }
    out.push(f);
    if policy.max_age < 86400 {
        out.push(Finding::new("mta-sts:max_age", State::Warning, format!("max_age {} is under a day: senders forget the policy quickly (weeks are recommended)", policy.max_age)));
    }
    if policy.mode != Mode::None {
        for host in mx {
            let check = format!("mta-sts:mx:{host}");
            if policy.mx.iter().any(|p| mx_matches(p, host)) {
                out.push(Finding::new(
                    check,
                    State::Ok,
                    format!("MX {host} matches the MTA-STS policy"),
                ));
            } else {
                let state = if policy.mode == Mode::Enforce {
                    State::Critical
                } else {
                    State::Warning
                };
                out.push(Finding::new(
                    check,
                    state,
                    format!("MX {host} matches no `mx:` of the MTA-STS policy: senders that enforce it will not deliver there"),
                ));
            }
        }
    }
    (out, Some(mode), cert, Some(canonical))
}

/// The MTA-STS (`_mta-sts`) and TLS-RPT (`_smtp._tls`) TXT records; also the `id=` of a
/// valid MTA-STS record, which announces a policy to fetch.
async fn policy_records(domain: &str, r: &Resolver) -> (Vec<Finding>, Option<String>) {
    let mut out = Vec::new();
    let mut sts_id = None;
    let sts_name = format!("_mta-sts.{domain}");
    match txt_of_kind(r, &sts_name, "mta-sts:record", "the MTA-STS record", |t| {
        t.to_ascii_lowercase().starts_with("v=stsv1")
    })
    .await
    {
        Err(f) => out.extend(f),
        Ok(v) if v.is_empty() => out.push(Finding::new(
            "mta-sts:record",
            State::Warning,
            format!("no MTA-STS record at {sts_name}: senders may deliver without TLS when STARTTLS is stripped"),
        )),
        Ok(v) if v.len() > 1 => out.push(Finding::new("mta-sts:record", State::Critical, format!("{} MTA-STS records at {sts_name}: senders ignore the policy", v.len()))),
        Ok(v) => {
            let text = v[0].concat();
            let (t, errs) = tags::parse(&text);
            let id_ok = tags::get(&t, "id").is_some_and(|id| {
                !id.value.is_empty() && id.value.len() <= 32 && id.value.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            if let Some(e) = errs.first() {
                out.push(Finding::new("mta-sts:record", State::Critical, format!("MTA-STS record: {}", e.message))
                    .at(location(format!("TXT {sts_name}"), &text, e.start, e.end)));
            } else if !id_ok {
                out.push(Finding::new("mta-sts:record", State::Critical, "MTA-STS record: `id=` must be 1 to 32 letters and digits (RFC 8461 3.1)")
                    .at(location(format!("TXT {sts_name}"), &text, 0, text.len())));
            } else {
                sts_id = tags::get(&t, "id").map(|id| id.value.to_string());
                out.push(Finding::new("mta-sts:record", State::Ok, format!("MTA-STS record: {text}")));
            }
        }
    }
    let rpt_name = format!("_smtp._tls.{domain}");
    match txt_of_kind(r, &rpt_name, "tlsrpt:record", "the TLS-RPT record", |t| {
        t.to_ascii_lowercase().starts_with("v=tlsrptv1")
    })
    .await
    {
        Err(f) => out.extend(f),
        Ok(v) if v.is_empty() => out.push(Finding::new(
            "tlsrpt:record",
            State::Warning,
            format!("no TLS-RPT record at {rpt_name}: you get no reports of senders failing TLS with your MX"),
        )),
        Ok(v) => {
            let text = v[0].concat();
            let (t, errs) = tags::parse(&text);
            let rua_ok = tags::get(&t, "rua").is_some_and(|rua| {
                rua.value.split(',').map(str::trim).all(|u| {
                    u.strip_prefix("mailto:").is_some_and(|a| a.contains('@')) || u.starts_with("https://")
                })
            });
            if v.len() > 1 {
                out.push(Finding::new("tlsrpt:record", State::Critical, format!("{} TLS-RPT records at {rpt_name}: reporters ignore them", v.len())));
            } else if !errs.is_empty() || !rua_ok {
                out.push(Finding::new("tlsrpt:record", State::Critical, "TLS-RPT record: `rua=` must list mailto: or https: destinations (RFC 8460 3)")
                    .at(location(format!("TXT {rpt_name}"), &text, 0, text.len())));
            } else {
                out.push(Finding::new("tlsrpt:record", State::Ok, format!("TLS-RPT record: {text}")));
            }
        }
    }
    (out, sts_id)
}
