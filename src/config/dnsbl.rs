//! The `kind: dnsbl` settings section: which zones, which subjects, the DQS key.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use mailauth_probes::dnsbl::{DnsblSettings, Subject, TestPoints, Zone, ZoneKind, default_zones};
use serde::Deserialize;

use super::yaml::Node;
use super::{Ctx, Domain, ProbeSettings};

#[derive(Debug, Deserialize)]
struct RawDnsbl {
    /// IPs and domains to check, written out.
    #[serde(default)]
    targets: Vec<String>,
    /// Names of `domains:` entries: their `sending_ips` and the domain itself.
    #[serde(default)]
    domains: Vec<String>,
    /// The zones; the default list when absent.
    zones: Option<Vec<RawZone>>,
    #[allow(dead_code)] // read by Ctx::secret from the node
    dqs_key_file: Option<PathBuf>,
    #[allow(dead_code)]
    dqs_key_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawZoneKind {
    Ip,
    Domain,
}

#[derive(Debug, Deserialize)]
struct RawZone {
    zone: String,
    #[serde(default = "default_kind")]
    kind: RawZoneKind,
    ipv6: Option<bool>,
    /// Return code → meaning.
    #[serde(default)]
    codes: BTreeMap<String, String>,
    /// Send the probe's DQS key with this zone's queries.
    #[serde(default)]
    dqs: bool,
    /// RFC 5782 sanity check (default true).
    #[serde(default = "yes")]
    test_points: bool,
    test_listed: Option<String>,
    test_unlisted: Option<String>,
}

fn default_kind() -> RawZoneKind {
    RawZoneKind::Ip
}

fn yes() -> bool {
    true
}

pub(super) fn load(
    node: &Node,
    path: &str,
    domains: &BTreeMap<String, Domain>,
    ctx: &mut Ctx,
) -> Option<(ProbeSettings, Vec<String>)> {
    let raw: Option<RawDnsbl> = super::kind_part(node, path, ctx);
    let dqs_key = ctx.secret(node, path, "dqs_key");
    let raw = raw?;
    let dqs_key = dqs_key?;
    let mut ok = true;

    let mut targets: Vec<String> = Vec::new();
    for (i, t) in raw.targets.iter().enumerate() {
        match Subject::parse(t) {
            Ok(s) => targets.push(s.to_string()),
            Err(e) => {
                ctx.item_error(node, path, "targets", i, e.to_string());
                ok = false;
            }
        }
    }
    for (i, d) in raw.domains.iter().enumerate() {
        let key = d.trim_end_matches('.').to_ascii_lowercase();
        match domains.get(&key) {
            Some(dom) => {
                targets.extend(dom.sending_ips.iter().map(|ip| ip.to_string()));
                targets.push(key);
            }
            None => {
                ctx.item_error(
                    node,
                    path,
                    "domains",
                    i,
                    format!("`{d}` is not in the top-level `domains:` map"),
                );
                ok = false;
            }
        }
    }
    if raw.targets.is_empty() && raw.domains.is_empty() {
        // Every configured domain, with its sending IPs.
        for (name, dom) in domains {
            targets.extend(dom.sending_ips.iter().map(|ip| ip.to_string()));
            targets.push(name.clone());
        }
        if targets.is_empty() {
            ctx.error(
                node,
                path,
                "nothing to check: give `targets:`, `domains:`, or define top-level `domains:`",
            );
            ok = false;
        }
    }
    super::dedup(&mut targets);

    let zones = match raw.zones {
        None => {
            if dqs_key.is_some() {
                // A DQS key only means something to Spamhaus' DQS zones.
                ctx.error(
                    node.get("dqs_key_file").or(node.get("dqs_key_env")).unwrap_or(node),
                    path,
                    "a DQS key needs explicit `zones:` (the DQS zones, e.g. zen.dq.spamhaus.net, with `dqs: true`)",
                );
                ok = false;
            }
            default_zones()
        }
        Some(list) => {
            let mut zones = Vec::new();
            for (i, rz) in list.into_iter().enumerate() {
                let zpath = format!("{path}.zones[{i}]");
                let znode = super::seq_item(node, "zones", i);
                let kind = match rz.kind {
                    RawZoneKind::Ip => ZoneKind::Ip,
                    RawZoneKind::Domain => ZoneKind::Domain,
                };
                if !matches!(Subject::parse(&rz.zone), Ok(Subject::Domain(_))) {
                    ctx.error(
                        znode.get("zone").unwrap_or(znode),
                        &format!("{zpath}.zone"),
                        format!("`{}` is not a zone name", rz.zone),
                    );
                    ok = false;
                    continue;
                }
                let mut zone = Zone::new(rz.zone.clone(), kind);
                if let Some(v6) = rz.ipv6 {
                    zone.ipv6 = v6 && kind == ZoneKind::Ip;
                }
                for (code, meaning) in &rz.codes {
                    match code.parse::<Ipv4Addr>() {
                        Ok(c) => zone.codes.push((c, meaning.clone())),
                        Err(_) => {
                            ctx.error(
                                znode.get("codes").unwrap_or(znode),
                                &format!("{zpath}.codes"),
                                format!("`{code}` is not an IPv4 return code like 127.0.0.2"),
                            );
                            ok = false;
                        }
                    }
                }
                if rz.dqs {
                    match &dqs_key {
                        Some(k) => zone.dqs_key = Some(k.clone()),
                        None => {
                            ctx.error(
                                znode.get("dqs").unwrap_or(znode),
                                &format!("{zpath}.dqs"),
                                "`dqs: true` needs the probe's `dqs_key_file` or `dqs_key_env`",
                            );
                            ok = false;
                        }
                    }
                }
                zone.test_points = if rz.test_points {
                    let mut tp = TestPoints::rfc5782(kind);
                    if let Some(l) = rz.test_listed {
                        tp.listed = l;
                    }
                    if let Some(u) = rz.test_unlisted {
                        tp.unlisted = u;
                    }
                    Some(tp)
                } else {
                    None
                };
                zones.push(zone);
            }
            if zones.is_empty() && ok {
                ctx.error(
                    node.get("zones").unwrap_or(node),
                    &format!("{path}.zones"),
                    "an empty zone list: remove `zones:` for the default list",
                );
                ok = false;
            }
            zones
        }
    };
    ok.then_some((ProbeSettings::Dnsbl(DnsblSettings { zones }), targets))
}
