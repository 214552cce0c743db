//! The sending side of the round trip, over lettre: through the operator's own submission
//! server (STARTTLS on 587 or implicit TLS on 465, AUTH with a secret), or straight to a
//! recipient domain's MX on port 25 (opportunistic STARTTLS, no AUTH), the way another MTA
//! would deliver. Host names are resolved by our resolver and lettre is given the address, so
//! nothing asks the system resolver; TLS names and verification use the host name.
//!
//! What comes back is the server's answer or why it refused: a refused AUTH or a 5xx is a
//! send failure, never mistaken for a delivery failure.

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::{ProbeContext, Secret};

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
    let mut b = TlsParameters::builder(host.to_string());
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

/// The server one transaction goes to, and how.
struct Hop<'a> {
    host: &'a str,
    port: u16,
    tls: Tls,
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
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
        .port(port)
        .tls(tls)
        .hello_name(ClientId::Domain(helo.to_string()))
        .timeout(Some(ctx.deadline.remaining()));
    if let Some((user, password)) = credentials {
        b = b
            .credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    let transport = b.build();
    match ctx
        .deadline
        .run(transport.send_raw(envelope, message))
        .await
    {
        Err(_) => Err(format!("{server}: no answer before the deadline")),
        Ok(Err(e)) => Err(format!("{server}: {}", describe(&e))),
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
    let params = tls_parameters(&s.host, ctx)?;
    let tls = match s.tls {
        SmtpTls::StartTls => Tls::Required(params),
        SmtpTls::Implicit => Tls::Wrapper(params),
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
            tls: Tls::Opportunistic(params),
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
