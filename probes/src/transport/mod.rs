//! `kind: transport`: how the operator's mail servers look to the rest of the Internet, on
//! the wire. For every MX of a domain (or an explicit host), on every address: the SMTP
//! greeting and EHLO read per RFC 5321, STARTTLS offered and accepted, the TLS handshake and
//! the certificate's facts (always, even expired or for another name) and whether it
//! verifies; DANE and MTA-STS deciding whether a sender would refuse to fall back to
//! plaintext; open relaying. Submission (587 STARTTLS, 465) and IMAP (993, 143 STARTTLS)
//! endpoints are checked for TLS before credentials.
//!
//! A target is `host` (port 25), `host:port` (25, 587, 465, 993 or 143), or a domain listed
//! in the settings' `domains` (all its MX hosts on port 25). Every step runs under the
//! probe's deadline; a server that goes silent is reported at the step where it stopped.

pub mod dane;
pub mod smtp;

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::tls::{TlsReport, cert_finding};
use crate::{Finding, Outcome, ProbeContext, Report, State};
use smtp::{Conn, Reply};

#[cfg(test)]
mod tests {
    use super::split_target;

    #[test]
    fn targets() {
        assert_eq!(
            split_target("MX.example.org."),
            Ok(("mx.example.org".into(), 25))
        );
        assert_eq!(
            split_target("smtp.example.org:587"),
            Ok(("smtp.example.org".into(), 587))
        );
        assert_eq!(split_target("127.0.9.1"), Ok(("127.0.9.1".into(), 25)));
        assert!(split_target("host:0").is_err());
        assert!(split_target("host:smtp").is_err());
        assert!(split_target("").is_err());
    }
}

#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// Targets that are mail domains: their MX hosts are probed.
    pub domains: Vec<String>,
    /// Our EHLO name.
    pub helo: String,
    /// MX hosts must offer STARTTLS (default true).
    pub require_starttls: bool,
    /// A verified certificate expiring within this many days is a WARNING.
    pub cert_warning_days: u32,
    /// Test whether port-25 targets relay for strangers.
    pub open_relay: bool,
    /// The state of an MX that neither DANE nor MTA-STS protects against stripping.
    pub unprotected: State,
    /// DNSSEC trust anchors (zone-file text) for TLSA validation; `None`: the root.
    pub trust_anchor: Option<String>,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            domains: vec![],
            helo: "mailauth-probe.invalid".into(),
            require_starttls: true,
            cert_warning_days: 14,
            open_relay: true,
            unprotected: State::Warning,
            trust_anchor: None,
        }
    }
}

/// One endpoint (host, port, address) as seen on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub address: Option<IpAddr>,
    /// Whether STARTTLS was advertised (ports 25, 587, 143).
    pub starttls_offered: Option<bool>,
    /// The TLS session, when one was set up.
    pub tls: Option<TlsReport>,
}

/// Per MX host: does anything stop a sender from falling back to plaintext?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Protection {
    pub host: String,
    pub dane: bool,
    pub mta_sts: bool,
    /// Why MTA-STS could not be judged: the domain announces a policy (`_mta-sts` record)
    /// that could not be fetched, or the record could not be read. Senders holding a cached
    /// policy still enforce it, new ones do not: unless DANE protects the host, whether it
    /// is strippable is undecided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mta_sts_undecided: Option<String>,
}

impl Protection {
    /// Whether a sender may fall back to plaintext: `None` when undecided.
    pub fn strippable(&self) -> Option<bool> {
        if self.dane || self.mta_sts {
            Some(false)
        } else if self.mta_sts_undecided.is_some() {
            None
        } else {
            Some(true)
        }
    }
}

/// The domain's MTA-STS policy as the transport probe knows it.
#[derive(Debug, Clone)]
enum StsPolicy {
    /// No `_mta-sts` record (or not a domain target): no MTA-STS.
    None,
    Fetched(crate::mta_sts::Policy),
    /// Announced but not fetched, or the announcement unreadable: why.
    Undecided(String),
}

/// The MTA-STS policy of `domain` as a sender finds it: the `_mta-sts` TXT record first
/// (RFC 8461 3.1: a record starting `v=STSv1`), the policy only when it announces one.
async fn sts_policy(domain: &str, ctx: &ProbeContext) -> StsPolicy {
    use crate::resolver::DnsFailure;
    let name = format!("_mta-sts.{domain}");
    match ctx.deadline.run(ctx.resolver.txt(&name)).await {
        Err(_) => {
            return StsPolicy::Undecided(format!("{name}: no answer before the deadline"));
        }
        Ok(Err(DnsFailure::NxDomain | DnsFailure::NoData)) => return StsPolicy::None,
        Ok(Err(f)) => return StsPolicy::Undecided(format!("the record {name} is unreadable: {f}")),
        Ok(Ok(records)) if !records.iter().any(|t| t.starts_with("v=STSv1")) => {
            return StsPolicy::None;
        }
        Ok(Ok(_)) => {}
    }
    match crate::mta_sts::fetch(domain, ctx).await.policy {
        Ok(p) => StsPolicy::Fetched(p),
        Err(why) => StsPolicy::Undecided(format!(
            "{domain} announces MTA-STS ({name}) but its policy could not be fetched: {why}"
        )),
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransportReport {
    pub endpoints: Vec<Endpoint>,
    pub protection: Vec<Protection>,
}

impl TransportReport {
    /// The earliest certificate expiry seen (Unix seconds), for thresholds.
    pub fn earliest_not_after(&self) -> Option<i64> {
        self.endpoints
            .iter()
            .filter_map(|e| e.tls.as_ref()?.leaf.as_ref().map(|c| c.not_after))
            .min()
    }
}

/// Runs the transport checks on `target`.
pub async fn probe(settings: &TransportSettings, target: &str, ctx: &ProbeContext) -> Outcome {
    let (host, port) = match split_target(target) {
        Ok(x) => x,
        Err(e) => return Outcome::single(Finding::new("target", State::Unknown, e)),
    };
    let mut report = TransportReport::default();
    let mut findings = vec![];
    let domain_mode = port == 25
        && settings
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&host));
    if domain_mode {
        let mx = match ctx.deadline.run(ctx.resolver.mx(&host)).await {
            Err(_) => {
                return Outcome::single(Finding::new(
                    "mx",
                    State::Unknown,
                    "no MX answer before the deadline",
                ));
            }
            Ok(Ok(v)) => v,
            Ok(Err(f)) if f.is_negative_answer() => {
                return Outcome::single(Finding::new(
                    "mx",
                    State::Critical,
                    format!("{host} has no MX: {f}"),
                ));
            }
            Ok(Err(f)) => {
                return Outcome::single(Finding::new(
                    "mx",
                    crate::dns::failure_state(&f),
                    format!("MX of {host}: {f}"),
                ));
            }
        };
        let policy = sts_policy(&host, ctx).await;
        for (_, mx_host) in mx {
            mx_checks(
                settings,
                &mx_host,
                Some(&host),
                &policy,
                ctx,
                &mut report,
                &mut findings,
            )
            .await;
        }
    } else {
        match port {
            25 => {
                let none = StsPolicy::None;
                mx_checks(
                    settings,
                    &host,
                    None,
                    &none,
                    ctx,
                    &mut report,
                    &mut findings,
                )
                .await
            }
            587 | 465 | 993 | 143 => {
                service_checks(settings, &host, port, ctx, &mut report, &mut findings).await
            }
            p => findings.push(Finding::new(
                "target",
                State::Unknown,
                format!("port {p}: only 25, 587, 465, 993 and 143 are probed"),
            )),
        }
    }
    Outcome::new(findings, Report::Transport(Box::new(report)))
}

fn split_target(t: &str) -> Result<(String, u16), String> {
    let t = t.trim().trim_end_matches('.').to_ascii_lowercase();
    let (h, p) = match t.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (
            h.to_string(),
            p.parse::<u16>().map_err(|_| format!("`{t}`: bad port"))?,
        ),
        _ => (t.clone(), 25),
    };
    if h.is_empty() || p == 0 {
        return Err(format!("`{t}` is not host or host:port"));
    }
    Ok((h, p))
}

/// Addresses of `host` (A and AAAA), or the finding why there are none; a family whose
/// lookup failed while the other answered adds its own finding to `findings`.
async fn addresses(
    host: &str,
    ctx: &ProbeContext,
    findings: &mut Vec<Finding>,
) -> Result<Vec<IpAddr>, Finding> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    match ctx
        .deadline
        .run(ctx.resolver.ips_via(host))
        .await
        .map(|a| (a.ips, a.failed))
    {
        Err(_) => Err(Finding::new(
            format!("address:{host}"),
            State::Unknown,
            format!("no address for {host} before the deadline"),
        )),
        Ok((Ok(v), failed)) if !v.is_empty() => {
            // One family failed: the other's addresses are probed, and the failure told.
            if let Some(failed) = &failed {
                findings.push(crate::dns::family_failed(
                    format!("address:{host}"),
                    host,
                    failed,
                ));
            }
            Ok(v)
        }
        Ok((Ok(_), _))
        | Ok((
            Err(crate::resolver::DnsFailure::NxDomain | crate::resolver::DnsFailure::NoData),
            _,
        )) => Err(Finding::new(
            format!("address:{host}"),
            State::Critical,
            format!("{host} has no address: senders cannot connect"),
        )),
        Ok((Err(f), _)) => Err(Finding::new(
            format!("address:{host}"),
            crate::dns::failure_state(&f),
            format!("addresses of {host}: {f}"),
        )),
    }
}

/// What one SMTP session on port 25 found.
struct SmtpSession {
    endpoint: Endpoint,
    findings: Vec<Finding>,
}

async fn mx_checks(
    settings: &TransportSettings,
    host: &str,
    domain: Option<&str>,
    policy: &StsPolicy,
    ctx: &ProbeContext,
    report: &mut TransportReport,
    findings: &mut Vec<Finding>,
) {
    let addrs = match addresses(host, ctx, findings).await {
        Ok(a) => a,
        Err(f) => {
            findings.push(f);
            return;
        }
    };
    let sessions = futures::future::join_all(addrs.iter().enumerate().map(|(i, ip)| {
        // Relaying is tested once per host, on its first address.
        let relay = settings.open_relay && i == 0;
        smtp_session(settings, host, *ip, domain, relay, ctx)
    }))
    .await;
    let mut chains: Vec<Vec<Vec<u8>>> = vec![];
    let mut all_verified = true;
    for s in sessions {
        findings.extend(s.findings);
        if let Some(t) = &s.endpoint.tls {
            chains.push(t.chain.clone());
            all_verified &= t.verified.is_ok();
        } else {
            all_verified = false;
        }
        report.endpoints.push(s.endpoint);
    }
    // DANE: TLSA at _25._tcp.<host>, validated, matching every address' chain. An address
    // written as the target has no TLSA name: nothing to look up.
    let mut dane = false;
    let tlsa_name = format!("_25._tcp.{host}");
    let validating = match host.parse::<IpAddr>() {
        Ok(_) => Err(None),
        Err(_) => ctx
            .deadline
            .run(crate::dns::dnssec::validating_for(
                host,
                settings.trust_anchor.as_deref(),
                &ctx.resolver,
            ))
            .await
            .unwrap_or_else(|_| Err("no answer before the deadline".into()))
            .map_err(Some),
    };
    match validating {
        Err(None) => {}
        Err(Some(e)) => findings.push(Finding::new(
            format!("dane:{host}"),
            State::Unknown,
            format!("DANE of {host}: cannot validate: {e}"),
        )),
        Ok(v) => match ctx.deadline.run(v.tlsa(&tlsa_name)).await {
            Err(_) => findings.push(Finding::new(
                format!("dane:{host}"),
                State::Unknown,
                format!("{tlsa_name}: no answer before the deadline"),
            )),
            Ok(Err(f)) if f.is_negative_answer() => {}
            Ok(Err(f)) => findings.push(Finding::new(
                format!("dane:{host}"),
                crate::dns::failure_state(&f),
                format!("TLSA {tlsa_name}: {f}"),
            )),
            Ok(Ok((records, proof))) => {
                use hickory_resolver::proto::dnssec::Proof;
                let tlsa: Vec<dane::Tlsa> = records
                    .into_iter()
                    .map(|(usage, selector, matching, data)| dane::Tlsa {
                        usage,
                        selector,
                        matching,
                        data,
                    })
                    .collect();
                if proof != Proof::Secure {
                    findings.push(Finding::new(
                        format!("dane:{host}"),
                        if proof == Proof::Bogus { State::Critical } else { State::Warning },
                        format!("TLSA {tlsa_name} is published but not DNSSEC-secure ({proof:?}): senders ignore it"),
                    ));
                } else if !tlsa.iter().any(dane::Tlsa::usable) {
                    findings.push(Finding::new(
                        format!("dane:{host}"),
                        State::Warning,
                        format!("TLSA {tlsa_name} has no record usable for SMTP (usages 2 and 3)"),
                    ));
                } else if chains.is_empty() {
                    findings.push(Finding::new(format!("dane:{host}"), State::Critical, format!("{host} publishes TLSA but no TLS session could be set up: DANE senders will not deliver")));
                } else if chains.iter().all(|c| dane::chain_matches(&tlsa, c)) {
                    dane = true;
                    findings.push(Finding::new(
                        format!("dane:{host}"),
                        State::Ok,
                        format!("DANE: TLSA {tlsa_name} is secure and matches the certificate"),
                    ));
                } else {
                    findings.push(Finding::new(
                        format!("dane:{host}"),
                        State::Critical,
                        format!("DANE mismatch: TLSA {tlsa_name} does not match the certificate {host} presents: senders that use DANE will not deliver"),
                    ));
                }
            }
        },
    }
    // MTA-STS: enforce, this MX covered, and its certificate verifies.
    let mut sts = false;
    let undecided = match policy {
        StsPolicy::Undecided(why) => Some(why.clone()),
        _ => None,
    };
    if let StsPolicy::Fetched(p) = policy {
        let covered = p.mx.iter().any(|pat| crate::mta_sts::mx_matches(pat, host));
        if p.mode == crate::mta_sts::Mode::Enforce && covered {
            if all_verified {
                sts = true;
            } else {
                findings.push(Finding::new(
                    format!("mta-sts:{host}"),
                    State::Critical,
                    format!("MTA-STS enforces TLS for {host} but its certificate does not verify: senders that enforce the policy will not deliver"),
                ));
            }
        }
    }
    let check = format!("strippable:{host}");
    let f = match (dane, sts) {
        (true, true) => Finding::new(
            check,
            State::Ok,
            format!("{host} cannot be downgraded: DANE and MTA-STS protect it"),
        ),
        (true, false) => Finding::new(
            check,
            State::Ok,
            format!("{host} cannot be downgraded: DANE protects it"),
        ),
        (false, true) => Finding::new(
            check,
            State::Ok,
            format!("{host} cannot be downgraded: MTA-STS (enforce) protects it"),
        ),
        (false, false) => match &undecided {
            // Senders with the policy cached enforce it, new ones cannot fetch it.
            Some(why) => Finding::new(
                check,
                State::Unknown,
                format!("whether {host} can be downgraded is undecided: no DANE, and {why}"),
            ),
            None => Finding::new(
                check,
                settings.unprotected,
                format!(
                    "{host} can be downgraded: neither DANE nor an enforced MTA-STS policy makes senders refuse plaintext"
                ),
            ),
        },
    };
    findings.push(f);
    report.protection.push(Protection {
        host: host.to_string(),
        dane,
        mta_sts: sts,
        mta_sts_undecided: undecided,
    });
}

/// One SMTP session to `ip:25`: greeting, EHLO, STARTTLS, TLS, EHLO, optional relay test.
async fn smtp_session(
    settings: &TransportSettings,
    host: &str,
    ip: IpAddr,
    domain: Option<&str>,
    relay: bool,
    ctx: &ProbeContext,
) -> SmtpSession {
    let mut s = SmtpSession {
        endpoint: Endpoint {
            host: host.to_string(),
            port: 25,
            address: Some(ip),
            starttls_offered: None,
            tls: None,
        },
        findings: vec![],
    };
    let tag = format!("{host}/{ip}");
    let mut step = "connect";
    let result = ctx
        .deadline
        .run(async {
            let tcp = TcpStream::connect(SocketAddr::new(ip, 25)).await.map_err(|e| format!("cannot connect to {ip}:25: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let mut c = Conn::new(tcp);
            step = "greeting";
            expect(&mut c.reply().await, 220, "greeting")?;
            step = "EHLO";
            let ehlo = c.command(&format!("EHLO {}", settings.helo)).await.map_err(|e| e.to_string())?;
            if ehlo.code != 250 {
                return Err(format!("EHLO answered {}", ehlo.text()));
            }
            let offered = ehlo.has("STARTTLS");
            s.endpoint.starttls_offered = Some(offered);
            if !offered {
                s.findings.push(Finding::new(
                    format!("starttls:{tag}"),
                    if settings.require_starttls { State::Critical } else { State::Warning },
                    format!("{tag}: STARTTLS is not offered (disabled, or stripped on the way): mail to it travels in plaintext"),
                ));
                if relay {
                    relay_test(&mut c, domain, &tag, &mut s.findings).await;
                }
                let _ = c.command("QUIT").await;
                return Ok(());
            }
            step = "STARTTLS";
            let r = c.command("STARTTLS").await.map_err(|e| e.to_string())?;
            if r.code != 220 {
                s.findings.push(Finding::new(
                    format!("starttls:{tag}"),
                    State::Critical,
                    format!("{tag}: STARTTLS is advertised but answered `{}`: something strips TLS, senders fall back to plaintext", r.text()),
                ));
                let _ = c.command("QUIT").await;
                return Ok(());
            }
            step = "TLS handshake";
            let tcp = c.into_inner().map_err(|e| e.to_string())?;
            let (tls, report) = match ctx.tls.handshake(tcp, host).await {
                Ok(x) => x,
                Err(e) => {
                    s.findings.push(Finding::new(format!("starttls:{tag}"), State::Critical, format!("{tag}: {e}")));
                    return Ok(());
                }
            };
            s.findings.push(Finding::new(
                format!("starttls:{tag}"),
                State::Ok,
                format!("{tag}: STARTTLS works ({} {})", report.protocol.clone().unwrap_or_default(), report.cipher.clone().unwrap_or_default()),
            ));
            s.findings.push(cert_finding(&format!("cert:{tag}"), host, &report, settings.cert_warning_days));
            s.endpoint.tls = Some(report);
            let mut c = Conn::new(tls);
            step = "EHLO after STARTTLS";
            let ehlo = c.command(&format!("EHLO {}", settings.helo)).await.map_err(|e| e.to_string())?;
            if ehlo.code != 250 {
                return Err(format!("EHLO after STARTTLS answered {}", ehlo.text()));
            }
            if relay {
                step = "relay test";
                relay_test(&mut c, domain, &tag, &mut s.findings).await;
            }
            let _ = c.command("QUIT").await;
            Ok(())
        })
        .await;
    match result {
        Err(_) => s.findings.push(Finding::new(
            format!("smtp:{tag}"),
            State::Critical,
            format!("{tag}: the server went silent at the {step} step (no answer before the probe's deadline)"),
        )),
        Ok(Err(e)) => s.findings.push(Finding::new(format!("smtp:{tag}"), State::Critical, format!("{tag}: {e} (at the {step} step)"))),
        Ok(Ok(())) => {}
    }
    s
}

fn expect(r: &mut Result<Reply, smtp::ReplyError>, code: u16, what: &str) -> Result<(), String> {
    match r {
        Ok(r) if r.code == code => Ok(()),
        Ok(r) => Err(format!("{what} was `{}`, not {code}", r.text())),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// Never DATA: MAIL FROM a stranger, RCPT TO another stranger at a reserved domain; then
/// postmaster@ and abuse@ of the domain must be accepted; RSET.
async fn relay_test<IO: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<IO>,
    domain: Option<&str>,
    tag: &str,
    findings: &mut Vec<Finding>,
) {
    let Ok(mail) = c.command("MAIL FROM:<mailauth-probe@example.com>").await else {
        return;
    };
    if mail.code != 250 {
        let _ = c.command("RSET").await;
        return;
    }
    if let Ok(r) = c.command("RCPT TO:<relay-test@example.net>").await {
        let f = if r.code == 250 || r.code == 251 {
            Finding::new(
                format!("relay:{tag}"),
                State::Critical,
                format!(
                    "{tag} is an OPEN RELAY: it accepted mail from example.com to example.net without authentication (`{}`)",
                    r.text()
                ),
            )
        } else {
            Finding::new(
                format!("relay:{tag}"),
                State::Ok,
                format!("{tag} refuses to relay for strangers ({})", r.code),
            )
        };
        findings.push(f);
    }
    if let Some(d) = domain {
        for local in ["postmaster", "abuse"] {
            if let Ok(r) = c.command(&format!("RCPT TO:<{local}@{d}>")).await {
                let ok = r.code == 250 || r.code == 251;
                findings.push(Finding::new(
                    format!("rcpt:{local}:{tag}"),
                    if ok { State::Ok } else { State::Warning },
                    if ok {
                        format!("{tag} accepts {local}@{d}")
                    } else {
                        format!(
                            "{tag} refuses {local}@{d} (`{}`): RFC 5321 and RFC 2142 require it",
                            r.text()
                        )
                    },
                ));
            }
        }
    }
    let _ = c.command("RSET").await;
}

/// Submission and IMAP endpoints.
async fn service_checks(
    settings: &TransportSettings,
    host: &str,
    port: u16,
    ctx: &ProbeContext,
    report: &mut TransportReport,
    findings: &mut Vec<Finding>,
) {
    let addrs = match addresses(host, ctx, findings).await {
        Ok(a) => a,
        Err(f) => {
            findings.push(f);
            return;
        }
    };
    for ip in addrs {
        let tag = format!("{host}:{port}/{ip}");
        let mut ep = Endpoint {
            host: host.to_string(),
            port,
            address: Some(ip),
            starttls_offered: None,
            tls: None,
        };
        let mut step = "connect";
        let mut local = vec![];
        let result = ctx
            .deadline
            .run(async {
                let tcp = TcpStream::connect(SocketAddr::new(ip, port)).await.map_err(|e| format!("cannot connect: {e}"))?;
                let _ = tcp.set_nodelay(true);
                match port {
                    465 | 993 => {
                        step = "TLS handshake";
                        let (tls, rep) = ctx.tls.handshake(tcp, host).await?;
                        local.push(cert_finding(&format!("cert:{tag}"), host, &rep, settings.cert_warning_days));
                        ep.tls = Some(rep);
                        let mut c = Conn::new(tls);
                        step = "greeting";
                        if port == 465 {
                            expect(&mut c.reply().await, 220, "greeting")?;
                            let _ = c.command("QUIT").await;
                        } else {
                            let g = c.read_line().await.map_err(|e| e.to_string())?;
                            if !g.starts_with("* OK") {
                                return Err(format!("IMAP greeting `{g}`"));
                            }
                            let _ = c.send("a1 LOGOUT").await;
                        }
                        local.push(Finding::new(format!("tls:{tag}"), State::Ok, format!("{tag}: implicit TLS works")));
                        Ok(())
                    }
                    587 => {
                        let mut c = Conn::new(tcp);
                        step = "greeting";
                        expect(&mut c.reply().await, 220, "greeting")?;
                        step = "EHLO";
                        let ehlo = c.command(&format!("EHLO {}", settings.helo)).await.map_err(|e| e.to_string())?;
                        ep.starttls_offered = Some(ehlo.has("STARTTLS"));
                        if ehlo.has("AUTH") {
                            local.push(Finding::new(format!("auth-before-tls:{tag}"), State::Critical, format!("{tag} offers AUTH before STARTTLS: clients may send passwords in plaintext")));
                        }
                        step = "MAIL FROM before TLS";
                        let mail = c.command("MAIL FROM:<mailauth-probe@example.com>").await.map_err(|e| e.to_string())?;
                        if mail.is_positive() {
                            local.push(Finding::new(format!("mail-before-tls:{tag}"), State::Critical, format!("{tag} accepts MAIL FROM before STARTTLS")));
                            let _ = c.command("RSET").await;
                        }
                        step = "AUTH before TLS";
                        let auth = c.command("AUTH LOGIN").await.map_err(|e| e.to_string())?;
                        if auth.code == 334 {
                            local.push(Finding::new(format!("auth-before-tls:{tag}"), State::Critical, format!("{tag} accepts AUTH before STARTTLS (answered 334)")));
                            let _ = c.command("*").await;
                        } else if !ehlo.has("AUTH") {
                            local.push(Finding::new(format!("auth-before-tls:{tag}"), State::Ok, format!("{tag} refuses AUTH and MAIL before STARTTLS")));
                        }
                        if !ehlo.has("STARTTLS") {
                            local.push(Finding::new(format!("starttls:{tag}"), State::Critical, format!("{tag}: STARTTLS is not offered on the submission port")));
                            let _ = c.command("QUIT").await;
                            return Ok(());
                        }
                        step = "STARTTLS";
                        let r = c.command("STARTTLS").await.map_err(|e| e.to_string())?;
                        if r.code != 220 {
                            local.push(Finding::new(format!("starttls:{tag}"), State::Critical, format!("{tag}: STARTTLS answered `{}`", r.text())));
                            return Ok(());
                        }
                        step = "TLS handshake";
                        let (tls, rep) = ctx.tls.handshake(c.into_inner().map_err(|e| e.to_string())?, host).await?;
                        local.push(cert_finding(&format!("cert:{tag}"), host, &rep, settings.cert_warning_days));
                        ep.tls = Some(rep);
                        let mut c = Conn::new(tls);
                        step = "EHLO after STARTTLS";
                        let ehlo = c.command(&format!("EHLO {}", settings.helo)).await.map_err(|e| e.to_string())?;
                        local.push(Finding::new(
                            format!("starttls:{tag}"),
                            if ehlo.has("AUTH") { State::Ok } else { State::Warning },
                            if ehlo.has("AUTH") { format!("{tag}: STARTTLS works, AUTH offered after it") } else { format!("{tag}: STARTTLS works but no AUTH is offered after it") },
                        ));
                        let _ = c.command("QUIT").await;
                        Ok(())
                    }
                    _ => {
                        // 143: IMAP with STARTTLS; LOGINDISABLED before TLS.
                        let mut c = Conn::new(tcp);
                        step = "greeting";
                        let g = c.read_line().await.map_err(|e| e.to_string())?;
                        if !g.starts_with("* OK") {
                            return Err(format!("IMAP greeting `{g}`"));
                        }
                        step = "CAPABILITY";
                        c.send("a1 CAPABILITY").await.map_err(|e| e.to_string())?;
                        let mut caps = String::new();
                        for _ in 0..64 {
                            let l = c.read_line().await.map_err(|e| e.to_string())?;
                            if l.starts_with("a1 ") {
                                break;
                            }
                            caps.push_str(&l.to_ascii_uppercase());
                            caps.push(' ');
                        }
                        let starttls = caps.contains("STARTTLS");
                        ep.starttls_offered = Some(starttls);
                        if !caps.contains("LOGINDISABLED") {
                            local.push(Finding::new(format!("login-before-tls:{tag}"), State::Critical, format!("{tag} does not announce LOGINDISABLED before STARTTLS: clients may log in in plaintext")));
                        } else {
                            local.push(Finding::new(format!("login-before-tls:{tag}"), State::Ok, format!("{tag} disables LOGIN before STARTTLS")));
                        }
                        if !starttls {
                            local.push(Finding::new(format!("starttls:{tag}"), State::Critical, format!("{tag}: STARTTLS is not offered")));
                            return Ok(());
                        }
                        step = "STARTTLS";
                        c.send("a2 STARTTLS").await.map_err(|e| e.to_string())?;
                        let r = c.read_line().await.map_err(|e| e.to_string())?;
                        if !r.starts_with("a2 OK") {
                            local.push(Finding::new(format!("starttls:{tag}"), State::Critical, format!("{tag}: STARTTLS answered `{r}`")));
                            return Ok(());
                        }
                        step = "TLS handshake";
                        let (tls, rep) = ctx.tls.handshake(c.into_inner().map_err(|e| e.to_string())?, host).await?;
                        local.push(cert_finding(&format!("cert:{tag}"), host, &rep, settings.cert_warning_days));
                        ep.tls = Some(rep);
                        let mut c = Conn::new(tls);
                        let _ = c.send("a3 LOGOUT").await;
                        local.push(Finding::new(format!("starttls:{tag}"), State::Ok, format!("{tag}: STARTTLS works")));
                        Ok(())
                    }
                }
            })
            .await;
        match result {
            Err(_) => local.push(Finding::new(
                format!("service:{tag}"),
                State::Critical,
                format!("{tag}: the server went silent at the {step} step"),
            )),
            Ok(Err(e)) => local.push(Finding::new(
                format!("service:{tag}"),
                State::Critical,
                format!("{tag}: {e} (at the {step} step)"),
            )),
            Ok(Ok(())) => {}
        }
        findings.extend(local);
        report.endpoints.push(ep);
    }
}
