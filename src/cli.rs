//! Command-line definitions shared by both binaries: the flags every probing command takes
//! (`--resolver`, `--trust-anchor`, `--ca-file`) and how they override a config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mailauth_probes::resolver::Upstream;

use crate::config::{Config, DEFAULT_LISTEN, Exporter, Global, Probe, ProbeSettings, parse_server};

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
