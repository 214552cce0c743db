//! Command-line definitions shared by both binaries: the flags every probing command takes
//! (`--resolver`, `--trust-anchor`, `--ca-file`) and how they override a config, and the whole
//! command line of `check_mailauth` (here, not in its binary, so that `mailauth-probe
//! generate-assets` can render its man page and completions).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mailauth_probes::resolver::Upstream;

use crate::nagios::range::Range;

use crate::config::{Config, DEFAULT_LISTEN, Exporter, Global, Probe, ProbeSettings, parse_server};

/// The command line of `check_mailauth` (its binary parses it; `generate-assets` renders its
/// man page and completions from it).
#[derive(clap::Parser, Debug)]
#[command(
    name = "check_mailauth",
    version,
    about = "Nagios/Icinga plugin of mailauth-probe",
    after_help = "Examples:\n  check_mailauth dnsbl -H 192.0.2.10 --zone zen.spamhaus.org\n  check_mailauth --config /etc/mailauth-probe/config.yaml --probe dnsbl-own\n  check_mailauth --daemon http://127.0.0.1:9725 --probe roundtrip-gmail\n  check_mailauth --daemon https://monitor.example.org:9725 --ca-file ca.pem --daemon-user nagios --daemon-password-file /etc/nagios/mailauth.pw --probe dns-own\n\nExit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\nThresholds (-w/-c) use the monitoring-plugins range syntax and apply to the kind's main figure\n(dnsbl: the number of listings; dns: days until the earliest RRSIG expiry;\ntransport: days until the earliest certificate expiry; -H host, host:port or, with --mx, a domain)."
)]
pub struct CheckArgs {
    /// Probe kind to run from flags alone (dnsbl, dns, transport).
    pub kind: Option<String>,
    /// Target: an IP or domain (dnsbl).
    #[arg(short = 'H', long = "host", value_name = "TARGET")]
    pub host: Option<String>,
    /// DNSBL zone (repeatable); IP zones for an IP target, domain zones for a domain.
    #[arg(long = "zone", value_name = "ZONE")]
    pub zones: Vec<String>,
    /// dns: a DKIM selector that must publish a usable key (repeatable).
    #[arg(long = "selector", value_name = "S")]
    pub selectors: Vec<String>,
    /// transport: -H is a mail domain; probe all its MX hosts on port 25.
    #[arg(long)]
    pub mx: bool,
    /// dns: a sending IP that SPF must pass and PTR must confirm (repeatable).
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<std::net::IpAddr>,
    /// Run the probe NAME of this config.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The probe to run (with --config) or to read (with --daemon).
    #[arg(long, value_name = "NAME")]
    pub probe: Option<String>,
    /// Read the probe's latest result from a running daemon, e.g. http://127.0.0.1:9725 or
    /// https://monitor.example.org:9725 (verified against the system's CAs and --ca-file).
    #[arg(long, value_name = "URL")]
    pub daemon: Option<String>,
    /// --daemon: the basic-auth user of the daemon's web config (with a password from
    /// --daemon-password-file or --daemon-password-env; never on the command line).
    #[arg(long, value_name = "USER")]
    pub daemon_user: Option<String>,
    /// --daemon: a file holding the password of --daemon-user (one line).
    #[arg(long, value_name = "FILE", conflicts_with = "daemon_password_env")]
    pub daemon_password_file: Option<PathBuf>,
    /// --daemon: an environment variable holding the password of --daemon-user.
    #[arg(long, value_name = "VARIABLE")]
    pub daemon_password_env: Option<String>,
    /// Warning range for the kind's main figure.
    #[arg(short = 'w', long, value_name = "RANGE")]
    pub warning: Option<Range>,
    /// Critical range for the kind's main figure.
    #[arg(short = 'c', long, value_name = "RANGE")]
    pub critical: Option<Range>,
    /// Seconds before the plugin gives up (UNKNOWN).
    #[arg(short = 't', long, value_name = "SECONDS", default_value_t = 30.0)]
    pub timeout: f64,
    /// One line per finding after the status line.
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub common: CommonFlags,
}

/// Flags common to `run`, `lint` and `check_mailauth`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonFlags {
    /// DNS server to ask instead of the system resolver (IP or IP:PORT; repeatable).
    #[arg(long = "resolver", value_name = "IP[:PORT]", value_parser = parse_resolver)]
    pub resolvers: Vec<SocketAddr>,
    /// DNSSEC trust anchors in zone-file format (DS or DNSKEY records).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// An extra trusted CA for TLS (e.g. a private or test CA), PEM.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    parse_server(s).ok_or_else(|| format!("`{s}` is not IP or IP:PORT"))
}

impl CommonFlags {
    /// Applies the flags over a loaded config; fails when a file they name cannot be read.
    pub fn apply(&self, config: &mut Config) -> Result<(), String> {
        if !self.resolvers.is_empty() {
            let u = Upstream::Servers(self.resolvers.clone());
            config.global.resolver = u;
            // The command line wins over every resolver of the file.
            for p in &mut config.probes {
                p.resolver = None;
            }
        }
        if let Some(p) = &self.trust_anchor {
            config.global.trust_anchor = Some(p.clone());
        }
        if let Some(p) = &self.ca_file {
            config.global.ca_file = Some(p.clone());
        }
        config.load_trust_anchor()
    }

    /// A config holding one probe built from flags alone (`check_mailauth KIND -H TARGET`).
    pub fn adhoc_config(&self, probe: Probe) -> Result<Config, String> {
        let mut c = Config {
            file: PathBuf::from("(command line)"),
            global: Global {
                interval: probe.interval,
                timeout: probe.timeout,
                resolver: Upstream::System,
                jitter: 0.0,
                concurrency: 32,
                per_destination_concurrency: 4,
                drain_timeout: Duration::from_secs(1),
                ca_file: None,
                trust_anchor: None,
            },
            exporter: Exporter {
                listen: DEFAULT_LISTEN.parse().expect("valid default"),
                allow_targets: vec![],
                web: None,
                public_paths: vec![],
                enable_lifecycle: false,
            },
            domains: Default::default(),
            probes: vec![probe],
        };
        self.apply(&mut c)?;
        Ok(c)
    }
}

/// dns settings from `--selector` and `--ip` flags (`lint`, `check_mailauth dns`).
pub fn dns_settings(selectors: &[String], ips: &[std::net::IpAddr]) -> ProbeSettings {
    let base = mailauth_probes::dns::DnsSettings {
        selectors: selectors.to_vec(),
        sending_ips: ips.to_vec(),
        ..Default::default()
    };
    ProbeSettings::Dns(crate::config::DnsProbe {
        base,
        per_domain: Default::default(),
    })
}

/// A probe from flags: `name` is the kind, one target.
pub fn adhoc_probe(settings: ProbeSettings, target: &str, timeout: Duration) -> Probe {
    Probe {
        name: settings.kind().to_string(),
        interval: timeout,
        timeout,
        resolver: None,
        targets: vec![target.to_string()],
        settings,
    }
}
