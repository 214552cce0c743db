//! The round trip, the headline probe: a uniquely tokened test message leaves through the
//! operator's submission server (or straight to a seed mailbox's MX, optionally signed by the
//! probe), and is awaited with IMAP IDLE in seed mailboxes. It reports, as separate findings,
//! whether sending worked, whether and where (INBOX or Junk) and how fast the message was
//! delivered, and the receiver's verdicts (DKIM, SPF, DMARC, ARC) read from the
//! `Authentication-Results` headers the receiver itself added, next to our own DKIM and ARC
//! verification of the delivered copy.
//!
//! The incident it exists for: DKIM signing silently stopped after a configuration change,
//! mail went to recipients' Junk folders, and nobody knew.
//!
//! - [`message`]: the token and the message (pure).
//! - [`send`]: submission or direct-to-MX over lettre.
//! - [`imap`]: login, Junk folder, IDLE, fetch, clean-up over async-imap.
//! - `judge`: which trusted `Authentication-Results` result decides each method.
//! - `crate::authres`: the `Authentication-Results` parser and the trust boundary.

pub mod imap;
mod judge;
pub mod message;
pub mod send;

pub use judge::{DkimExpect, decide, judge_verdicts, read_verdicts, receiver_verdicts};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::authres;
use crate::{Deadline, Finding, Outcome, ProbeContext, Report, State};
use imap::{ImapAccount, Mailbox};
use message::Token;
use send::SendVia;

/// The probe's own DKIM signature (for operators testing a receiver rather than their signer).
pub struct ProbeSigner {
    pub domain: String,
    pub selector: String,
    signer: DkimSigner<RsaKey<Sha256>, mail_auth::dkim::Done>,
}

impl std::fmt::Debug for ProbeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

impl ProbeSigner {
    /// From an RSA private key in PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    pub fn from_pem(domain: &str, selector: &str, pem: &str) -> Result<Self, String> {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| "not a PEM private key (PKCS#1 or PKCS#8 RSA)".to_string())?;
        let key = RsaKey::<Sha256>::from_key_der(der)
            .map_err(|e| format!("not a usable RSA private key: {e}"))?;
        let domain = domain.to_ascii_lowercase();
        Ok(ProbeSigner {
            signer: DkimSigner::from_key(key)
                .domain(&domain)
                .selector(selector)
                .headers(message::SIGNED_HEADERS.iter().copied()),
            domain,
            selector: selector.to_string(),
        })
    }

    /// The `DKIM-Signature` header field (with its CRLF) for `message`.
    fn sign(&self, message: &[u8]) -> Result<String, String> {
        self.signer
            .sign(message)
            .map(|s| s.to_header())
            .map_err(|e| format!("DKIM signing failed: {e}"))
    }
}

/// One seed mailbox: where the message goes, how we read it, and whose verdicts we trust.
#[derive(Debug, Clone)]
pub struct SeedMailbox {
    /// A short name, the `mailbox` label (bounded: from the config).
    pub name: String,
    /// The recipient address.
    pub address: String,
    pub imap: ImapAccount,
    /// Whose `Authentication-Results` count: the receiver's authserv-id patterns, the `by`
    /// names of its own `Received` header (exact or `*.example.com`), and whether its verdict
    /// sits below that header (a `provider:` preset fills these).
    pub trust: authres::TrustRule,
    /// Accepted results per method (`dkim`, `spf`, `dmarc`, `arc`); methods not listed are
    /// reported but not judged.
    pub expect: Vec<(String, Vec<String>)>,
}

/// A `kind: roundtrip` probe's settings.
#[derive(Debug, Clone)]
pub struct RoundtripSettings {
    /// Envelope sender and `From:`.
    pub from: String,
    /// Our EHLO name.
    pub helo: String,
    pub via: SendVia,
    pub signer: Option<Arc<ProbeSigner>>,
    /// The selector that must have signed (our own verification); `None`: any aligned one.
    pub expect_selector: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub mailboxes: Vec<SeedMailbox>,
    /// The instance and probe the tokens name (`host/probe`), so replicas sharing a mailbox
    /// each remove only their own messages.
    pub owner: String,
    /// Our own earlier messages older than this are strays (the probe's timeout: their run is
    /// over).
    pub own_stray_age: Duration,
    /// Anyone's probe messages older than this are strays.
    pub stray_age: Duration,
    /// The state of a message filed into Junk.
    pub junk_state: State,
}

/// Where the message was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    Inbox,
    Junk,
    /// Sent, the mailbox was readable, and it did not arrive by the deadline.
    Missing,
}

impl Placement {
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Inbox => "inbox",
            Placement::Junk => "junk",
            Placement::Missing => "missing",
        }
    }
}

/// A method's result, as the receiver or we saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSeen {
    pub method: String,
    pub result: String,
}

/// What one seed mailbox saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MailboxReport {
    pub name: String,
    /// `None` when undecided (not sent, or the mailbox could not be read).
    pub placement: Option<Placement>,
    /// From the start of sending to the probe seeing the message.
    pub latency_seconds: Option<f64>,
    /// The receiver's verdicts from its trusted `Authentication-Results`.
    pub auth: Vec<AuthSeen>,
    /// Our own verification of the delivered copy (`dkim`, `arc`).
    pub own: Vec<AuthSeen>,
    /// `X-Spam-Flag`/`X-Spam-Status` verdict, when the receiver adds one.
    pub spam_flag: Option<bool>,
    /// (source, score): spamassassin, rspamd, microsoft_scl.
    pub spam_scores: Vec<(String, f64)>,
}

/// The typed report of a round trip.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoundtripReport {
    /// Whether the message was accepted for every mailbox it was sent to.
    pub sent: bool,
    pub mailboxes: Vec<MailboxReport>,
}

impl RoundtripReport {
    /// The slowest delivery, the Nagios main figure.
    pub fn max_latency(&self) -> Option<f64> {
        self.mailboxes
            .iter()
            .filter_map(|m| m.latency_seconds)
            .reduce(f64::max)
    }
}

/// Addresses of `host`: an IP literal as is, a name through our resolver (never the system's).
pub(crate) async fn addresses(
    host: &str,
    ctx: &ProbeContext,
) -> Result<Vec<std::net::IpAddr>, String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![ip]);
    }
    let ips = ctx
        .deadline
        .run(ctx.resolver.ips(host))
        .await
        .map_err(|_| format!("resolving {host}: deadline reached"))?
        .map_err(|e| format!("resolving {host}: {e}"))?;
    if ips.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(ips)
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A mailbox ready to watch: INBOX selected on one session, Junk on another.
struct Ready {
    inbox: Mailbox,
    junk: Option<(String, Mailbox)>,
    notes: Vec<String>,
    cleanup_error: Option<String>,
}

impl Ready {
    /// Its sessions, to log out of.
    fn sessions(self) -> impl Iterator<Item = Mailbox> {
        std::iter::once(self.inbox).chain(self.junk.map(|(_, j)| j))
    }
}

/// Logs in, finds Junk, removes strays from INBOX and Junk, and leaves one session per folder
/// selected.
async fn prepare(
    m: &SeedMailbox,
    s: &RoundtripSettings,
    token: &Token,
    ctx: &ProbeContext,
) -> Result<Ready, String> {
    let mut inbox = imap::connect(&m.imap, ctx).await?;
    let mut notes = vec![];
    if !inbox.idle {
        notes.push(if m.imap.idle {
            "the server offers no IDLE: polling".to_string()
        } else {
            "IDLE disabled by config: polling".to_string()
        });
    }
    let junk_name = imap::junk_folder(&mut inbox, &m.imap.junk_names, ctx).await?;
    let mut cleanup_error = None;
    let now = unix_millis();
    let mut removed = 0;
    let mut folders = vec!["INBOX".to_string()];
    folders.extend(junk_name.clone());
    for folder in folders.iter().rev() {
        imap::select(&mut inbox, folder, ctx).await?;
        match imap::strays(
            &mut inbox,
            &token.owner,
            token,
            now,
            s.own_stray_age,
            s.stray_age,
            ctx,
        )
        .await
        {
            Ok(uids) => {
                if let Err(e) =
                    imap::remove(&mut inbox, &uids, m.imap.move_to.as_deref(), ctx).await
                {
                    cleanup_error = Some(format!("{folder}: {e}"));
                } else {
                    removed += uids.len();
                }
            }
            Err(e) => cleanup_error = Some(format!("{folder}: {e}")),
        }
    }
    if removed > 0 {
        notes.push(format!("removed {removed} stray probe message(s)"));
    }
    // INBOX is selected last on the first session; Junk gets a session of its own.
    let junk = match junk_name {
        Some(name) => {
            let mut j = imap::connect(&m.imap, ctx).await?;
            imap::select(&mut j, &name, ctx).await?;
            Some((name, j))
        }
        None => {
            notes.push(format!(
                "no Junk folder (no SPECIAL-USE \\Junk, none named {}): only INBOX is watched",
                m.imap.junk_names.join(", ")
            ));
            None
        }
    };
    Ok(Ready {
        inbox,
        junk,
        notes,
        cleanup_error,
    })
}

/// What watching a mailbox's folders came to.
struct Seen {
    /// (folder, is-junk, session, uid, when seen)
    found: Option<(String, bool, Mailbox, u32, Instant)>,
    errors: Vec<String>,
    /// Sessions to log out of.
    idle: Vec<Mailbox>,
}

async fn watch(
    ready: Ready,
    token: &Token,
    poll: Duration,
    until: Instant,
    ctx: &ProbeContext,
) -> Seen {
    let mut waits = FuturesUnordered::new();
    let mut folders = vec![("INBOX".to_string(), false, ready.inbox)];
    if let Some((name, mb)) = ready.junk {
        folders.push((name, true, mb));
    }
    for (folder, junk, mb) in folders {
        waits.push(async move {
            let (mb, r) = imap::wait_for(mb, token, poll, until, ctx).await;
            (folder, junk, mb, r)
        });
    }
    let mut seen = Seen {
        found: None,
        errors: vec![],
        idle: vec![],
    };
    while let Some((folder, junk, mb, r)) = waits.next().await {
        match (mb, r) {
            (Some(mb), Ok(Some(uid))) => {
                seen.found = Some((folder, junk, mb, uid, Instant::now()));
                break;
            }
            (mb, Ok(None)) => seen.idle.extend(mb),
            (mb, Err(e)) => {
                seen.errors.push(format!("{folder}: {e}"));
                seen.idle.extend(mb);
            }
            (None, Ok(Some(_))) => {}
        }
    }
    seen
}

/// Runs one round trip. `target` is the sender's domain (the probe's only target).
pub async fn probe(s: &RoundtripSettings, target: &str, ctx: &ProbeContext) -> Outcome {
    let _ = target;
    let mut findings = vec![];
    let token = Token::new(&s.owner, unix_millis());
    let mut reports: Vec<MailboxReport> = s
        .mailboxes
        .iter()
        .map(|m| MailboxReport {
            name: m.name.clone(),
            ..MailboxReport::default()
        })
        .collect();

    // 1. Every mailbox logged in, cleaned and watching before the message leaves, within a
    // third of the time: a seed mailbox that hangs must leave time to send (else our own
    // submission server would be blamed for the deadline a mailbox used up).
    let prep_ctx = ProbeContext {
        deadline: Deadline::at(Instant::now() + ctx.deadline.remaining() / 3),
        ..ctx.clone()
    };
    let prepared: Vec<Result<Ready, String>> =
        futures::future::join_all(s.mailboxes.iter().map(|m| prepare(m, s, &token, &prep_ctx)))
            .await;
    let mut ready: Vec<Option<Ready>> = vec![];
    for (m, p) in s.mailboxes.iter().zip(prepared) {
        match p {
            Ok(r) => {
                let mut f = Finding::new(
                    format!("imap:{}", m.name),
                    State::Ok,
                    format!("logged in to {}:{}", m.imap.host, m.imap.port),
                );
                if !r.notes.is_empty() {
                    f = f.with_detail(r.notes.join("; "));
                }
                findings.push(f);
                if let Some(e) = &r.cleanup_error {
                    findings.push(
                        Finding::new(
                            format!("cleanup:{}", m.name),
                            State::Warning,
                            "could not remove earlier probe messages: the mailbox may fill up",
                        )
                        .with_detail(e.clone()),
                    );
                }
                ready.push(Some(r));
            }
            Err(e) => {
                findings.push(Finding::new(
                    format!("imap:{}", m.name),
                    State::Unknown,
                    format!("cannot read the seed mailbox: {e}"),
                ));
                ready.push(None);
            }
        }
    }

    // 2. The message leaves.
    let started = Instant::now();
    let to: Vec<String> = s.mailboxes.iter().map(|m| m.address.clone()).collect();
    let mut text = message::compose(
        &message::Compose {
            from: &s.from,
            to: &to,
            extra_headers: &s.extra_headers,
            unix_secs: token.millis / 1000,
        },
        &token,
    );
    if let Some(signer) = &s.signer {
        match signer.sign(text.as_bytes()) {
            Ok(h) => text.insert_str(0, &h),
            Err(e) => {
                findings.push(Finding::new("send", State::Unknown, e));
                let sessions = ready
                    .into_iter()
                    .flatten()
                    .flat_map(Ready::sessions)
                    .collect();
                return finish(findings, reports, false, sessions, ctx).await;
            }
        }
    }
    // Per mailbox: was it accepted for it?
    let mut accepted: Vec<Result<(), String>> = vec![Ok(()); s.mailboxes.len()];
    match &s.via {
        SendVia::Submission(sub) => {
            match send::submit(sub, &s.helo, &s.from, &to, text.as_bytes(), ctx).await {
                Ok(a) => findings.push(
                    Finding::new("send", State::Ok, format!("accepted by {}", a.server))
                        .with_detail(a.reply),
                ),
                Err(e) => {
                    findings.push(Finding::new(
                        "send",
                        State::Critical,
                        format!("submission failed: {e}"),
                    ));
                    accepted.iter_mut().for_each(|a| *a = Err(e.clone()));
                }
            }
        }
        SendVia::Mx => {
            let mut domains: Vec<String> = s
                .mailboxes
                .iter()
                .map(|m| message::domain_of(&m.address))
                .collect();
            domains.sort();
            domains.dedup();
            for d in domains {
                let rcpts: Vec<String> = s
                    .mailboxes
                    .iter()
                    .filter(|m| message::domain_of(&m.address) == d)
                    .map(|m| m.address.clone())
                    .collect();
                let check = format!("send:{d}");
                match send::to_mx(&d, &s.helo, &s.from, &rcpts, text.as_bytes(), ctx).await {
                    Ok(a) => findings.push(
                        Finding::new(check, State::Ok, format!("accepted by {}", a.server))
                            .with_detail(a.reply),
                    ),
                    Err(e) => {
                        findings.push(Finding::new(
                            check,
                            State::Critical,
                            format!("delivery to the MX of {d} failed: {e}"),
                        ));
                        for (m, a) in s.mailboxes.iter().zip(accepted.iter_mut()) {
                            if message::domain_of(&m.address) == d {
                                *a = Err(e.clone());
                            }
                        }
                    }
                }
            }
        }
    }
    let sent = accepted.iter().all(Result::is_ok);

    // 3. Wait for it everywhere at once; keep a little time to read and clean up.
    let reserve = (ctx.deadline.remaining() / 10).min(Duration::from_secs(5));
    let until = ctx.deadline.instant() - reserve;
    let poll = s
        .mailboxes
        .iter()
        .map(|m| m.imap.poll_interval)
        .min()
        .unwrap_or(Duration::from_secs(5));
    let mut watches = vec![];
    let mut leftover = vec![];
    for ((m, r), a) in s.mailboxes.iter().zip(ready).zip(&accepted) {
        match (r, a) {
            (Some(r), Ok(())) => watches.push(Some((m, r))),
            (r, _) => {
                leftover.extend(r);
                watches.push(None);
            }
        }
    }
    let seen: Vec<Option<Seen>> = futures::future::join_all(watches.into_iter().map(|w| {
        let token = &token;
        async move {
            match w {
                Some((m, r)) => {
                    Some(watch(r, token, poll.min(m.imap.poll_interval), until, ctx).await)
                }
                None => None,
            }
        }
    }))
    .await;

    // 4. Read what arrived, judge it, remove it.
    let timeout_text = humanize(started.elapsed());
    let mut sessions = vec![];
    for (((m, seen), a), rep) in s
        .mailboxes
        .iter()
        .zip(seen)
        .zip(&accepted)
        .zip(reports.iter_mut())
    {
        let delivery = format!("delivery:{}", m.name);
        let Some(seen) = seen else {
            let why = match a {
                Err(_) => "not sent (see the send finding)",
                Ok(()) => "not observed: the seed mailbox could not be read",
            };
            findings.push(Finding::new(delivery, State::Unknown, why));
            continue;
        };
        sessions.extend(seen.idle);
        let Some((folder, junk, mut mb, uid, at)) = seen.found else {
            if seen.errors.is_empty() {
                rep.placement = Some(Placement::Missing);
                findings.push(Finding::new(
                    delivery,
                    State::Critical,
                    format!("not delivered within {timeout_text}"),
                ));
            } else {
                findings.push(
                    Finding::new(
                        delivery,
                        State::Unknown,
                        "not observed: the seed mailbox connection failed while waiting",
                    )
                    .with_detail(seen.errors.join("; ")),
                );
            }
            continue;
        };
        let latency = at.duration_since(started);
        rep.latency_seconds = Some(latency.as_secs_f64());
        rep.placement = Some(if junk {
            Placement::Junk
        } else {
            Placement::Inbox
        });
        findings.push(Finding::new(
            delivery,
            State::Ok,
            format!("delivered in {}", humanize(latency)),
        ));
        findings.push(if junk {
            Finding::new(
                format!("placement:{}", m.name),
                s.junk_state,
                format!("filed into Junk (`{folder}`)"),
            )
        } else {
            Finding::new(format!("placement:{}", m.name), State::Ok, "INBOX")
        });
        match imap::fetch(&mut mb, uid, imap::MAX_PROBE_MESSAGE, ctx).await {
            Ok(raw) => {
                judge(m, s, &raw, rep, &mut findings, ctx).await;
            }
            Err(e) => findings.push(Finding::new(
                format!("verdict:{}", m.name),
                State::Unknown,
                format!("cannot fetch the delivered message: {e}"),
            )),
        }
        if let Err(e) = imap::remove(&mut mb, &[uid], m.imap.move_to.as_deref(), ctx).await {
            findings.push(
                Finding::new(
                    format!("cleanup:{}", m.name),
                    State::Warning,
                    "could not remove the probe message: the mailbox may fill up",
                )
                .with_detail(e),
            );
        }
        sessions.push(mb);
    }
    sessions.extend(leftover.into_iter().flat_map(Ready::sessions));
    finish(findings, reports, sent, sessions, ctx).await
}

/// Logs out of every session (within the deadline) and makes the outcome.
async fn finish(
    findings: Vec<Finding>,
    reports: Vec<MailboxReport>,
    sent: bool,
    sessions: Vec<Mailbox>,
    ctx: &ProbeContext,
) -> Outcome {
    let _ = ctx
        .deadline
        .run(futures::future::join_all(
            sessions.into_iter().map(imap::logout),
        ))
        .await;
    Outcome::new(
        findings,
        Report::Roundtrip(Box::new(RoundtripReport {
            sent,
            mailboxes: reports,
        })),
    )
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs_f64().round() as u64;
    if d < Duration::from_secs(10) {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// The receiver's verdicts (trusted headers only), our own DKIM/ARC verification, and the
/// spam verdict headers, into the report and findings.
async fn judge(
    m: &SeedMailbox,
    s: &RoundtripSettings,
    raw: &[u8],
    rep: &mut MailboxReport,
    findings: &mut Vec<Finding>,
    ctx: &ProbeContext,
) {
    let Some(msg) = mail_auth::AuthenticatedMessage::parse(raw) else {
        findings.push(Finding::new(
            format!("verdict:{}", m.name),
            State::Unknown,
            "the delivered message could not be parsed",
        ));
        return;
    };
    let trusted = authres::trusted_by(&msg.headers, &m.trust);
    let dkim = DkimExpect {
        domain: Some(message::domain_of(&s.from)),
        selector: s
            .expect_selector
            .clone()
            .or_else(|| s.signer.as_ref().map(|x| x.selector.clone())),
    };
    let (seen, mut fs) = receiver_verdicts(m, &trusted, &msg.headers, &dkim);
    rep.auth = seen;
    findings.append(&mut fs);
    // Spam verdict headers: anywhere in the header block, topmost first. Filters put them in
    // different places (Postfix appends a milter's headers at the end, header_checks PREPEND
    // above the matched line), and our own message carries none of them.
    {
        let spam = message::spam_verdict(msg.headers.iter().copied());
        rep.spam_flag = spam.flagged;
        rep.spam_scores = spam
            .scores
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }

    // Our own verification, with our resolver.
    let auth = mail_auth::MessageAuthenticator(ctx.resolver.hickory().clone());
    let from_domain = message::domain_of(&s.from);
    let dkim = match ctx.deadline.run(auth.verify_dkim(&msg)).await {
        Ok(d) => d,
        Err(_) => {
            findings.push(Finding::new(
                format!("own-dkim:{}", m.name),
                State::Unknown,
                "our own DKIM verification did not finish before the deadline",
            ));
            return;
        }
    };
    let passing: Vec<(&str, &str)> = dkim
        .iter()
        .filter(|o| matches!(o.result(), mail_auth::DkimResult::Pass))
        .filter_map(|o| o.signature().map(|s| (s.d.as_str(), s.s.as_str())))
        .collect();
    let own_result = if !passing.is_empty() {
        "pass"
    } else {
        dkim.first()
            .map(|o| dkim_result_name(o.result()))
            .unwrap_or("none")
    };
    rep.own.push(AuthSeen {
        method: "dkim".into(),
        result: own_result.into(),
    });
    let want_pass = m
        .expect
        .iter()
        .any(|(meth, ok)| meth == "dkim" && ok.iter().any(|r| r == "pass"));
    let expect_selector = s
        .expect_selector
        .clone()
        .or_else(|| s.signer.as_ref().map(|x| x.selector.clone()));
    let aligned: Vec<&(&str, &str)> = passing
        .iter()
        .filter(|(d, _)| message::aligned(d, &from_domain))
        .collect();
    let check = format!("own-dkim:{}", m.name);
    let sigs = dkim
        .iter()
        .map(|o| {
            format!(
                "{} ({})",
                o.signature()
                    .map(|s| format!("d={} s={}", s.d, s.s))
                    .unwrap_or_else(|| "unparsable signature".into()),
                dkim_result_name(o.result())
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let f = if passing.is_empty() {
        let state = if want_pass {
            State::Critical
        } else {
            State::Ok
        };
        let what = if dkim.is_empty() {
            "the delivered message carries no DKIM signature".to_string()
        } else {
            format!("no DKIM signature verifies: {sigs}")
        };
        Finding::new(check, state, what)
    } else if aligned.is_empty() {
        Finding::new(
            check,
            if want_pass { State::Warning } else { State::Ok },
            format!("DKIM verifies but no signing domain aligns with {from_domain}: {sigs}"),
        )
    } else if let Some(sel) = expect_selector
        .as_deref()
        .filter(|sel| !aligned.iter().any(|(_, s)| s == sel))
    {
        Finding::new(
            check,
            if want_pass { State::Warning } else { State::Ok },
            format!("DKIM verifies, but not with the expected selector `{sel}`: {sigs}"),
        )
    } else {
        Finding::new(check, State::Ok, format!("DKIM verifies: {sigs}"))
    };
    findings.push(f);

    let arc = match ctx.deadline.run(auth.verify_arc(&msg)).await {
        Ok(a) => dkim_result_name(a.result()),
        Err(_) => "temperror",
    };
    rep.own.push(AuthSeen {
        method: "arc".into(),
        result: arc.into(),
    });
    if arc != "none" {
        findings.push(Finding::new(
            format!("own-arc:{}", m.name),
            if arc == "pass" {
                State::Ok
            } else {
                State::Warning
            },
            format!("ARC chain: {arc}"),
        ));
    }
}

fn dkim_result_name(r: &mail_auth::DkimResult) -> &'static str {
    use mail_auth::DkimResult::*;
    match r {
        Pass => "pass",
        Neutral(_) => "neutral",
        Fail(_) => "fail",
        PermError(_) => "permerror",
        TempError(_) => "temperror",
        None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authres::{AuthResults, MethodResult, Property, Trusted};

    fn mailbox() -> SeedMailbox {
        SeedMailbox {
            name: "seed1".into(),
            address: "seed1@lab.test".into(),
            imap: ImapAccount {
                host: "imap.lab.test".into(),
                port: 993,
                tls: imap::ImapTls::Implicit,
                username: "seed1@lab.test".into(),
                auth: imap::ImapAuth::Password(crate::Secret::new("x")),
                idle: true,
                poll_interval: Duration::from_secs(5),
                junk_names: vec![],
                move_to: None,
            },
            trust: authres::TrustRule::new("mx.lab.test", &["mx.lab.test".into()]),
            expect: ["dkim", "spf", "dmarc"]
                .iter()
                .map(|m| (m.to_string(), vec!["pass".to_string()]))
                .collect(),
        }
    }

    fn result(method: &str, result: &str) -> MethodResult {
        MethodResult {
            method: method.into(),
            method_version: None,
            result: result.into(),
            reason: None,
            properties: vec![Property {
                ptype: "header".into(),
                name: "d".into(),
                value: "lab.test".into(),
            }],
            comments: vec![],
        }
    }

    fn trusted(results: Vec<MethodResult>, boundary: Option<usize>, ignored: usize) -> Trusted {
        Trusted {
            results: vec![AuthResults {
                authserv_id: "mx.lab.test".into(),
                version: None,
                results,
                ..AuthResults::default()
            }],
            boundary,
            ignored_below: ignored,
            ..Trusted::default()
        }
    }

    fn state_of(fs: &[Finding], check: &str) -> Option<State> {
        fs.iter().find(|f| f.check == check).map(|f| f.state)
    }

    #[test]
    fn expected_results_are_ok_and_others_critical() {
        let t = trusted(
            vec![
                result("dkim", "none"),
                result("spf", "pass"),
                result("arc", "fail"),
            ],
            Some(3),
            0,
        );
        let (seen, fs) = receiver_verdicts(&mailbox(), &t, &[], &DkimExpect::default());
        assert_eq!(state_of(&fs, "authres:seed1"), Some(State::Ok));
        assert_eq!(state_of(&fs, "dkim:seed1"), Some(State::Critical));
        assert_eq!(state_of(&fs, "spf:seed1"), Some(State::Ok));
        // Expected but not reported by the receiver.
        assert_eq!(state_of(&fs, "dmarc:seed1"), Some(State::Critical));
        // Reported but not judged.
        assert_eq!(state_of(&fs, "arc:seed1"), None);
        assert!(seen.contains(&AuthSeen {
            method: "arc".into(),
            result: "fail".into()
        }));
        let dkim = fs.iter().find(|f| f.check == "dkim:seed1").unwrap();
        assert!(
            dkim.summary.contains("dkim=none header.d=lab.test"),
            "{}",
            dkim.summary
        );
        assert_eq!(dkim.detail.as_deref(), Some("expected dkim=pass"));
    }

    fn signed(d: &str, sel: &str, res: &str) -> MethodResult {
        let mut r = result("dkim", res);
        r.properties = vec![
            Property {
                ptype: "header".into(),
                name: "d".into(),
                value: d.into(),
            },
            Property {
                ptype: "header".into(),
                name: "s".into(),
                value: sel.into(),
            },
        ];
        r
    }

    #[test]
    fn a_fail_is_never_hidden_by_a_pass_for_the_same_check() {
        // Two trusted fields (or two results in one) disagree about SPF: the fail decides.
        let t = trusted(
            vec![result("spf", "pass"), result("spf", "fail")],
            Some(1),
            0,
        );
        let (seen, fs) = receiver_verdicts(&mailbox(), &t, &[], &DkimExpect::default());
        assert_eq!(seen[0].result, "fail");
        assert_eq!(state_of(&fs, "spf:seed1"), Some(State::Critical));
        // The same DKIM signature failing in one field and passing in another.
        let t = trusted(
            vec![
                signed("lab.test", "s1", "fail"),
                signed("lab.test", "s1", "pass"),
            ],
            Some(1),
            0,
        );
        let expect = DkimExpect {
            domain: Some("lab.test".into()),
            selector: Some("s1".into()),
        };
        let (_, fs) = receiver_verdicts(&mailbox(), &t, &[], &expect);
        assert_eq!(state_of(&fs, "dkim:seed1"), Some(State::Critical));
    }

    #[test]
    fn the_expected_dkim_signature_decides_and_the_others_are_reported_beside_it() {
        // An ESP's signature fails, the sender's own (the expected one) passes: OK, with the
        // ESP's reported in the detail.
        let t = trusted(
            vec![
                signed("esp.example", "k1", "fail"),
                signed("lab.test", "s1", "pass"),
            ],
            Some(1),
            0,
        );
        let expect = DkimExpect {
            domain: Some("lab.test".into()),
            selector: Some("s1".into()),
        };
        let (seen, fs) = receiver_verdicts(&mailbox(), &t, &[], &expect);
        assert_eq!(seen[0].result, "pass");
        let f = fs.iter().find(|f| f.check == "dkim:seed1").unwrap();
        assert_eq!(f.state, State::Ok);
        assert!(
            f.detail
                .as_deref()
                .unwrap()
                .contains("header.d=esp.example"),
            "{f:?}"
        );
        // The other way round: the expected signature fails while the ESP's passes.
        let t = trusted(
            vec![
                signed("esp.example", "k1", "pass"),
                signed("lab.test", "s1", "fail"),
            ],
            Some(1),
            0,
        );
        let (seen, fs) = receiver_verdicts(&mailbox(), &t, &[], &expect);
        assert_eq!(seen[0].result, "fail");
        assert_eq!(state_of(&fs, "dkim:seed1"), Some(State::Critical));
        // No result for the expected signature: every signature counts, the worst decides.
        let other = DkimExpect {
            domain: Some("elsewhere.example".into()),
            selector: None,
        };
        let (seen, _) = receiver_verdicts(&mailbox(), &t, &[], &other);
        assert_eq!(seen[0].result, "fail");
    }

    #[test]
    fn no_boundary_or_no_trusted_header_is_unknown_not_ok() {
        let (seen, fs) = receiver_verdicts(
            &mailbox(),
            &trusted(vec![], None, 0),
            &[],
            &DkimExpect::default(),
        );
        assert!(seen.is_empty());
        assert_eq!(state_of(&fs, "authres:seed1"), Some(State::Unknown));
        assert_eq!(fs.len(), 1);
        let empty = Trusted {
            results: vec![],
            boundary: Some(2),
            ..Trusted::default()
        };
        let (_, fs) = receiver_verdicts(&mailbox(), &empty, &[], &DkimExpect::default());
        assert_eq!(state_of(&fs, "authres:seed1"), Some(State::Unknown));
    }

    #[test]
    fn forgeries_below_the_boundary_are_noted() {
        let t = trusted(vec![result("dkim", "none")], Some(1), 1);
        let (_, fs) = receiver_verdicts(&mailbox(), &t, &[], &DkimExpect::default());
        let f = fs.iter().find(|f| f.check == "authres:seed1").unwrap();
        assert!(f.detail.as_deref().unwrap().contains("ignored 1"));
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(humanize(Duration::from_millis(700)), "0.7s");
        assert_eq!(humanize(Duration::from_secs(42)), "42s");
        assert_eq!(humanize(Duration::from_secs(300)), "5m");
        assert_eq!(humanize(Duration::from_secs(290)), "4m50s");
    }

    #[test]
    fn probe_signer_refuses_what_is_not_a_key() {
        assert!(ProbeSigner::from_pem("lab.test", "probe", "not a key").is_err());
    }
}
