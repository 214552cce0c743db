//! `check_mailauth`: the Nagios/Icinga plugin. Runs one probe (from flags alone or from a
//! config) or reads a probe's last result from a running daemon (`--daemon URL`), prints one
//! status line with perfdata (and with `-v` one line per finding), and exits 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. Bad arguments, an unreadable config, a daemon that cannot be asked,
//! or the plugin's own `--timeout` expiring before any verdict are UNKNOWN, never OK.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mailauth_probe::cli::{CheckArgs as Args, adhoc_probe};
use mailauth_probe::config::{Config, ProbeSettings};
use mailauth_probe::nagios::daemon::{self, DaemonAccess};
use mailauth_probe::nagios::range::Thresholds;
use mailauth_probe::nagios::{self, PluginOutput};
use mailauth_probe::runner::Runtime;
use mailauth_probe::state::RunRecord;
use mailauth_probes::dnsbl::{DnsblSettings, Subject, Zone, ZoneKind, default_zones};
use mailauth_probes::{Deadline, Outcome};

fn main() -> ExitCode {
    mailauth_probe::install_crypto_provider();
    let out = match Args::try_parse() {
        Ok(args) => plugin(args),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                print!("{e}");
                // monitoring-plugins convention: help and version exit UNKNOWN.
                return ExitCode::from(3);
            }
            _ => nagios::unknown(&format!(
                "bad arguments: {} (see check_mailauth --help)",
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
            )),
        },
    };
    println!("{}", out.text);
    ExitCode::from(out.state.code())
}

fn plugin(args: Args) -> PluginOutput {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        return nagios::unknown("bad arguments: --timeout must be between 0 and 3600 seconds");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return nagios::unknown(&format!("cannot start the async runtime: {e}")),
    };
    let name = args
        .probe
        .clone()
        .or_else(|| args.kind.clone())
        .unwrap_or_else(|| "check".into());
    let thresholds = Thresholds {
        warning: args.warning.clone(),
        critical: args.critical.clone(),
    };
    let verbose = args.verbose > 0;
    let result =
        rt.block_on(async { tokio::time::timeout(timeout, outcomes(&args, timeout)).await });
    // Leave no task behind that could hold the process past its timeout.
    rt.shutdown_background();
    match result {
        Err(_) => nagios::unknown(&format!(
            "{name}: plugin timeout ({}s) expired before any verdict",
            args.timeout
        )),
        Ok(Err(reason)) => nagios::unknown(&format!("{name}: {reason}")),
        Ok(Ok(records)) => {
            let outcomes: Vec<&Outcome> = records.iter().map(|r| r.outcome.as_ref()).collect();
            nagios::render(&name, &outcomes, &thresholds, verbose)
        }
    }
}

/// The outcomes to judge, or why there are none (UNKNOWN).
async fn outcomes(args: &Args, timeout: Duration) -> Result<Vec<RunRecord>, String> {
    // The probe gets most of the plugin's time, so it can still report what it saw.
    let deadline = Deadline::after(timeout.mul_f64(0.9));
    if let Some(url) = &args.daemon {
        let probe = args
            .probe
            .as_deref()
            .ok_or("bad arguments: --daemon needs --probe NAME")?;
        let access = daemon_access(args, url)?;
        return daemon::results(&access, probe, args.host.as_deref()).await;
    }
    let (config, targets) = if let Some(path) = &args.config {
        let probe = args
            .probe
            .as_deref()
            .ok_or("bad arguments: --config needs --probe NAME")?;
        let mut config = Config::load(path)
            .map_err(|e| format!("cannot use config: {}", e.to_string().replace('\n', "; ")))?;
        args.common.apply(&mut config)?;
        let p = config
            .probe(probe)
            .ok_or_else(|| format!("no probe named `{probe}` in {}", path.display()))?;
        let targets = match &args.host {
            Some(h) => vec![h.clone()],
            None => p.targets.clone(),
        };
        (config, targets)
    } else {
        let kind = args
            .kind
            .as_deref()
            .ok_or("bad arguments: give KIND -H TARGET, --config FILE --probe NAME, or --daemon URL --probe NAME")?;
        let host = args
            .host
            .as_deref()
            .ok_or("bad arguments: -H TARGET is required")?;
        let settings = match kind {
            "dnsbl" => dnsbl_settings(host, &args.zones)?,
            "dns" => mailauth_probe::cli::dns_settings(&args.selectors, &args.ips),
            "transport" => {
                let mut s = mailauth_probes::transport::TransportSettings::default();
                if args.mx {
                    s.domains
                        .push(host.trim_end_matches('.').to_ascii_lowercase());
                }
                ProbeSettings::Transport(s)
            }
            "roundtrip" | "reports" => {
                return Err(format!(
                    "bad arguments: a {kind} probe needs its mailboxes from a config: use --config FILE --probe NAME, or --daemon URL --probe NAME for the daemon's latest run"
                ));
            }
            other => return Err(format!("bad arguments: unknown kind `{other}`")),
        };
        let probe = adhoc_probe(settings, host, timeout);
        (args.common.adhoc_config(probe)?, vec![host.to_string()])
    };
    let probe = match &args.probe {
        Some(n) => config.probe(n).cloned(),
        None => config.probes.first().cloned(),
    }
    .ok_or("no probe")?;
    let runtime = Runtime::new(&config).map_err(|e| e.to_string())?;
    let runs = targets.iter().map(|t| {
        let (runtime, probe) = (&runtime, &probe);
        async move {
            RunRecord {
                probe: probe.name.clone(),
                kind: probe.settings.kind().to_string(),
                target: t.clone(),
                finished_at: mailauth_probe::state::now(),
                outcome: Arc::new(runtime.run(probe, t, Some(deadline)).await),
                history: None,
            }
        }
    });
    Ok(futures::future::join_all(runs).await)
}

fn dnsbl_settings(host: &str, zones: &[String]) -> Result<ProbeSettings, String> {
    let subject = Subject::parse(host).map_err(|e| format!("bad arguments: {e}"))?;
    let kind = match subject {
        Subject::Domain(_) => ZoneKind::Domain,
        Subject::Ip(_) => ZoneKind::Ip,
    };
    let zones = if zones.is_empty() {
        default_zones()
    } else {
        let mut v = Vec::new();
        for z in zones {
            if !matches!(Subject::parse(z), Ok(Subject::Domain(_))) {
                return Err(format!("bad arguments: `{z}` is not a zone name"));
            }
            v.push(Zone::new(z.clone(), kind));
        }
        v
    };
    Ok(ProbeSettings::Dnsbl(DnsblSettings { zones }))
}

/// What `--daemon` needs from the command line and the files it names: the URL, the extra CA
/// (`--ca-file`) and the credentials (`--daemon-user` with a password from a file or an
/// environment variable, never from the command line itself).
fn daemon_access(args: &Args, url: &str) -> Result<DaemonAccess, String> {
    let ca_pem = match &args.common.ca_file {
        None => None,
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("--ca-file {}: {e}", p.display()))?,
        ),
    };
    let password = match (&args.daemon_password_file, &args.daemon_password_env) {
        (Some(p), _) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("--daemon-password-file {}: {e}", p.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
            format!("--daemon-password-env: the environment variable `{var}` is not set")
        })?),
        (None, None) => None,
    };
    let credentials = match (&args.daemon_user, password) {
        (Some(user), Some(password)) => Some((user.clone(), password)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(
                "bad arguments: --daemon-user needs --daemon-password-file or --daemon-password-env"
                    .into(),
            );
        }
        (None, Some(_)) => {
            return Err("bad arguments: a daemon password needs --daemon-user".into());
        }
    };
    Ok(DaemonAccess {
        url: url.to_string(),
        ca_pem,
        credentials,
    })
}
