//! `check_mailauth --daemon URL`: a probe's latest results from a running daemon's
//! `/api/v1/results`, over `http://` or `https://` (the certificate verified by the probes'
//! TLS client against the system's CAs and `--ca-file`, before anything is sent), with basic
//! auth when the web config asks for it. hyper's client ([`mailauth_probes::http`]) speaks
//! HTTP/1.1; the answer's head is bounded to 16 KiB and its body to 16 MiB, and the plugin's
//! `--timeout` bounds the whole exchange.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use mailauth_probes::http::{self, BodyError};
use mailauth_probes::tls::TlsClient;
use tokio::net::TcpStream;

use crate::state::RunRecord;

/// How to reach the daemon.
pub struct DaemonAccess {
    /// `http://HOST[:PORT][/PREFIX]` or `https://...`.
    pub url: String,
    /// Extra trusted CAs (PEM text of `--ca-file`), for `https://`.
    pub ca_pem: Option<String>,
    /// Basic-auth user and password, when the daemon's web config names users.
    pub credentials: Option<(String, String)>,
}

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 16 << 20;

/// The latest results of `probe` (and `target`, when given). Err, for an UNKNOWN, when the
/// daemon cannot be reached, does not verify, refuses or has no result.
pub async fn results(
    access: &DaemonAccess,
    probe: &str,
    target: Option<&str>,
) -> Result<Vec<RunRecord>, String> {
    let uri: hyper::Uri = access
        .url
        .parse()
        // Not echoed: a URL may hold a password it should not.
        .map_err(|e| format!("--daemon: not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("--daemon: the URL must start with http:// or https://".into()),
    };
    let authority = uri
        .authority()
        .ok_or("--daemon: the URL has no host")?
        .clone();
    if authority.as_str().contains('@') {
        return Err(
            "--daemon: credentials do not go in the URL; use --daemon-user with --daemon-password-file or --daemon-password-env".into(),
        );
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("probe", probe);
    if let Some(t) = target {
        query.append_pair("target", t);
    }
    let path = format!(
        "{}/api/v1/results?{}",
        uri.path().trim_end_matches('/'),
        query.finish()
    );
    let authorization = match &access.credentials {
        None => None,
        Some((user, password)) => {
            let mut v = HeaderValue::from_str(&format!(
                "Basic {}",
                STANDARD.encode(format!("{user}:{password}"))
            ))
            .map_err(|_| "--daemon-user: not a valid header value")?;
            v.set_sensitive(true);
            Some(v)
        }
    };
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot reach the daemon at {authority}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let answer = if tls {
        let client = TlsClient::new(access.ca_pem.as_deref()).map_err(|e| e.to_string())?;
        let (stream, report) = client
            .handshake(tcp, host)
            .await
            .map_err(|e| format!("daemon at {authority}: TLS: {e}"))?;
        // Nothing, credentials least, goes to a daemon whose certificate does not verify.
        report.verified.map_err(|e| {
            format!("the certificate of the daemon at {authority} does not verify: {e}")
        })?;
        http::get(stream, authority.as_str(), &path, authorization, MAX_HEAD).await
    } else {
        http::get(tcp, authority.as_str(), &path, authorization, MAX_HEAD).await
    }
    .map_err(|e| format!("daemon at {authority}: {e}"))?;
    let status = answer.status;
    if status != StatusCode::OK {
        let hint = if status == StatusCode::UNAUTHORIZED {
            if access.credentials.is_some() {
                " (the user or password is not accepted)"
            } else {
                " (it needs --daemon-user with --daemon-password-file or --daemon-password-env)"
            }
        } else {
            ""
        };
        return Err(format!("daemon answered `{status}`{hint}"));
    }
    let body = answer.body(MAX_BODY).await.map_err(|e| match e {
        BodyError::TooLarge => format!("daemon: the answer is over {MAX_BODY} bytes"),
        BodyError::Read(e) => format!("daemon: reading the answer: {e}"),
    })?;
    let records: Vec<RunRecord> =
        serde_json::from_slice(&body).map_err(|e| format!("daemon: unreadable results: {e}"))?;
    if records.is_empty() {
        return Err(match target {
            Some(t) => format!(
                "the daemon has no result yet for probe `{probe}` and target `{t}` (unknown probe, or not run yet)"
            ),
            None => format!(
                "the daemon has no result yet for probe `{probe}` (unknown probe, or not run yet)"
            ),
        });
    }
    Ok(records)
}
