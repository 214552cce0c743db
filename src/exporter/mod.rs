//! The HTTP side of the daemon (hyper): `/metrics`, `/probe`, `/`, `/api/v1/results`,
//! `/-/healthy`, `/-/ready`, `POST /-/reload`. Renders outcomes; runs probes only through the
//! runner (for `/probe`), and only against allowed targets, so the exporter is never a scanner
//! or a mail sender for strangers. TLS and basic auth come from the web config (`web.rs`);
//! `/-/reload` is served only when `exporter.enable_lifecycle` or basic auth allows it. Remote
//! input reaches a log line or an error body only through [`shown`] (bounded, escaped).

pub mod metrics;
mod pages;
pub mod web;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mailauth_probes::Deadline;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::daemon::App;
use crate::state::{RunRecord, now};

type Resp = Response<Full<Bytes>>;

/// Serves HTTP on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // Per connection, so a reload that changes the certificate applies to the next one.
        let tls = app
            .generation()
            .config
            .exporter
            .web
            .as_ref()
            .and_then(|w| w.tls.clone());
        let app = app.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, app, peer).await,
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, app, peer).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// A client has this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_connection<I>(io: I, app: Arc<App>, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle(app, req, peer).await) }
    });
    // Headers are bounded by the buffer (64 KiB) and hyper's count limit (100); bodies are
    // read only by /-/reload, and at most 1 KiB of it.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), svc);
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// `None` when the request may go on; the 401 answer when it lacks valid credentials for a
/// path that needs them (every path but `exporter.public_paths`, once the web config names
/// users).
async fn refuse_unauthenticated(
    app: &App,
    req: &Request<Incoming>,
    peer: SocketAddr,
) -> Option<Resp> {
    let generation = app.generation();
    let exporter = &generation.config.exporter;
    let web = exporter.web.as_ref().filter(|w| w.requires_auth())?;
    let path = req.uri().path();
    if exporter.public_paths.iter().any(|p| p == path) {
        return None;
    }
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let web = web.clone();
    // bcrypt is slow on purpose: off the async workers.
    let ok = tokio::task::spawn_blocking(move || web.authorized(header.as_deref()))
        .await
        .unwrap_or(false);
    if ok {
        return None;
    }
    if path == "/probe" || path == "/-/reload" {
        tracing::warn!(%peer, path, "refused a request without valid credentials");
    } else {
        let path = shown(path);
        tracing::debug!(%peer, %path, "refused a request without valid credentials");
    }
    let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    r.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"mailauth-probe\""),
    );
    Some(r)
}

fn text(status: StatusCode, body: impl Into<String>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn with_type(mut r: Resp, ct: &'static str) -> Resp {
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

async fn handle(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    if let Some(refusal) = refuse_unauthenticated(&app, &req, peer).await {
        return refusal;
    }
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or(""));
    match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => {
            let (ok, at) = app.store.reload_status();
            let body = metrics::encode(
                app.store.snapshot(),
                Some(metrics::DaemonFacts {
                    reload_successful: ok,
                    last_reload_success: at,
                    reports: app.generation().runtime.report_counters(),
                }),
            );
            with_type(text(StatusCode::OK, body), metrics::CONTENT_TYPE)
        }
        (&Method::GET, "/probe") => probe(&app, &req, &query, peer).await,
        (&Method::GET, "/api/v1/results") => {
            let probe = get(&query, "probe");
            let target = get(&query, "target");
            let records: Vec<RunRecord> = app
                .store
                .snapshot()
                .into_iter()
                .filter(|r| probe.is_none_or(|p| r.probe == p))
                .filter(|r| target.is_none_or(|t| r.target == t))
                .collect();
            let body = serde_json::to_string(&records).unwrap_or_else(|_| "[]".into());
            with_type(text(StatusCode::OK, body), "application/json")
        }
        (&Method::GET, "/") => with_type(
            text(
                StatusCode::OK,
                pages::index(&app.generation().config, &app.store.snapshot()),
            ),
            "text/html; charset=utf-8",
        ),
        (&Method::GET, "/-/healthy") => text(StatusCode::OK, "Healthy.\n"),
        (&Method::GET, "/-/ready") => text(StatusCode::OK, "Ready.\n"),
        (&Method::POST, "/-/reload") if !lifecycle_allowed(&app) => {
            tracing::warn!(%peer, "refused POST /-/reload: the lifecycle API is not enabled");
            text(
                StatusCode::FORBIDDEN,
                "POST /-/reload is off: set exporter.enable_lifecycle: true, or require \
                 credentials with basic_auth_users in the web config (SIGHUP reloads too)\n",
            )
        }
        (&Method::POST, "/-/reload") => {
            // Bounded body: nothing is expected, and nothing large is read.
            let _ = Limited::new(req.into_body(), 1024).collect().await;
            match app.reload().await {
                Ok(()) => {
                    tracing::info!("config reloaded by HTTP request");
                    text(StatusCode::OK, "config reloaded\n")
                }
                Err(e) => {
                    tracing::error!(error = %e, "config reload by HTTP request failed; the previous config stays in force");
                    text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("reload failed, the previous config stays in force:\n{e}"),
                    )
                }
            }
        }
        (_, "/-/reload") => text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Whether `POST /-/reload` may be served: the config enables the lifecycle API (as
/// Prometheus' `--web.enable-lifecycle`), or the web config's basic auth guards it (the caller
/// has then already been authenticated by [`refuse_unauthenticated`]).
fn lifecycle_allowed(app: &App) -> bool {
    let generation = app.generation();
    let exporter = &generation.config.exporter;
    exporter.enable_lifecycle
        || (exporter.web.as_ref().is_some_and(|w| w.requires_auth())
            && !exporter.public_paths.iter().any(|p| p == "/-/reload"))
}

async fn probe(
    app: &App,
    req: &Request<Incoming>,
    query: &[(String, String)],
    peer: SocketAddr,
) -> Resp {
    let (Some(module), Some(target)) = (get(query, "module"), get(query, "target")) else {
        return text(
            StatusCode::BAD_REQUEST,
            "usage: /probe?module=PROBE_NAME&target=TARGET\n",
        );
    };
    let generation = app.generation();
    let Some(probe) = generation.config.probe(module) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown module `{}`: it must name a probe of the config\n",
                shown(module)
            ),
        );
    };
    if matches!(probe.settings, crate::config::ProbeSettings::Reports(_)) {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "module `{module}` is a reports probe: it reads and moves mail, so it runs only on its schedule, not through /probe\n"
            ),
        );
    }
    let target = target.trim().to_ascii_lowercase();
    if let Some(why) = generation.config.refuses_probe_target(probe, &target) {
        // The target once, bounded and escaped; the reason does not repeat it.
        let shown = shown(&target);
        tracing::warn!(%peer, module, target = %shown, reason = %why, "refused /probe");
        return text(
            StatusCode::FORBIDDEN,
            format!("target `{shown}` refused: {why}\n"),
        );
    }
    // As blackbox_exporter does: finish before Prometheus gives up on the scrape.
    let deadline = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Deadline::after(Duration::from_secs_f64((s - 0.5).max(0.1))));
    let outcome = generation.runtime.run(probe, &target, deadline).await;
    let record = RunRecord {
        probe: probe.name.clone(),
        kind: probe.settings.kind().to_string(),
        target,
        finished_at: now(),
        outcome: Arc::new(outcome),
        history: None,
    };
    if get(query, "debug") == Some("true") {
        let body = format!(
            "Outcome:\n{}\n\nMetrics that would have been returned:\n{}",
            serde_json::to_string_pretty(&record).unwrap_or_default(),
            metrics::encode(vec![record], None)
        );
        return text(StatusCode::OK, body);
    }
    with_type(
        text(StatusCode::OK, metrics::encode(vec![record], None)),
        metrics::CONTENT_TYPE,
    )
}

fn get<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `a=b&c=d` as application/x-www-form-urlencoded (`+` is a space, `%XX` a byte; invalid
/// UTF-8 is replaced), decoded by the `form_urlencoded` crate.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// At most this many characters of remote input go into a log line or an error body.
pub const SHOWN_MAX: usize = 256;

/// Remote input (a query value, a path) as it may appear in a log line or an error body: cut
/// to [`SHOWN_MAX`] characters with a mark saying how many more there were, and control and
/// bidirectional-formatting characters escaped (`\n`, `\u{1b}`), so a request can neither
/// fill the log nor forge or reorder lines of it.
pub fn shown(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == SHOWN_MAX {
            let more = s.chars().count() - i;
            out.push_str(&format!("...[{more} more characters]"));
            break;
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_bounds_and_escapes_remote_input() {
        assert_eq!(shown("mx.example.org"), "mx.example.org");
        assert_eq!(
            shown("a\nb\r\u{1b}[31m\u{202e}"),
            "a\\nb\\r\\u{1b}[31m\\u{202e}"
        );
        let long = "é".repeat(SHOWN_MAX + 10);
        let s = shown(&long);
        assert_eq!(
            s,
            format!("{}...[10 more characters]", "é".repeat(SHOWN_MAX))
        );
    }

    #[test]
    fn query_decoding() {
        let q = parse_query("module=dnsbl-own&target=2001%3Adb8%3A%3A99&x=a+b&bad=%zz&t=%4");
        assert_eq!(get(&q, "module"), Some("dnsbl-own"));
        assert_eq!(get(&q, "target"), Some("2001:db8::99"));
        assert_eq!(get(&q, "x"), Some("a b"));
        assert_eq!(get(&q, "bad"), Some("%zz"));
        assert_eq!(get(&q, "t"), Some("%4"));
    }

    /// Found by the `exporter_query` fuzz target: `%+b` decoded as the byte 0x0b, because
    /// `u8::from_str_radix` accepts a sign; a `%` not followed by two hex digits is itself.
    #[test]
    fn percent_before_a_sign_is_literal() {
        let q = parse_query("x=a%+b&y=%-1&z=%2B%2b");
        let values: Vec<&str> = q.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["a% b", "%-1", "++"]);
    }
}
