//! The `kind: transport` settings section: which domains (all their MX hosts) and endpoints
//! (`host`, `host:port`), our EHLO name, and how strict.

use std::collections::BTreeMap;

use mailauth_probes::State;
use mailauth_probes::transport::TransportSettings;
use serde::Deserialize;

use super::raw::RawState;
use super::yaml::Node;
use super::{Ctx, Domain, ProbeSettings};

#[derive(Debug, Deserialize)]
struct RawTransport {
    /// Names of `domains:` entries, or any mail domain: every MX host on port 25.
    #[serde(default)]
    domains: Vec<String>,
    /// Endpoints: `host` (port 25) or `host:port` with port 25, 587, 465, 993 or 143.
    #[serde(default)]
    targets: Vec<String>,
    /// Our EHLO name (default: mailauth-probe.invalid).
    helo: Option<String>,
    /// MX hosts must offer STARTTLS (default true).
    require_starttls: Option<bool>,
    /// A verified certificate expiring within this many days is a WARNING (default 14).
    cert_warning_days: Option<u32>,
    /// Test relaying for strangers on port 25 (default true; never sends DATA).
    open_relay: Option<bool>,
    /// State of an MX neither DANE nor MTA-STS protects: ok, warning (default), critical.
    unprotected: Option<RawState>,
}

const PORTS: &[u16] = &[25, 587, 465, 993, 143];

pub(super) fn load(
    node: &Node,
    path: &str,
    domains: &BTreeMap<String, Domain>,
    ctx: &mut Ctx,
) -> Option<(ProbeSettings, Vec<String>)> {
    let raw: RawTransport = super::kind_part(node, path, ctx)?;
    let mut ok = true;
    let mut targets = vec![];
    let mut doms = vec![];
    for (i, d) in raw.domains.iter().enumerate() {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if !matches!(
            mailauth_probes::dnsbl::Subject::parse(&d),
            Ok(mailauth_probes::dnsbl::Subject::Domain(_))
        ) {
            ctx.item_error(
                node,
                path,
                "domains",
                i,
                format!("`{d}` is not a domain name"),
            );
            ok = false;
            continue;
        }
        doms.push(d.clone());
        targets.push(d);
    }
    for (i, t) in raw.targets.iter().enumerate() {
        let t = t.trim().trim_end_matches('.').to_ascii_lowercase();
        let (host, port) = match t.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().ok()),
            None => (t.clone(), Some(25)),
        };
        let host_ok = mailauth_probes::dnsbl::Subject::parse(&host).is_ok();
        match port {
            Some(p) if PORTS.contains(&p) && host_ok => {
                targets.push(if p == 25 { host } else { t.clone() })
            }
            _ => {
                ctx.item_error(
                    node,
                    path,
                    "targets",
                    i,
                    format!("`{t}`: write host or host:port with port 25, 587, 465, 993 or 143"),
                );
                ok = false;
            }
        }
    }
    if raw.domains.is_empty() && raw.targets.is_empty() {
        for name in domains.keys() {
            doms.push(name.clone());
            targets.push(name.clone());
        }
        if targets.is_empty() {
            ctx.error(
                node,
                path,
                "nothing to check: give `domains:` or `targets:`, or define top-level `domains:`",
            );
            ok = false;
        }
    }
    super::dedup(&mut targets);
    let defaults = TransportSettings::default();
    let settings = TransportSettings {
        domains: doms,
        helo: raw.helo.unwrap_or(defaults.helo),
        require_starttls: raw.require_starttls.unwrap_or(true),
        cert_warning_days: raw.cert_warning_days.unwrap_or(14),
        open_relay: raw.open_relay.unwrap_or(true),
        unprotected: raw.unprotected.map_or(State::Warning, State::from),
        trust_anchor: None,
    };
    ok.then_some((ProbeSettings::Transport(settings), targets))
}
