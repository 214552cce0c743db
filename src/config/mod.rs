//! The configuration file: YAML read by our position-keeping reader ([`yaml`]), deserialised
//! into serde structs section by section ([`raw`]), then validated into a [`Config`] with
//! secrets resolved. Every error is collected with file, line, column and key path, so
//! `check-config` reports all of them in one run, as `promtool check config` does.
//!
//! Each probe kind has its own settings section (`dnsbl.rs`, ...): adding a kind adds a file
//! here and one arm in [`load_probe_settings`].

mod dns;
mod dnsbl;
mod reports;
mod roundtrip;
mod transport;

pub use dns::DnsProbe;
pub use reports::ReportsProbe;
pub mod raw;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use mailauth_probes::dnsbl::DnsblSettings;
use mailauth_probes::resolver::Upstream;

use raw::{RawConfig, RawProbeCommon, ResolverSetting};
use yaml::{Diagnostic, Keys, Mark, Node};

/// All errors of one config file, each with its place.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.diagnostics.len();
        writeln!(
            f,
            "{}: {n} error{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.diagnostics {
            writeln!(f, "{}:{d}", self.file.display())?;
        }
        Ok(())
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub global: Global,
    pub exporter: Exporter,
    pub domains: BTreeMap<String, Domain>,
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone)]
pub struct Global {
    pub interval: Duration,
    pub timeout: Duration,
    pub resolver: Upstream,
    /// Fraction of the interval by which each run is shifted at random (0..=0.5).
    pub jitter: f64,
    /// Probe runs in flight at once, over all probes.
    pub concurrency: usize,
    /// Runs talking to one destination (a DNSBL zone, an MX host) at once.
    pub per_destination_concurrency: usize,
    /// How long SIGTERM waits for runs in flight before exiting.
    pub drain_timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub trust_anchor: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Exporter {
    pub listen: SocketAddr,
    /// Extra targets `/probe` may be asked about, beyond the config's own.
    pub allow_targets: Vec<AllowEntry>,
    /// TLS and basic auth (exporter-toolkit web-config file), loaded with the config.
    pub web: Option<Arc<crate::exporter::web::WebConfig>>,
    /// Paths served without credentials when the web config has users.
    pub public_paths: Vec<String>,
    /// Whether `POST /-/reload` is served to anyone who can reach the listener (as
    /// Prometheus' `--web.enable-lifecycle`). Without it, only behind basic auth.
    pub enable_lifecycle: bool,
}

/// The paths open without credentials unless `exporter.public_paths` says otherwise:
/// liveness and readiness, for service managers and load balancers.
pub const DEFAULT_PUBLIC_PATHS: [&str; 2] = ["/-/healthy", "/-/ready"];

/// The paths the exporter serves (what `exporter.public_paths` may name).
pub const EXPORTER_PATHS: [&str; 7] = [
    "/metrics",
    "/probe",
    "/",
    "/api/v1/results",
    "/-/healthy",
    "/-/ready",
    "/-/reload",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Name(String),
    Net(IpNet),
}

#[derive(Debug, Clone, Default)]
pub struct Domain {
    pub dkim_selectors: Vec<String>,
    pub sending_ips: Vec<IpAddr>,
    pub mx_expected: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// This probe's own resolver, instead of `global.resolver`.
    pub resolver: Option<Upstream>,
    /// What scheduled runs probe: one run (and one `target` label) per entry.
    pub targets: Vec<String>,
    pub settings: ProbeSettings,
}

/// Kind-specific settings, already validated.
#[derive(Debug, Clone)]
pub enum ProbeSettings {
    Dnsbl(DnsblSettings),
    Dns(dns::DnsProbe),
    Transport(mailauth_probes::transport::TransportSettings),
    Roundtrip(Box<mailauth_probes::roundtrip::RoundtripSettings>),
    Reports(Box<reports::ReportsProbe>),
}

impl ProbeSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSettings::Dnsbl(_) => "dnsbl",
            ProbeSettings::Dns(_) => "dns",
            ProbeSettings::Transport(_) => "transport",
            ProbeSettings::Roundtrip(_) => "roundtrip",
            ProbeSettings::Reports(_) => "reports",
        }
    }
}

/// The probe kinds of product.md; those not built yet are rejected with a clear message.
pub const KINDS: &[&str] = &["roundtrip", "dns", "transport", "dnsbl", "reports"];

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9725";

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let err = |message: String| ConfigErrors {
            file: path.to_path_buf(),
            diagnostics: vec![Diagnostic {
                path: String::new(),
                mark: Mark { line: 0, column: 0 },
                message,
            }],
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read the config file: {e}")))?;
        Config::from_str(&text, path)
    }

    /// Validates `text` as if read from `path` (relative secret paths resolve against its
    /// directory).
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        let mut diags = Vec::new();
        let config =
            yaml::parse_collect(text, &mut diags).and_then(|root| build(&root, path, &mut diags));
        match config {
            Some(c) if diags.is_empty() => Ok(c),
            _ => Err(ConfigErrors {
                file: path.to_path_buf(),
                diagnostics: diags,
            }),
        }
    }

    /// Reads `global.trust_anchor` (when set) and hands its text to every dns probe.
    pub fn load_trust_anchor(&mut self) -> Result<(), String> {
        let Some(path) = &self.global.trust_anchor else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read trust anchor `{}`: {e}", path.display()))?;
        for p in &mut self.probes {
            match &mut p.settings {
                ProbeSettings::Dns(d) => {
                    d.base.trust_anchor = Some(text.clone());
                    for s in d.per_domain.values_mut() {
                        s.trust_anchor = Some(text.clone());
                    }
                }
                ProbeSettings::Transport(t) => t.trust_anchor = Some(text.clone()),
                ProbeSettings::Dnsbl(_)
                | ProbeSettings::Roundtrip(_)
                | ProbeSettings::Reports(_) => {}
            }
        }
        Ok(())
    }

    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }

    /// Why `/probe` must not run `probe` against `target`, or `None` when it may. A round trip
    /// sends mail, so `/probe` runs it only against its own configured targets; every other
    /// probe (the transport probe's open-relay test included) against the config's targets and
    /// domains and `exporter.allow_targets`, so the exporter cannot be made to test relaying
    /// through, or scan, hosts its operator did not name.
    pub fn refuses_probe_target(&self, probe: &Probe, target: &str) -> Option<String> {
        let t = target.trim_end_matches('.').to_ascii_lowercase();
        if matches!(probe.settings, ProbeSettings::Roundtrip(_)) {
            return (!probe.targets.contains(&t)).then(|| {
                format!(
                    "module `{}` sends mail: /probe runs it only against its own configured targets",
                    probe.name
                )
            });
        }
        // The reason never repeats the target: it is remote input, shown once by the caller.
        (!self.allows_target(&t)).then(|| "it is not in this exporter's allow-list".to_string())
    }

    /// Whether `/probe` may run against `target`: the config's own targets and domains, plus
    /// the `exporter.allow_targets` names and networks.
    pub fn allows_target(&self, target: &str) -> bool {
        let t = target.trim_end_matches('.').to_ascii_lowercase();
        if self.probes.iter().any(|p| p.targets.contains(&t))
            || self.domains.contains_key(&t)
            || self
                .domains
                .values()
                .any(|d| d.sending_ips.iter().any(|ip| ip.to_string() == t))
        {
            return true;
        }
        let ip = t.parse::<IpAddr>().ok();
        self.exporter.allow_targets.iter().any(|a| match a {
            AllowEntry::Name(n) => *n == t,
            AllowEntry::Net(net) => ip.is_some_and(|ip| net.contains(&ip)),
        })
    }
}

/// Context for validation: where relative paths resolve and where errors go.
pub(crate) struct Ctx<'a> {
    pub base_dir: &'a Path,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub fn error(&mut self, node: &Node, path: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            path: path.to_string(),
            mark: node.mark,
            message: message.into(),
        });
    }

    /// An error at element `i` of the list `key` of `node`, with its path `{path}.{key}[{i}]`.
    pub fn item_error(
        &mut self,
        node: &Node,
        path: &str,
        key: &str,
        i: usize,
        message: impl Into<String>,
    ) {
        self.error(
            seq_item(node, key, i),
            &format!("{path}.{key}[{i}]"),
            message,
        );
    }

    /// Reads a secret given by `<key>_file` or `<key>_env` in `node` (a map). Returns `None`
    /// (having recorded why) when neither or both are given or the reference is broken.
    pub fn secret(&mut self, node: &Node, path: &str, key: &str) -> Option<Option<String>> {
        let file_key = format!("{key}_file");
        let env_key = format!("{key}_env");
        let file = node.get(&file_key);
        let env = node.get(&env_key);
        match (file, env) {
            (None, None) => Some(None),
            (Some(f), Some(_)) => {
                self.error(
                    f,
                    &format!("{path}.{file_key}"),
                    format!("give either `{file_key}` or `{env_key}`, not both"),
                );
                None
            }
            (Some(f), None) => {
                let p = f.as_str().unwrap_or_default();
                let full = self.base_dir.join(p);
                match std::fs::read_to_string(&full) {
                    Ok(s) if !s.trim().is_empty() => Some(Some(s.trim().to_string())),
                    Ok(_) => {
                        self.error(
                            f,
                            &format!("{path}.{file_key}"),
                            format!("secret file `{}` is empty", full.display()),
                        );
                        None
                    }
                    Err(e) => {
                        self.error(
                            f,
                            &format!("{path}.{file_key}"),
                            format!("cannot read secret file `{}`: {e}", full.display()),
                        );
                        None
                    }
                }
            }
            (None, Some(e)) => {
                let var = e.as_str().unwrap_or_default();
                match std::env::var(var) {
                    Ok(s) if !s.trim().is_empty() => Some(Some(s.trim().to_string())),
                    _ => {
                        self.error(
                            e,
                            &format!("{path}.{env_key}"),
                            format!("environment variable `{var}` is not set or empty"),
                        );
                        None
                    }
                }
            }
        }
    }
}

/// Keys common to every probe; the rest of a probe's map belongs to its kind.
const COMMON_KEYS: &[&str] = &["name", "kind", "interval", "timeout", "resolver"];

fn build(root: &Node, path: &Path, diags: &mut Vec<Diagnostic>) -> Option<Config> {
    let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    if matches!(root.value, yaml::Value::Null) {
        diags.push(Diagnostic {
            path: String::new(),
            mark: root.mark,
            message: "the config is empty: it needs at least `probes:`".into(),
        });
        return None;
    }
    let raw: Option<RawConfig> = yaml::deserialize(root, "", Keys::Except(&["probes"]), diags);
    let mut ctx = Ctx {
        base_dir: &base_dir,
        diags,
    };
    let raw = raw.unwrap_or_default();

    let global = build_global(root, &raw, &mut ctx);
    let exporter = build_exporter(root, &raw, &mut ctx);
    let mut domains = BTreeMap::new();
    for (name, d) in &raw.domains {
        let mut ips = Vec::new();
        for (i, s) in d.sending_ips.iter().enumerate() {
            match s.parse::<IpAddr>() {
                Ok(ip) => ips.push(ip),
                Err(_) => {
                    let node = root
                        .get("domains")
                        .and_then(|n| n.get(name))
                        .and_then(|n| n.get("sending_ips"))
                        .and_then(|n| n.as_seq().and_then(|s| s.get(i)))
                        .unwrap_or(root);
                    ctx.error(
                        node,
                        &format!("domains.{name}.sending_ips[{i}]"),
                        format!("`{s}` is not an IP address"),
                    );
                }
            }
        }
        domains.insert(
            name.trim_end_matches('.').to_ascii_lowercase(),
            Domain {
                dkim_selectors: d.dkim_selectors.clone(),
                sending_ips: ips,
                mx_expected: d.mx_expected.clone(),
            },
        );
    }

    let mut probes = Vec::new();
    let mut names = BTreeSet::new();
    match root.get("probes") {
        None => ctx.error(root, "probes", "no `probes:` list: nothing would be probed"),
        Some(list) => match list.as_seq() {
            None => ctx.error(list, "probes", "`probes` must be a list"),
            Some(items) => {
                for (i, node) in items.iter().enumerate() {
                    let p = format!("probes[{i}]");
                    if let Some(probe) = build_probe(node, &p, &global, &domains, &mut ctx) {
                        if !names.insert(probe.name.clone()) {
                            let n = node.get("name").unwrap_or(node);
                            ctx.error(
                                n,
                                &format!("{p}.name"),
                                format!("duplicate probe name `{}`", probe.name),
                            );
                        }
                        probes.push(probe);
                    }
                }
            }
        },
    }
    let global = global?;
    let exporter = exporter?;
    let mut config = Config {
        file: path.to_path_buf(),
        global,
        exporter,
        domains,
        probes,
    };
    if let Err(e) = config.load_trust_anchor() {
        let node = root
            .get("global")
            .and_then(|g| g.get("trust_anchor"))
            .unwrap_or(root);
        ctx.error(node, "global.trust_anchor", e);
        return None;
    }
    Some(config)
}

fn build_global(root: &Node, raw: &RawConfig, ctx: &mut Ctx) -> Option<Global> {
    let g = &raw.global;
    let node = root.get("global").unwrap_or(root);
    let at = |k: &str| node.get(k).unwrap_or(node);
    let interval = g.interval.map(|d| d.0).unwrap_or(Duration::from_secs(300));
    let timeout = g.timeout.map(|d| d.0).unwrap_or(Duration::from_secs(30));
    let mut ok = true;
    if interval.is_zero() || timeout.is_zero() {
        // A bad duration string was already reported; a literal 0 is reported here.
        if g.interval.is_some_and(|d| d.0.is_zero()) && !mentions(ctx, "global.interval") {
            ctx.error(
                at("interval"),
                "global.interval",
                "must be greater than zero",
            );
        }
        if g.timeout.is_some_and(|d| d.0.is_zero()) && !mentions(ctx, "global.timeout") {
            ctx.error(at("timeout"), "global.timeout", "must be greater than zero");
        }
        ok = false;
    }
    let resolver = match &g.resolver {
        None => Upstream::System,
        Some(r) => match upstream(
            r,
            node.get("resolver").unwrap_or(node),
            "global.resolver",
            ctx,
        ) {
            Some(u) => u,
            None => {
                ok = false;
                Upstream::System
            }
        },
    };
    let jitter = g.jitter.unwrap_or(0.1);
    if !(0.0..=0.5).contains(&jitter) {
        ctx.error(at("jitter"), "global.jitter", "must be between 0 and 0.5");
        ok = false;
    }
    let concurrency = g.concurrency.unwrap_or(32);
    let per_destination_concurrency = g.per_destination_concurrency.unwrap_or(4);
    if concurrency == 0 || per_destination_concurrency == 0 {
        ctx.error(node, "global", "concurrency limits must be at least 1");
        ok = false;
    }
    for (key, p) in [("ca_file", &g.ca_file), ("trust_anchor", &g.trust_anchor)] {
        if let Some(p) = p
            && !ctx.base_dir.join(p).is_file()
        {
            ctx.error(
                at(key),
                &format!("global.{key}"),
                format!("file `{}` does not exist", p.display()),
            );
            ok = false;
        }
    }
    ok.then(|| Global {
        interval,
        timeout,
        resolver,
        jitter,
        concurrency,
        per_destination_concurrency,
        drain_timeout: g
            .drain_timeout
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(10)),
        ca_file: g.ca_file.as_ref().map(|p| ctx.base_dir.join(p)),
        trust_anchor: g.trust_anchor.as_ref().map(|p| ctx.base_dir.join(p)),
    })
}

/// `resolver:` as written to an [`Upstream`]; `None` (recorded) when an address is bad.
fn upstream(setting: &ResolverSetting, node: &Node, path: &str, ctx: &mut Ctx) -> Option<Upstream> {
    match setting {
        ResolverSetting::System => Some(Upstream::System),
        ResolverSetting::Servers(list) => {
            let mut v = Vec::new();
            let mut ok = true;
            for (i, s) in list.iter().enumerate() {
                match parse_server(s) {
                    Some(a) => v.push(a),
                    None => {
                        let n = node.as_seq().and_then(|s| s.get(i)).unwrap_or(node);
                        ctx.error(
                            n,
                            &format!("{path}[{i}]"),
                            format!("`{s}` is not an address (write IP or IP:PORT, e.g. 127.0.0.1:53 or [::1]:53)"),
                        );
                        ok = false;
                    }
                }
            }
            if list.is_empty() {
                ctx.error(
                    node,
                    path,
                    "an empty resolver list: write `system` or at least one address",
                );
                ok = false;
            }
            ok.then_some(Upstream::Servers(v))
        }
    }
}

fn mentions(ctx: &Ctx, path: &str) -> bool {
    ctx.diags.iter().any(|d| d.path == path)
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT`; port 53 by default.
pub fn parse_server(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

fn build_exporter(root: &Node, raw: &RawConfig, ctx: &mut Ctx) -> Option<Exporter> {
    let e = &raw.exporter;
    let node = root.get("exporter").unwrap_or(root);
    let mut ok = true;
    let listen_text = e.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            ctx.error(
                node.get("listen").unwrap_or(node),
                "exporter.listen",
                format!("`{listen_text}` is not an address:port (e.g. 127.0.0.1:9725)"),
            );
            ok = false;
            DEFAULT_LISTEN.parse().expect("valid default")
        }
    };
    let mut allow = Vec::new();
    for (i, s) in e.allow_targets.iter().enumerate() {
        let s = s.trim().to_ascii_lowercase();
        if let Ok(net) = s.parse::<IpNet>() {
            allow.push(AllowEntry::Net(net));
        } else if let Ok(ip) = s.parse::<IpAddr>() {
            allow.push(AllowEntry::Net(IpNet::from(ip)));
        } else if mailauth_probes::dnsbl::Subject::parse(&s).is_ok() {
            allow.push(AllowEntry::Name(s.trim_end_matches('.').to_string()));
        } else {
            let n = node.get("allow_targets").unwrap_or(node);
            let n = n.as_seq().and_then(|v| v.get(i)).unwrap_or(n);
            ctx.error(
                n,
                &format!("exporter.allow_targets[{i}]"),
                format!("`{s}` is neither a domain name, an IP address nor a CIDR network"),
            );
            ok = false;
        }
    }
    let web = match &e.web_config_file {
        None => None,
        Some(f) => match crate::exporter::web::WebConfig::load(&ctx.base_dir.join(f)) {
            Ok(w) => Some(Arc::new(w)),
            Err(msg) => {
                ctx.error(
                    node.get("web_config_file").unwrap_or(node),
                    "exporter.web_config_file",
                    msg,
                );
                ok = false;
                None
            }
        },
    };
    let public_paths = match &e.public_paths {
        None => DEFAULT_PUBLIC_PATHS.map(String::from).to_vec(),
        Some(paths) => {
            for (i, p) in paths.iter().enumerate() {
                if !EXPORTER_PATHS.contains(&p.as_str()) {
                    let n = node.get("public_paths").unwrap_or(node);
                    let n = n.as_seq().and_then(|v| v.get(i)).unwrap_or(n);
                    ctx.error(
                        n,
                        &format!("exporter.public_paths[{i}]"),
                        format!(
                            "`{p}` is not a path of the exporter ({})",
                            EXPORTER_PATHS.join(", ")
                        ),
                    );
                    ok = false;
                }
            }
            paths.clone()
        }
    };
    ok.then_some(Exporter {
        listen,
        allow_targets: allow,
        web,
        public_paths,
        enable_lifecycle: e.enable_lifecycle,
    })
}

fn build_probe(
    node: &Node,
    path: &str,
    global: &Option<Global>,
    domains: &BTreeMap<String, Domain>,
    ctx: &mut Ctx,
) -> Option<Probe> {
    let common: Option<RawProbeCommon> =
        yaml::deserialize(node, path, Keys::Only(COMMON_KEYS), ctx.diags);
    let kind_node = node.get("kind");
    let kind = kind_node
        .and_then(Node::as_str)
        .unwrap_or_default()
        .to_string();
    let settings = match kind.as_str() {
        "dnsbl" => dnsbl::load(node, path, domains, ctx),
        "dns" => dns::load(node, path, domains, ctx),
        "transport" => transport::load(node, path, domains, ctx),
        "roundtrip" => roundtrip::load(node, path, domains, ctx),
        "reports" => reports::load(node, path, domains, ctx),
        "" => None, // the missing field is reported by the common part
        k => {
            ctx.error(
                kind_node.unwrap_or(node),
                &format!("{path}.kind"),
                format!("unknown kind `{k}` (one of: {})", KINDS.join(", ")),
            );
            None
        }
    };
    let resolver = match common.as_ref().and_then(|c| c.resolver.as_ref()) {
        None => Some(None),
        Some(r) => upstream(
            r,
            node.get("resolver").unwrap_or(node),
            &format!("{path}.resolver"),
            ctx,
        )
        .map(Some),
    };
    let common = common?;
    let (mut settings, targets) = settings?;
    let resolver = resolver?;
    let (g_interval, g_timeout) = global
        .as_ref()
        .map(|g| (g.interval, g.timeout))
        .unwrap_or((Duration::from_secs(300), Duration::from_secs(30)));
    let interval = common.interval.map(|d| d.0).unwrap_or(g_interval);
    let timeout = common.timeout.map(|d| d.0).unwrap_or(g_timeout);
    let name = common.name.trim().to_string();
    if !is_label_name(&name) {
        ctx.error(
            node.get("name").unwrap_or(node),
            &format!("{path}.name"),
            "a probe name is letters, digits, `-`, `_` and `.` only (it becomes a label and a URL parameter)",
        );
        return None;
    }
    if interval.is_zero() || timeout.is_zero() {
        ctx.error(node, path, "interval and timeout must be greater than zero");
        return None;
    }
    if timeout > interval {
        ctx.error(
            node.get("timeout").unwrap_or(node),
            &format!("{path}.timeout"),
            format!(
                "the timeout ({}) is longer than the interval ({}): runs would overlap",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ),
        );
        return None;
    }
    if let ProbeSettings::Roundtrip(r) = &mut settings {
        // Tokens name the instance and the probe; our own messages older than a run's
        // timeout are strays (their run is over).
        r.owner =
            mailauth_probes::roundtrip::message::sanitize_owner(&format!("{}.{}", r.owner, name));
        r.own_stray_age = timeout;
    }
    if let ProbeSettings::Reports(r) = &mut settings
        && r.store.as_os_str().is_empty()
    {
        r.store = Path::new(reports::DEFAULT_STORE_DIR).join(format!("{name}.sqlite"));
    }
    Some(Probe {
        name,
        interval,
        timeout,
        resolver,
        targets,
        settings,
    })
}

/// Element `i` of the list `key` of `node` (or the nearest node that exists), for placing
/// an error.
pub(crate) fn seq_item<'a>(node: &'a Node, key: &str, i: usize) -> &'a Node {
    let n = node.get(key).unwrap_or(node);
    n.as_seq().and_then(|s| s.get(i)).unwrap_or(n)
}

/// A name that becomes a label value and a URL parameter: letters, digits, `-`, `_`, `.`,
/// 1 to 64 bytes.
pub(crate) fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Removes repeated targets, keeping the first of each.
pub(crate) fn dedup(targets: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.clone()));
}

/// Reads a kind's own keys of a probe node (everything but the common keys).
pub(crate) fn kind_part<T: serde::de::DeserializeOwned>(
    node: &Node,
    path: &str,
    ctx: &mut Ctx,
) -> Option<T> {
    yaml::deserialize(node, path, Keys::Except(COMMON_KEYS), ctx.diags)
}

#[cfg(test)]
mod tests;
