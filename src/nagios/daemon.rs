//! `check_mailauth --daemon URL`: a probe's latest results from a running daemon's
//! `/api/v1/results`, over `http://` or `https://` (the certificate verified by the probes'
//! TLS client against the system's CAs and `--ca-file`, before anything is sent), with basic
//! auth when the web config asks for it. hyper's client ([`mailauth_probes::http`]) speaks
//! HTTP/1.1; the answer's head is bounded to 16 KiB and its body to 16 MiB, and the plugin's
//! `--timeout` bounds the whole exchange. A result older than twice its probe's interval (or
//! `--max-age`) is stale: the daemon's scheduler is stuck or starved, and the plugin says
//! UNKNOWN rather than repeat an old verdict.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use mailauth_probes::http::{self, BodyError};
use mailauth_probes::tls::TlsClient;
use std::time::{Duration, SystemTime};

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
        let client = TlsClient::new(crate::trust::system_roots(), access.ca_pem.as_deref())
            .map_err(|e| e.to_string())?;
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

/// Why the results are too old to judge (UNKNOWN), or `None` when each is younger than
/// `max_age`, or else twice its probe's interval. A result without an interval (a daemon from
/// before the field) is judged only against `max_age`. The oldest stale result is named.
pub fn stale(records: &[RunRecord], now: f64, max_age: Option<Duration>) -> Option<String> {
    let (record, bound) = records
        .iter()
        .filter_map(|r| {
            let bound = match max_age {
                Some(m) => m.as_secs_f64(),
                None => 2.0 * r.interval_seconds?,
            };
            (now - r.finished_at > bound).then_some((r, bound))
        })
        .min_by(|a, b| a.0.finished_at.total_cmp(&b.0.finished_at))?;
    let since =
        SystemTime::UNIX_EPOCH + Duration::from_secs_f64((record.finished_at + bound).max(0.0));
    let age = Duration::from_secs((now - record.finished_at).max(0.0).round() as u64);
    Some(format!(
        "stale since {} (last run of `{}` {} ago)",
        humantime::format_rfc3339_seconds(since),
        record.target,
        humantime::format_duration(age)
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mailauth_probes::{Outcome, Report};

    use super::*;

    fn run(target: &str, finished_at: f64, interval: Option<f64>) -> RunRecord {
        RunRecord {
            probe: "bl".into(),
            kind: "dnsbl".into(),
            target: target.into(),
            finished_at,
            interval_seconds: interval,
            outcome: Arc::new(Outcome::new(vec![], Report::None)),
            history: None,
        }
    }

    #[test]
    fn a_result_older_than_twice_its_interval_is_stale() {
        let now = 1_000_000.0;
        let fresh = run("a", now - 119.0, Some(60.0));
        assert_eq!(stale(std::slice::from_ref(&fresh), now, None), None);
        let old = run("b", now - 125.0, Some(60.0));
        let why = stale(&[fresh.clone(), old.clone()], now, None).unwrap();
        assert_eq!(
            why,
            "stale since 1970-01-12T13:46:35Z (last run of `b` 2m 5s ago)"
        );
        // --max-age overrides the interval both ways.
        assert_eq!(
            stale(
                std::slice::from_ref(&old),
                now,
                Some(Duration::from_secs(600))
            ),
            None
        );
        assert!(stale(&[fresh], now, Some(Duration::from_secs(60))).is_some());
        // No interval (an older daemon): only --max-age judges.
        assert_eq!(stale(&[run("c", 0.0, None)], now, None), None);
    }
}
