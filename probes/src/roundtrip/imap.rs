//! The seed mailbox side of the round trip, over IMAP (async-imap): log in (password or
//! XOAUTH2 with a token the app's [`TokenSource`] gives at each run), find the Junk folder
//! (SPECIAL-USE `\Junk` first, then configured names), wait for the test message with IDLE
//! (polling where IDLE is not offered), fetch it, and delete or move our messages, including
//! strays of earlier runs. Every step runs under the caller's deadline; errors are text a
//! person reads and never contain a password or token.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_imap::types::{NameAttribute, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::message::{TOKEN_HEADER, Token};
use crate::{Deadline, Error, ProbeContext, Secret};

/// Any byte stream an IMAP session can run over (plain TCP before STARTTLS, then TLS).
pub trait IoStream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> IoStream for T {}
pub type Io = Box<dyn IoStream>;

/// How the mailbox's server wants TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// Port 993.
    Implicit,
    /// Port 143, `STARTTLS` before anything else.
    StartTls,
}

/// Where an XOAUTH2 bearer token comes from, asked once per login. The app implements it
/// (a file re-read at each run, a command run at each run): this crate does no file or process
/// I/O of its own. The token comes back as given; [`connect`] takes its first line and refuses
/// an empty one. Errors name the source, never the token.
pub trait TokenSource: Send + Sync + Debug {
    /// The current token, by `deadline` (a source that waits on something must stop then).
    fn token<'a>(&'a self, deadline: &'a Deadline) -> BoxFuture<'a, Result<Secret, Error>>;
}

/// How we log in.
#[derive(Debug, Clone)]
pub enum ImapAuth {
    Password(Secret),
    /// XOAUTH2 with a bearer token from this source at each run (e.g. a file kept fresh by an
    /// OAuth2 refresh job, or a command that prints one).
    OAuth2(Arc<dyn TokenSource>),
}

/// One seed mailbox's IMAP account.
#[derive(Debug, Clone)]
pub struct ImapAccount {
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    pub username: String,
    pub auth: ImapAuth,
    /// Use IDLE when the server offers it (default true); else poll.
    pub idle: bool,
    /// Polling interval when not idling.
    pub poll_interval: Duration,
    /// Junk folder names to try when no folder carries SPECIAL-USE `\Junk`.
    pub junk_names: Vec<String>,
    /// Move read probe messages here instead of deleting them.
    pub move_to: Option<String>,
}

/// A logged-in session and what the server offers.
pub struct Mailbox {
    pub session: Session<Io>,
    pub idle: bool,
    pub uidplus: bool,
    pub movable: bool,
}

/// The largest probe message we fetch: ours are a few kilobytes.
pub const MAX_PROBE_MESSAGE: u32 = 1 << 20;
/// The longest line a server may send. async-imap buffers up to 512 MiB for one response and
/// parses the buffer again from its start at every read: a 10 MB line kept a worker thread
/// busy for tens of seconds. Responses are short lines; a message arrives as a literal, whose
/// own lines (ours: under 1000 bytes) count separately.
pub const MAX_LINE_BYTES: usize = 64 << 10;
/// All a server may send in one session: a LIST of 10,000 folders, 200 stray headers and one
/// message fit well within it.
pub const MAX_SESSION_BYTES: usize = 64 << 20;

/// `io` with its reads capped (see [`crate::limits::Capped`]).
fn capped(io: impl IoStream + 'static) -> Io {
    Box::new(crate::limits::Capped::new(
        io,
        MAX_SESSION_BYTES,
        Some(MAX_LINE_BYTES),
    ))
}
/// At most this many stray probe messages are removed per folder and run.
const MAX_STRAYS: usize = 200;
/// An IDLE is renewed at least this often (RFC 2177 asks for less than 29 minutes).
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);

/// Connects, sets up TLS (verified: a seed mailbox we cannot trust is not observed), and
/// logs in.
pub async fn connect(account: &ImapAccount, ctx: &ProbeContext) -> Result<Mailbox, String> {
    let host = &account.host;
    let where_ = format!("{host}:{}", account.port);
    let mut last = format!("{where_}: no address");
    let mut tcp = None;
    for ip in super::addresses(host, ctx).await? {
        let addr = SocketAddr::new(ip, account.port);
        match ctx.deadline.run(TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => last = format!("connecting to {where_} ({addr}): {e}"),
            Err(_) => {
                return Err(format!("connecting to {where_} ({addr}): deadline reached"));
            }
        }
    }
    let tcp = tcp.ok_or(last)?;
    let _ = tcp.set_nodelay(true);
    let step = |what: &str| format!("{where_}: {what}: deadline reached");
    let stream: Io = match account.tls {
        ImapTls::Implicit => tls(Box::new(tcp), host, ctx).await?,
        ImapTls::StartTls => {
            // Capped before TLS too (the greeting); beneath TLS it then counts ciphertext,
            // whose records never hold a line feed-free run near MAX_LINE_BYTES in practice.
            let mut client = Client::new(capped(tcp));
            greeting(&mut client, &where_, ctx).await?;
            ctx.deadline
                .run(client.run_command_and_check_ok("STARTTLS", None))
                .await
                .map_err(|_| step("STARTTLS"))?
                .map_err(|e| format!("{where_}: STARTTLS refused: {e}"))?;
            tls(client.into_inner(), host, ctx).await?
        }
    };
    let mut client = Client::new(stream);
    if account.tls == ImapTls::Implicit {
        greeting(&mut client, &where_, ctx).await?;
    }
    let mut session = match &account.auth {
        ImapAuth::Password(p) => ctx
            .deadline
            .run(client.login(&account.username, p.expose()))
            .await
            .map_err(|_| step("LOGIN"))?
            .map_err(|(e, _)| format!("{where_}: login as {} refused: {e}", account.username))?,
        ImapAuth::OAuth2(source) => {
            let token = oauth2_token(source.as_ref(), ctx).await?;
            let auth = XOAuth2 {
                initial: format!("user={}\x01auth=Bearer {}\x01\x01", account.username, token),
                sent: false,
            };
            ctx.deadline
                .run(client.authenticate("XOAUTH2", auth))
                .await
                .map_err(|_| step("AUTHENTICATE XOAUTH2"))?
                .map_err(|(e, _)| {
                    format!(
                        "{where_}: XOAUTH2 login as {} refused: {e}",
                        account.username
                    )
                })?
        }
    };
    let caps = ctx
        .deadline
        .run(session.capabilities())
        .await
        .map_err(|_| step("CAPABILITY"))?
        .map_err(|e| format!("{where_}: CAPABILITY: {e}"))?;
    Ok(Mailbox {
        idle: account.idle && caps.has_str("IDLE"),
        uidplus: caps.has_str("UIDPLUS"),
        movable: caps.has_str("MOVE"),
        session,
    })
}

async fn tls(io: Io, host: &str, ctx: &ProbeContext) -> Result<Io, String> {
    let (stream, report) = ctx
        .deadline
        .run(ctx.tls.handshake(io, host))
        .await
        .map_err(|_| format!("{host}: TLS handshake: deadline reached"))?
        .map_err(|e| format!("{host}: {e}"))?;
    if let Err(why) = report.verified {
        return Err(format!(
            "{host}: the IMAP server's certificate does not verify: {why}"
        ));
    }
    Ok(capped(stream))
}

async fn greeting(client: &mut Client<Io>, where_: &str, ctx: &ProbeContext) -> Result<(), String> {
    match ctx.deadline.run(client.read_response()).await {
        Err(_) => Err(format!("{where_}: no greeting before the deadline")),
        Ok(Err(e)) => Err(format!("{where_}: reading the greeting: {e}")),
        Ok(Ok(None)) => Err(format!("{where_}: closed the connection before greeting")),
        Ok(Ok(Some(r))) => {
            use async_imap::imap_proto::{Response, Status};
            match r.parsed() {
                Response::Data {
                    status: Status::Ok | Status::PreAuth,
                    ..
                } => Ok(()),
                Response::Data { information, .. } => Err(format!(
                    "{where_}: refused us at greeting: {}",
                    information.as_deref().unwrap_or("")
                )),
                other => Err(format!("{where_}: unexpected greeting: {other:?}")),
            }
        }
    }
}

/// The bearer token of `source`: its first line, trimmed; empty or control characters refused.
async fn oauth2_token(source: &dyn TokenSource, ctx: &ProbeContext) -> Result<String, String> {
    let given = source
        .token(&ctx.deadline)
        .await
        .map_err(|e| e.to_string())?;
    one_line_token(given.expose())
        .ok_or_else(|| "the OAuth2 token is empty or not one line of text".into())
}

/// The first line of `text`, trimmed, when it is a usable bearer token.
fn one_line_token(text: &str) -> Option<String> {
    let token = text.lines().next().unwrap_or("").trim();
    (!token.is_empty() && !token.bytes().any(|b| b.is_ascii_control())).then(|| token.to_string())
}

/// SASL XOAUTH2: the initial response, then an empty answer to the error challenge a server
/// sends on failure (so it finishes with NO instead of waiting).
struct XOAuth2 {
    initial: String,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            String::new()
        } else {
            self.sent = true;
            self.initial.clone()
        }
    }
}

/// The Junk folder: the first with SPECIAL-USE `\Junk`, else the first whose name matches one
/// of `names` (case-insensitively).
pub async fn junk_folder(
    mb: &mut Mailbox,
    names: &[String],
    ctx: &ProbeContext,
) -> Result<Option<String>, String> {
    let listed = ctx
        .deadline
        .run(async {
            let mut out = vec![];
            let mut stream = mb.session.list(Some(""), Some("*")).await?;
            while let Some(n) = stream.next().await {
                let n = n?;
                let junk = n
                    .attributes()
                    .iter()
                    .any(|a| matches!(a, NameAttribute::Junk));
                let noselect = n
                    .attributes()
                    .iter()
                    .any(|a| matches!(a, NameAttribute::NoSelect));
                if !noselect {
                    out.push((n.name().to_string(), junk));
                }
                if out.len() > 10_000 {
                    break;
                }
            }
            Ok::<_, async_imap::error::Error>(out)
        })
        .await
        .map_err(|_| "LIST: deadline reached".to_string())?
        .map_err(|e| format!("LIST: {e}"))?;
    drain(&mut mb.session);
    if let Some((n, _)) = listed.iter().find(|(_, junk)| *junk) {
        return Ok(Some(n.clone()));
    }
    for want in names {
        if let Some((n, _)) = listed.iter().find(|(n, _)| n.eq_ignore_ascii_case(want)) {
            return Ok(Some(n.clone()));
        }
    }
    Ok(None)
}

/// Selects `folder` (read-write: we delete what we read).
pub async fn select(mb: &mut Mailbox, folder: &str, ctx: &ProbeContext) -> Result<(), String> {
    ctx.deadline
        .run(mb.session.select(folder))
        .await
        .map_err(|_| format!("SELECT {folder}: deadline reached"))?
        .map_err(|e| format!("SELECT {folder}: {e}"))?;
    drain(&mut mb.session);
    Ok(())
}

/// Every message of the selected folder (UIDs, ascending).
pub async fn all(mb: &mut Mailbox, ctx: &ProbeContext) -> Result<Vec<u32>, String> {
    search(mb, "ALL", ctx).await
}

/// How many messages `folder` holds (STATUS MESSAGES).
pub async fn count(mb: &mut Mailbox, folder: &str, ctx: &ProbeContext) -> Result<u32, String> {
    let m = ctx
        .deadline
        .run(mb.session.status(folder, "(MESSAGES)"))
        .await
        .map_err(|_| format!("STATUS {folder}: deadline reached"))?
        .map_err(|e| format!("STATUS {folder}: {e}"))?;
    drain(&mut mb.session);
    Ok(m.exists)
}

/// Creates `folder` unless it exists.
pub async fn ensure_folder(
    mb: &mut Mailbox,
    folder: &str,
    ctx: &ProbeContext,
) -> Result<(), String> {
    let exists = ctx
        .deadline
        .run(async {
            let mut s = mb.session.list(Some(""), Some(folder)).await?;
            let mut found = false;
            while let Some(n) = s.next().await {
                found |= n?.name() == folder;
            }
            Ok::<_, async_imap::error::Error>(found)
        })
        .await
        .map_err(|_| format!("LIST {folder}: deadline reached"))?
        .map_err(|e| format!("LIST {folder}: {e}"))?;
    drain(&mut mb.session);
    if exists {
        return Ok(());
    }
    ctx.deadline
        .run(mb.session.create(folder))
        .await
        .map_err(|_| format!("CREATE {folder}: deadline reached"))?
        .map_err(|e| format!("CREATE {folder}: {e}"))?;
    drain(&mut mb.session);
    Ok(())
}

/// Empties the unsolicited-response channel; true when it said new mail arrived.
fn drain(session: &mut Session<Io>) -> bool {
    let mut fresh = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        if matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        ) {
            fresh = true;
        }
    }
    fresh
}

async fn search(mb: &mut Mailbox, query: &str, ctx: &ProbeContext) -> Result<Vec<u32>, String> {
    let mut uids: Vec<u32> = ctx
        .deadline
        .run(mb.session.uid_search(query))
        .await
        .map_err(|_| "UID SEARCH: deadline reached".to_string())?
        .map_err(|e| format!("UID SEARCH: {e}"))?
        .into_iter()
        .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// Waits in the selected folder until the message with `token` is there (its UID) or
/// `until` passes (`None`). IDLE when offered, else NOOP + SEARCH every poll interval.
/// Takes the mailbox by value because IDLE does, and gives it back unless the session was lost
/// in the middle of an IDLE.
pub async fn wait_for(
    mut mb: Mailbox,
    token: &Token,
    poll_interval: Duration,
    until: Instant,
    ctx: &ProbeContext,
) -> (Option<Mailbox>, Result<Option<u32>, String>) {
    let query = format!("HEADER {TOKEN_HEADER} {}", token.id);
    loop {
        match search(&mut mb, &query, ctx).await {
            Ok(uids) => {
                if let Some(uid) = uids.last() {
                    return (Some(mb), Ok(Some(*uid)));
                }
            }
            Err(e) => return (Some(mb), Err(e)),
        }
        // New mail announced with the SEARCH answer: look again before waiting.
        if drain(&mut mb.session) {
            continue;
        }
        let now = Instant::now();
        if now >= until {
            return (Some(mb), Ok(None));
        }
        let wait = until - now;
        if mb.idle {
            let Mailbox {
                session,
                idle,
                uidplus,
                movable,
            } = mb;
            let mut handle = session.idle();
            match ctx.deadline.run(handle.init()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return (None, Err(format!("IDLE: {e}"))),
                Err(_) => return (None, Err("IDLE: deadline reached".into())),
            }
            {
                let (fut, _stop) = handle.wait_with_timeout(wait.min(IDLE_RENEW));
                // Any answer (new data, timeout) ends the wait; the SEARCH above decides.
                let _ = ctx.deadline.run(fut).await;
            }
            match ctx.deadline.run(handle.done()).await {
                Ok(Ok(session)) => {
                    mb = Mailbox {
                        session,
                        idle,
                        uidplus,
                        movable,
                    }
                }
                Ok(Err(e)) => return (None, Err(format!("IDLE DONE: {e}"))),
                Err(_) => return (None, Err("IDLE DONE: deadline reached".into())),
            }
        } else {
            tokio::time::sleep(wait.min(poll_interval)).await;
            let noop = match ctx.deadline.run(mb.session.noop()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(format!("NOOP: {e}")),
                Err(_) => Err("NOOP: deadline reached".to_string()),
            };
            if let Err(e) = noop {
                return (Some(mb), Err(e));
            }
        }
    }
}

/// Fetches the whole message `uid` of the selected folder without setting `\Seen`, refusing
/// one over `max` bytes (by its RFC822.SIZE, before reading it).
pub async fn fetch(
    mb: &mut Mailbox,
    uid: u32,
    max: u32,
    ctx: &ProbeContext,
) -> Result<Vec<u8>, String> {
    let r = ctx
        .deadline
        .run(async {
            let size = {
                let mut s = mb.session.uid_fetch(uid.to_string(), "RFC822.SIZE").await?;
                let mut size = None;
                while let Some(f) = s.next().await {
                    if let Some(n) = f?.size {
                        size = Some(n);
                    }
                }
                size
            };
            if size.is_some_and(|n| n > max) {
                return Ok(Err(format!(
                    "message {uid} is {} bytes, over the {max}-byte limit",
                    size.unwrap_or(0)
                )));
            }
            let mut s = mb.session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?;
            let mut body = None;
            while let Some(f) = s.next().await {
                let f = f?;
                if let Some(b) = f.body() {
                    body = Some(b.to_vec());
                }
            }
            Ok::<_, async_imap::error::Error>(
                body.ok_or_else(|| format!("message {uid} came back without a body")),
            )
        })
        .await
        .map_err(|_| "UID FETCH: deadline reached".to_string())?
        .map_err(|e| format!("UID FETCH: {e}"))?;
    drain(&mut mb.session);
    r
}

/// Deletes (or moves to `move_to`) the messages `uids` of the selected folder.
pub async fn remove(
    mb: &mut Mailbox,
    uids: &[u32],
    move_to: Option<&str>,
    ctx: &ProbeContext,
) -> Result<(), String> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let (uidplus, movable) = (mb.uidplus, mb.movable);
    let r = ctx
        .deadline
        .run(async {
            if let Some(folder) = move_to {
                if movable {
                    return mb.session.uid_mv(&set, folder).await;
                }
                mb.session.uid_copy(&set, folder).await?;
            }
            {
                let mut s = mb
                    .session
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await?;
                while let Some(f) = s.next().await {
                    f?;
                }
            }
            if uidplus {
                let s = mb.session.uid_expunge(&set).await?;
                futures::pin_mut!(s);
                while let Some(u) = s.next().await {
                    u?;
                }
            } else {
                // Without UIDPLUS, EXPUNGE removes every \Deleted message of the folder:
                // seed mailboxes are dedicated to probing, so that is only ours.
                let s = mb.session.expunge().await?;
                futures::pin_mut!(s);
                while let Some(u) = s.next().await {
                    u?;
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| "removing probe messages: deadline reached".to_string())?
        .map_err(|e| format!("removing probe messages: {e}"));
    drain(&mut mb.session);
    r
}

/// Our earlier messages in the selected folder that may go: this owner's older than
/// `own_age` (their runs are over), anyone's older than `any_age`. Never `current`.
pub async fn strays(
    mb: &mut Mailbox,
    owner: &str,
    current: &Token,
    now_millis: u64,
    own_age: Duration,
    any_age: Duration,
    ctx: &ProbeContext,
) -> Result<Vec<u32>, String> {
    let uids = search(mb, &format!("HEADER {TOKEN_HEADER} \"v=1\""), ctx).await?;
    if uids.is_empty() {
        return Ok(vec![]);
    }
    let set = uids
        .iter()
        .take(MAX_STRAYS)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let headers = ctx
        .deadline
        .run(async {
            let mut out = vec![];
            let mut s = mb.session.uid_fetch(&set, "BODY.PEEK[HEADER]").await?;
            while let Some(f) = s.next().await {
                let f = f?;
                if let (Some(uid), Some(h)) = (f.uid, f.header()) {
                    out.push((uid, h.to_vec()));
                }
            }
            Ok::<_, async_imap::error::Error>(out)
        })
        .await
        .map_err(|_| "UID FETCH (headers): deadline reached".to_string())?
        .map_err(|e| format!("UID FETCH (headers): {e}"))?;
    drain(&mut mb.session);
    let mut gone = vec![];
    for (uid, header) in headers {
        let Some(token) = token_in(&header) else {
            continue;
        };
        if token.id == current.id {
            continue;
        }
        let age = Duration::from_millis(now_millis.saturating_sub(token.millis));
        if (token.owner == owner && age > own_age) || age > any_age {
            gone.push(uid);
        }
    }
    Ok(gone)
}

/// Our token in a message's header block, if it carries one we wrote.
pub fn token_in(header: &[u8]) -> Option<Token> {
    let text = String::from_utf8_lossy(header);
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            break;
        }
        let Some((name, first)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case(TOKEN_HEADER) {
            continue;
        }
        let mut value = first.to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with([' ', '\t']) {
                value.push_str(next);
                lines.next();
            } else {
                break;
            }
        }
        return Token::parse(value.trim());
    }
    None
}

/// Says goodbye, briefly: a server that does not answer LOGOUT is not waited for.
pub async fn logout(mut mb: Mailbox) {
    let _ = tokio::time::timeout(Duration::from_secs(1), mb.session.logout()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_token_is_found_in_a_header_block_even_folded() {
        let t = Token::new("a.b", 7);
        let h = format!(
            "Subject: x\r\nX-Mailauth-Probe: v=1; owner=a.b;\r\n t=7; id={}\r\n\r\n",
            t.id
        );
        assert_eq!(token_in(h.as_bytes()), Some(t.clone()));
        let lower = format!("x-mailauth-probe: {}\r\n\r\n", t.header_value());
        assert_eq!(token_in(lower.as_bytes()), Some(t));
        // In the body, or not ours: nothing.
        assert_eq!(token_in(b"Subject: x\r\n\r\nX-Mailauth-Probe: v=1; owner=a; t=1; id=00000000000000000000000000000000\r\n"), None);
        assert_eq!(token_in(b"X-Mailauth-Probe: v=9\r\n\r\n"), None);
    }

    #[test]
    fn a_token_is_its_first_line_trimmed_and_never_empty() {
        assert_eq!(one_line_token("ya29.abc\n").as_deref(), Some("ya29.abc"));
        assert_eq!(
            one_line_token("  tok \r\nsecond line\n").as_deref(),
            Some("tok")
        );
        assert_eq!(one_line_token(""), None);
        assert_eq!(one_line_token("\n\ntok"), None);
        assert_eq!(one_line_token("to\x01k"), None);
    }
}
