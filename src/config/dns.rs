//! The `kind: dns` settings section: which domains, their selectors, sending IPs, HELO name
//! and expected MX (from the top-level `domains:` entries, or written here), and how strict.

use std::collections::BTreeMap;

use mailauth_probes::State;
use mailauth_probes::dns::DnsSettings;
use serde::Deserialize;

use super::raw::RawState;
use super::yaml::Node;
use super::{Ctx, Domain, ProbeSettings};

#[derive(Debug, Deserialize)]
struct RawDns {
    /// Names of `domains:` entries.
    #[serde(default)]
    domains: Vec<String>,
    /// Domains written out.
    #[serde(default)]
    targets: Vec<String>,
    /// Selectors checked on every target, beyond the domain's own `dkim_selectors`.
    #[serde(default)]
    selectors: Vec<String>,
    /// The sending servers' HELO name.
    helo: Option<String>,
    /// The state of `p=none`: ok, warning (default) or critical.
    dmarc_p_none: Option<RawState>,
    /// Ask every authoritative nameserver directly (default true).
    nameservers: Option<bool>,
}

/// Per-target settings of a dns probe: the domain's own facts, or the base for others.
#[derive(Debug, Clone)]
pub struct DnsProbe {
    pub base: DnsSettings,
    pub per_domain: BTreeMap<String, DnsSettings>,
}

impl DnsProbe {
    pub fn for_target(&self, target: &str) -> &DnsSettings {
        self.per_domain
            .get(&target.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or(&self.base)
    }
}

pub(super) fn load(
    node: &Node,
    path: &str,
    domains: &BTreeMap<String, Domain>,
    ctx: &mut Ctx,
) -> Option<(ProbeSettings, Vec<String>)> {
    let raw: RawDns = super::kind_part(node, path, ctx)?;
    let mut ok = true;
    let base = DnsSettings {
        selectors: raw.selectors.clone(),
        helo: raw.helo.clone(),
        dmarc_p_none: raw.dmarc_p_none.map_or(State::Warning, State::from),
        check_nameservers: raw.nameservers.unwrap_or(true),
        ..DnsSettings::default()
    };
    let mut per_domain = BTreeMap::new();
    let mut targets = Vec::new();
    for (i, d) in raw.domains.iter().enumerate() {
        let key = d.trim_end_matches('.').to_ascii_lowercase();
        match domains.get(&key) {
            Some(dom) => {
                per_domain.insert(key.clone(), domain_settings(&base, dom));
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
    for (i, t) in raw.targets.iter().enumerate() {
        match mailauth_probes::dnsbl::Subject::parse(t) {
            Ok(mailauth_probes::dnsbl::Subject::Domain(d)) => targets.push(d),
            _ => {
                ctx.item_error(
                    node,
                    path,
                    "targets",
                    i,
                    format!("`{t}` is not a domain name"),
                );
                ok = false;
            }
        }
    }
    if raw.domains.is_empty() && raw.targets.is_empty() {
        for (name, dom) in domains {
            per_domain.insert(name.clone(), domain_settings(&base, dom));
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
    ok.then_some((ProbeSettings::Dns(DnsProbe { base, per_domain }), targets))
}

/// The probe's base settings with a configured domain's own facts: its selectors (added to
/// the probe's, once each), sending IPs and expected MX hosts.
fn domain_settings(base: &DnsSettings, dom: &Domain) -> DnsSettings {
    let mut s = base.clone();
    for sel in &dom.dkim_selectors {
        if !s.selectors.contains(sel) {
            s.selectors.push(sel.clone());
        }
    }
    s.sending_ips = dom.sending_ips.clone();
    s.mx_expected = dom.mx_expected.clone();
    s
}
