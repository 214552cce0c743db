//! The sending side of the round trip, over lettre: through the operator's own submission
//! server (STARTTLS on 587 or implicit TLS on 465, AUTH with a secret), or straight to a
//! recipient domain's MX on port 25 (opportunistic STARTTLS, no AUTH), the way another MTA
//! would deliver. Host names are resolved by our resolver and lettre is given the address, so
//! nothing asks the system resolver; TLS names and verification use the host name.
//!
//! What comes back is the server's answer or why it refused: a refused AUTH or a 5xx is a
//! send failure, never mistaken for a delivery failure.
//!
//! lettre reads a whole reply line before it checks its length, so the connection is ours:
//! we connect (and set up implicit TLS) and hand lettre a [`Capped`] stream, on which a
//! server sending an endless line costs at most [`MAX_SESSION_BYTES`].

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::limits::Capped;
use crate::{ProbeContext, Secret};

/// All a submission or MX server may send us in one session: replies are a few kilobytes.
pub const MAX_SESSION_BYTES: usize = 1 << 20;

impl<S: AsyncRead + AsyncWrite + Send + Sync + Unpin + std::fmt::Debug> AsyncTokioStream
    for Capped<S>
{
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.peer
            .ok_or_else(|| std::io::Error::other("peer address unknown"))
    }
}

/// TLS on the submission port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `STARTTLS` is required (587).
    StartTls,
    /// TLS from the first byte (465).
    Implicit,
}

/// The operator's submission server.
#[derive(Debug, Clone)]
pub struct Submission {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// SASL user name and password; `None` for a server that relays for our address.
    pub credentials: Option<(String, Secret)>,
}

/// How the message leaves.
#[derive(Debug, Clone)]
pub enum SendVia {
    Submission(Submission),
    /// Straight to each recipient domain's MX on port 25.
    Mx,
}

/// What the server said when it took the message.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// `host:port` (and address) that accepted it.
    pub server: String,
    /// Its reply, e.g. `250 2.0.0 Ok: queued as 15E1799E219`.
    pub reply: String,
}

fn tls_parameters(host: &str, ctx: &ProbeContext) -> Result<TlsParameters, String> {
    // The roots the app handed in, not lettre's own load of the system store (a file read).
    let mut b = TlsParameters::builder(host.to_string()).certificate_store(CertificateStore::None);
    for root in ctx.tls.system_roots() {
        let cert = Certificate::from_der(root.to_vec()).map_err(|e| format!("system CA: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    if let Some(pem) = ctx.tls.extra_ca_pem() {
        let cert = Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("extra CA: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls().map_err(|e| format!("TLS setup: {e}"))
}

fn envelope(from: &str, to: &[String]) -> Result<Envelope, String> {
    let from: Address = from
        .parse()
        .map_err(|e| format!("sender address `{from}`: {e}"))?;
    let to = to
        .iter()
        .map(|t| {
            t.parse::<Address>()
                .map_err(|e| format!("recipient address `{t}`: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| format!("envelope: {e}"))
}

/// How TLS is set up with a server.
enum HopTls {
    /// TLS from the first byte, verified for the host name (465).
    Implicit,
    /// STARTTLS, which must be offered (587).
    Required(TlsParameters),
    /// STARTTLS when offered (an MX on port 25).
    Opportunistic(TlsParameters),
}

/// The server one transaction goes to, and how.
struct Hop<'a> {
    host: &'a str,
    port: u16,
    tls: HopTls,
    credentials: Option<&'a (String, Secret)>,
}

/// One SMTP transaction: connect, EHLO, TLS, AUTH when configured, MAIL, RCPT..., DATA, QUIT.
async fn transact(
    hop: Hop<'_>,
    helo: &str,
    envelope: &Envelope,
    message: &[u8],
    ctx: &ProbeContext,
) -> Result<Accepted, String> {
    let Hop {
        host,
        port,
        tls,
        credentials,
    } = hop;
    let ip = super::addresses(host, ctx).await?[0];
    let server = format!("{host}:{port} ({ip})");
    let hello = ClientId::Domain(helo.to_string());
    let work = async {
        let addr = std::net::SocketAddr::new(ip, port);
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = match &tls {
            HopTls::Implicit => {
                let (stream, report) = ctx
                    .tls
                    .handshake(tcp, host)
                    .await
                    .map_err(|e| format!("TLS failed: {e}"))?;
                if let Err(why) = report.verified {
                    return Err(format!("TLS failed: {why}"));
                }
                let stream = Capped::new(stream, MAX_SESSION_BYTES, None).with_peer(Some(addr));
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await
            }
            HopTls::Required(_) | HopTls::Opportunistic(_) => {
                let stream = Capped::new(tcp, MAX_SESSION_BYTES, None).with_peer(Some(addr));
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await
            }
        }
        .map_err(|e| describe(&e))?;
        match tls {
            HopTls::Required(p) => conn.starttls(p, &hello).await,
            HopTls::Opportunistic(p) if conn.can_starttls() => conn.starttls(p, &hello).await,
            _ => Ok(()),
        }
        .map_err(|e| describe(&e))?;
        if let Some((user, password)) = credentials {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| describe(&e))?;
        }
        let reply = conn
            .send(envelope, message)
            .await
            .map_err(|e| describe(&e))?;
        // The message is taken; a server slow to say goodbye is not waited for.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), conn.quit()).await;
        Ok(reply)
    };
    match ctx.deadline.run(work).await {
        Err(_) => Err(format!("{server}: no answer before the deadline")),
        Ok(Err(e)) => Err(format!("{server}: {e}")),
        Ok(Ok(r)) => Ok(Accepted {
            server,
            reply: format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" ")),
        }),
    }
}

fn describe(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    if e.is_permanent() || e.is_transient() {
        format!("refused: {text}")
    } else if e.is_timeout() {
        format!("timed out: {text}")
    } else if e.is_tls() {
        format!("TLS failed: {text}")
    } else {
        text
    }
}

/// Sends `message` from `from` to `to` through the operator's submission server.
pub async fn submit(
    s: &Submission,
    helo: &str,
    from: &str,
    to: &[String],
    message: &[u8],
    ctx: &ProbeContext,
) -> Result<Accepted, String> {
    let envelope = envelope(from, to)?;
    let tls = match s.tls {
        SmtpTls::StartTls => HopTls::Required(tls_parameters(&s.host, ctx)?),
        SmtpTls::Implicit => HopTls::Implicit,
    };
    let hop = Hop {
        host: &s.host,
        port: s.port,
        tls,
        credentials: s.credentials.as_ref(),
    };
    transact(hop, helo, &envelope, message, ctx).await
}

/// Sends `message` straight to the MX hosts of `domain` (by preference; the next one only
/// when a host cannot be reached), as any MTA would.
pub async fn to_mx(
    domain: &str,
    helo: &str,
    from: &str,
    to: &[String],
    message: &[u8],
    ctx: &ProbeContext,
) -> Result<Accepted, String> {
    let envelope = envelope(from, to)?;
    let mut mx = ctx
        .deadline
        .run(ctx.resolver.mx(domain))
        .await
        .map_err(|_| format!("MX of {domain}: deadline reached"))?
        .map_err(|e| format!("MX of {domain}: {e}"))?;
    mx.sort_by_key(|(pref, _)| *pref);
    if mx.is_empty() {
        return Err(format!("{domain} has no MX"));
    }
    let mut last = String::new();
    for (_, host) in mx {
        if host == "." || host.is_empty() {
            return Err(format!("{domain} publishes a null MX: it accepts no mail"));
        }
        let params = tls_parameters(&host, ctx)?;
        let hop = Hop {
            host: &host,
            port: 25,
            tls: HopTls::Opportunistic(params),
            credentials: None,
        };
        match transact(hop, helo, &envelope, message, ctx).await {
            Ok(a) => return Ok(a),
            // A refusal is the MX's answer; only an unreachable host lets the next one try.
            Err(e) if e.contains("refused:") => return Err(e),
            Err(e) => last = e,
        }
    }
    Err(last)
}
