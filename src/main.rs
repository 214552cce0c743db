//! `mailauth-probe`: the daemon (`serve`), `check-config`, and `run` for a person at a
//! terminal (plus the hidden `generate-assets` that packaging uses). `main` alone maps errors to exit codes; `anyhow` stays at this edge.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use mailauth_probe::cli::{CheckArgs, CommonFlags};
use mailauth_probe::config::Config;
use mailauth_probe::daemon::App;
use mailauth_probe::runner::Runtime;
use mailauth_probe::state::{RunRecord, now};
use mailauth_probe::{exporter, report};

#[derive(Parser)]
#[command(
    name = "mailauth-probe",
    version,
    about = "Tells mail administrators that their mail authentication or transport security broke, before their users do"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Log level filter (e.g. info, debug, mailauth_probe=debug).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: schedule every probe, serve /metrics, /probe and /.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Listen address (overrides `exporter.listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Validate a config file: exit 0, or print every error with line, column and key path
    /// and exit 1.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Run probes once and print a report; the exit code is the worst state (Nagios codes).
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Only these probes (repeatable); all when absent.
        #[arg(long = "probe", value_name = "NAME")]
        probes: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        common: CommonFlags,
    },
    /// DNS posture of one domain, with no config file: every finding with its severity, the
    /// record text and the place of the fault in it. The exit code is the worst state.
    Lint {
        domain: String,
        /// A DKIM selector to check (repeatable).
        #[arg(long = "selector", value_name = "S")]
        selectors: Vec<String>,
        /// A sending IP: SPF must pass for it and its PTR must confirm (repeatable).
        #[arg(long = "ip", value_name = "IP")]
        ips: Vec<std::net::IpAddr>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Seconds the whole lint may take.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        #[command(flatten)]
        common: CommonFlags,
    },
    /// The receiver's verdicts in one delivered message (a file, or `-` for stdin), read by the
    /// round trip's own code: every trusted result, the verdict per method, the fields ignored
    /// and why. The exit code is the state the round trip would give (Nagios codes).
    Verdicts {
        #[arg(value_name = "FILE", default_value = "-")]
        file: String,
        /// A provider preset: its authserv-ids and receiver hosts.
        #[arg(long, value_name = "P", conflicts_with = "authserv_ids")]
        provider: Option<String>,
        /// The receiver's authserv-id, exact or `*.example.com` (repeatable; `''` for
        /// Microsoft's fields without one).
        #[arg(long = "authserv-id", value_name = "PATTERN")]
        authserv_ids: Vec<String>,
        /// `by` host of the receiver's own Received field (repeatable; default: the
        /// authserv-ids).
        #[arg(long = "received-by", value_name = "HOST")]
        received_by: Vec<String>,
        /// Also trust the receiver's fields directly below its Received field (Gmail,
        /// iCloud, some Postfix milters); presets set it where the provider needs it.
        #[arg(long)]
        fields_below: bool,
        /// The DKIM signing domain that must decide among several signatures.
        #[arg(long, value_name = "DOMAIN")]
        expect_domain: Option<String>,
        /// The DKIM selector that must decide among several signatures.
        #[arg(long, value_name = "S")]
        expect_selector: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Read a password on stdin and print its bcrypt hash, for `basic_auth_users` of the
    /// exporter's web config (`exporter.web_config_file`).
    HashPassword {
        /// bcrypt cost (4 to 31); each step doubles the work of every check.
        #[arg(long, default_value_t = bcrypt::DEFAULT_COST)]
        cost: u32,
    },
    /// What the DMARC aggregate reports of a `kind: reports` probe's store say.
    Reports {
        #[command(subcommand)]
        what: ReportsCommand,
    },
    /// Write the man pages and shell completions of both binaries into DIR (for packaging).
    #[command(hide = true)]
    GenerateAssets {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Top sources by volume with their DMARC pass/fail, sources not seen before the window,
    /// and reporters that saw failures, over the last N days.
    Summary {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The reports probe (default: the first of the config).
        #[arg(long, value_name = "NAME")]
        probe: Option<String>,
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Rows of the top-sources table.
        #[arg(long, default_value_t = 20)]
        top: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn main() -> ExitCode {
    mailauth_probe::install_crypto_provider();
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailauth-probe: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mailauth-probe: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn init_logging(format: LogFormat, level: &str) {
    // hickory logs every DNSSEC and network hiccup it meets at WARN/ERROR; what matters of
    // them reaches the user as findings. Silence it unless the filter names it.
    let level = if level.contains("hickory") {
        level.to_string()
    } else {
        format!("{level},hickory_net=off,hickory_proto=off,hickory_resolver=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::CheckConfig { file } => Ok(check_config(&file)),
        Command::GenerateAssets { dir } => {
            let commands = [Cli::command(), CheckArgs::command()];
            let written = mailauth_probe::assets::write(&dir, &commands)
                .with_context(|| format!("cannot write assets into {}", dir.display()))?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config, listen } => serve(&config, listen).await,
        Command::Run {
            config,
            probes,
            format,
            common,
        } => run_once(&config, &probes, format, &common).await,
        Command::Lint {
            domain,
            selectors,
            ips,
            format,
            timeout,
            common,
        } => lint(&domain, &selectors, &ips, format, timeout, &common).await,
        Command::HashPassword { cost } => hash_password(cost),
        Command::Verdicts {
            file,
            provider,
            authserv_ids,
            received_by,
            fields_below,
            expect_domain,
            expect_selector,
            format,
        } => Ok(verdicts(
            &file,
            provider.as_deref(),
            authserv_ids,
            received_by,
            fields_below,
            mailauth_probes::roundtrip::DkimExpect {
                domain: expect_domain,
                selector: expect_selector,
            },
            format,
        )),
        Command::Reports {
            what:
                ReportsCommand::Summary {
                    config,
                    probe,
                    days,
                    top,
                    format,
                },
        } => reports_summary(&config, probe.as_deref(), days, top, format),
    }
}

/// `verdicts`: bad arguments and unreadable input are UNKNOWN (exit 3), never OK.
#[allow(clippy::too_many_arguments)]
fn verdicts(
    file: &str,
    provider: Option<&str>,
    authserv_ids: Vec<String>,
    received_by: Vec<String>,
    fields_below: bool,
    dkim: mailauth_probes::roundtrip::DkimExpect,
    format: Format,
) -> ExitCode {
    use mailauth_probes::authres::{TrustRule, providers};
    let unknown = |why: String| {
        match format {
            Format::Json => println!(
                "{}",
                serde_json::json!({"trusted": [], "ignored": [], "verdict": {}, "state": "UNKNOWN", "error": why})
            ),
            Format::Text => println!("UNKNOWN: {why}"),
        }
        ExitCode::from(3)
    };
    let rule = match provider {
        Some(key) => match providers::provider(key) {
            Some(p) => {
                let mut rule = p.rule();
                // Explicit keys win over the preset.
                if !received_by.is_empty() {
                    rule.received_by = received_by;
                }
                rule.fields_below |= fields_below;
                rule
            }
            None => {
                return unknown(format!(
                    "unknown provider `{key}` (one of: {})",
                    providers::keys().join(", ")
                ));
            }
        },
        None if authserv_ids.is_empty() => {
            return unknown("give --provider P or --authserv-id PATTERN".into());
        }
        None => {
            let received_by = if received_by.is_empty() {
                authserv_ids
                    .iter()
                    .filter(|i| !i.trim().is_empty())
                    .cloned()
                    .collect()
            } else {
                received_by
            };
            if received_by.is_empty() {
                return unknown(
                    "an empty --authserv-id (Microsoft) needs --received-by HOST".into(),
                );
            }
            TrustRule {
                authserv_ids,
                received_by,
                fields_below,
            }
        }
    };
    // At most 64 MiB are read: a delivered message larger than that is not what this reads.
    const MAX_INPUT: u64 = 64 << 20;
    let mut input = Vec::new();
    let read = if file == "-" {
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), MAX_INPUT + 1),
            &mut input,
        )
    } else {
        std::fs::File::open(file).and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_INPUT + 1), &mut input)
        })
    };
    if let Err(e) = read {
        return unknown(format!("cannot read {file}: {e}"));
    }
    if input.len() as u64 > MAX_INPUT {
        return unknown(format!("{file} is larger than {MAX_INPUT} bytes"));
    }
    if input.is_empty() {
        return unknown(format!("{file} is empty: not a message"));
    }
    let report = mailauth_probe::verdicts::verdicts(&input, &rule, &dkim);
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.json).unwrap_or_default()
        ),
        Format::Text => print!("{}", report.text),
    }
    ExitCode::from(report.state.code())
}

/// The first line of stdin (no echo needed: pipe it, or type it and press Enter), hashed.
fn hash_password(cost: u32) -> anyhow::Result<ExitCode> {
    if std::io::stdin().is_terminal() {
        eprintln!("password (then Enter):");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(!password.is_empty(), "empty password on stdin");
    // bcrypt reads at most 72 bytes; longer would silently accept any password sharing them.
    let hash = bcrypt::non_truncating_hash(password, cost)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

fn reports_summary(
    config: &Path,
    probe: Option<&str>,
    days: u32,
    top: usize,
    format: Format,
) -> anyhow::Result<ExitCode> {
    use mailauth_probe::config::ProbeSettings;
    let c = Config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let found = c.probes.iter().find(|p| {
        matches!(p.settings, ProbeSettings::Reports(_)) && probe.is_none_or(|n| p.name == n)
    });
    let Some(p) = found else {
        anyhow::bail!(
            "no reports probe{} in {}",
            probe.map(|n| format!(" named `{n}`")).unwrap_or_default(),
            config.display()
        );
    };
    let ProbeSettings::Reports(r) = &p.settings else {
        unreachable!("matched above")
    };
    let store = mailauth_probe::reports_store::ReportStore::open(&r.store, r.keep_days)?;
    let sources = store.sources(days)?;
    let reporters = store.reporters(days)?;
    let text =
        mailauth_probe::report::reports_summary(&p.name, &store, &sources, &reporters, days, top);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&sources)?),
        Format::Text => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(c) => {
            let targets: usize = c.probes.iter().map(|p| p.targets.len()).sum();
            println!(
                "{}: OK ({} probe(s), {} target(s))",
                file.display(),
                c.probes.len(),
                targets
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            print!("{e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(path: &Path, listen: Option<std::net::SocketAddr>) -> anyhow::Result<ExitCode> {
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listen = listen.unwrap_or(config.exporter.listen);
    let drain = config.global.drain_timeout;
    let app = App::start(config, path.to_path_buf())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(%listen, config = %path.display(), "serving");
    let http_stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(exporter::serve(listener, app.clone(), http_stop.clone()));

    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => reload_by_signal(&app).await,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!(drain_timeout = ?drain, "shutting down: no new runs; waiting for runs in flight");
    app.shutdown.cancel();
    app.tracker.close();
    if tokio::time::timeout(drain, app.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("runs still in flight after the drain timeout; exiting anyway");
    }
    http_stop.cancel();
    server.abort();
    Ok(ExitCode::SUCCESS)
}

async fn reload_by_signal(app: &Arc<App>) {
    match app.reload().await {
        Ok(()) => tracing::info!("config reloaded on SIGHUP"),
        Err(e) => {
            tracing::error!(error = %e, "config reload on SIGHUP failed; the previous config stays in force")
        }
    }
}

async fn run_once(
    path: &Path,
    only: &[String],
    format: Format,
    common: &CommonFlags,
) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    common.apply(&mut config).map_err(|e| anyhow::anyhow!(e))?;
    for name in only {
        if config.probe(name).is_none() {
            anyhow::bail!("no probe named `{name}` in {}", path.display());
        }
    }
    let runtime = Runtime::new(&config)?;
    let selected: Vec<_> = config
        .probes
        .iter()
        .filter(|p| only.is_empty() || only.contains(&p.name))
        .collect();
    let runs = selected.iter().flat_map(|p| {
        let runtime = &runtime;
        p.targets.iter().map(move |t| async move {
            let outcome = runtime.run(p, t, None).await;
            RunRecord {
                probe: p.name.clone(),
                kind: p.settings.kind().to_string(),
                target: t.clone(),
                finished_at: now(),
                outcome: Arc::new(outcome),
                history: None,
            }
        })
    });
    let records = futures_join_all(runs).await;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        Format::Text => print!(
            "{}",
            report::text(&records, std::io::stdout().is_terminal())
        ),
    }
    Ok(ExitCode::from(report::worst(&records).code()))
}

async fn lint(
    domain: &str,
    selectors: &[String],
    ips: &[std::net::IpAddr],
    format: Format,
    timeout: u64,
    common: &CommonFlags,
) -> anyhow::Result<ExitCode> {
    let settings = mailauth_probe::cli::dns_settings(selectors, ips);
    let probe = mailauth_probe::cli::adhoc_probe(
        settings,
        domain,
        std::time::Duration::from_secs(timeout.max(1)),
    );
    let config = common.adhoc_config(probe).map_err(|e| anyhow::anyhow!(e))?;
    let runtime = Runtime::new(&config)?;
    let outcome = runtime.run(&config.probes[0], domain, None).await;
    let record = RunRecord {
        probe: "lint".into(),
        kind: "dns".into(),
        target: domain.to_string(),
        finished_at: now(),
        outcome: Arc::new(outcome),
        history: None,
    };
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&record)?),
        Format::Text => print!("{}", report::lint(&record, std::io::stdout().is_terminal())),
    }
    Ok(ExitCode::from(record.outcome.state().code()))
}

async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futs).await
}
