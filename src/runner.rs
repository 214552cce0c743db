//! Turns "probe P against target T" into a call of the right probe with a deadline, a resolver
//! and the concurrency limits. The scheduler, `/probe`, `run` and `check_mailauth` all run
//! probes through here, so a verdict means the same wherever it is read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use mailauth_probes::resolver::{Resolver, Upstream};
use mailauth_probes::tls::TlsClient;
use mailauth_probes::{Deadline, Finding, Limits, Outcome, ProbeContext, State};
use tokio::sync::Semaphore;

use crate::config::{Config, Probe, ProbeSettings};
use crate::reports_store::ReportStore;

/// What runs share for one config generation: the resolver, the global concurrency limit and
/// the per-destination limits.
pub struct Runtime {
    /// One resolver per distinct upstream: `global.resolver` first, then probes' own.
    resolvers: Vec<(Upstream, Arc<Resolver>)>,
    limits: Arc<Limits>,
    global: Arc<Semaphore>,
    global_limit: usize,
    tls: Arc<TlsClient>,
    /// The report store of each `kind: reports` probe, or why it could not be opened (the
    /// probe then reports that as UNKNOWN; the daemon keeps serving).
    stores: BTreeMap<String, Result<Arc<ReportStore>, String>>,
}

impl Runtime {
    pub fn new(config: &Config) -> Result<Self, mailauth_probes::Error> {
        let mut resolvers: Vec<(Upstream, Arc<Resolver>)> = Vec::new();
        let wanted = std::iter::once(&config.global.resolver)
            .chain(config.probes.iter().filter_map(|p| p.resolver.as_ref()));
        for u in wanted {
            if resolvers.iter().any(|(x, _)| x == u) {
                continue;
            }
            // Each query attempt gets a third of the shortest timeout of the probes using this
            // resolver, so one silent server leaves time to try the next.
            let shortest = config
                .probes
                .iter()
                .filter(|p| p.resolver.as_ref().unwrap_or(&config.global.resolver) == u)
                .map(|p| p.timeout)
                .min()
                .unwrap_or(config.global.timeout);
            let attempt = (shortest / 3).max(std::time::Duration::from_millis(200));
            resolvers.push((u.clone(), Arc::new(Resolver::new(u, attempt)?)));
        }
        let ca = match &config.global.ca_file {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                mailauth_probes::Error::Tls(format!("cannot read CA file `{}`: {e}", p.display()))
            })?),
            None => None,
        };
        let mut stores = BTreeMap::new();
        for p in &config.probes {
            if let ProbeSettings::Reports(r) = &p.settings {
                let opened = ReportStore::open(&r.store, r.keep_days)
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                if let Err(e) = &opened {
                    tracing::error!(probe = %p.name, "{e}");
                }
                stores.insert(p.name.clone(), opened);
            }
        }
        Ok(Runtime {
            stores,
            tls: Arc::new(TlsClient::new(ca.as_deref())?),
            resolvers,
            limits: Arc::new(Limits::new(config.global.per_destination_concurrency)),
            global: Arc::new(Semaphore::new(config.global.concurrency)),
            global_limit: config.global.concurrency,
        })
    }

    /// The report counters of every `kind: reports` probe whose store is open.
    pub fn report_counters(&self) -> Vec<(String, crate::reports_store::Counters)> {
        self.stores
            .iter()
            .filter_map(|(p, s)| Some((p.clone(), s.as_ref().ok()?.counters())))
            .collect()
    }

    /// The open report store of probe `name`.
    pub fn store(&self, name: &str) -> Option<Result<Arc<ReportStore>, String>> {
        self.stores.get(name).cloned()
    }

    /// Runs `probe` against `target` once, ending by the probe's timeout (or `deadline` when
    /// given and earlier) whatever the peers do.
    pub async fn run(&self, probe: &Probe, target: &str, deadline: Option<Deadline>) -> Outcome {
        self.run_after(probe, target, deadline, None).await
    }

    /// [`Runtime::run`] for a run that follows `previous` (the daemon's last outcome of this
    /// probe and target), which checks that compare runs read (the dns probe's `mta-sts:id`).
    pub async fn run_after(
        &self,
        probe: &Probe,
        target: &str,
        deadline: Option<Deadline>,
        previous: Option<Arc<Outcome>>,
    ) -> Outcome {
        // The probe's own timeout starts when it gets a slot under `global.concurrency`, not
        // when it was asked for: with thousands of targets due at once, time spent queued must
        // not count against a run (it used to, and runs ended UNKNOWN having never started).
        // A caller's deadline (a /probe scrape's) bounds the wait as well.
        let _permit = match deadline {
            Some(d) => match d.run(self.global.acquire()).await {
                Ok(p) => p.expect("never closed"),
                Err(_) => {
                    return Outcome::single(Finding::new(
                        "deadline",
                        State::Unknown,
                        format!(
                            "no free slot among global.concurrency ({}) before the caller's deadline",
                            self.global_limit
                        ),
                    ));
                }
            },
            None => self.global.acquire().await.expect("never closed"),
        };
        // Boxed: a run's future is tens of kilobytes, and a task per target holds this one
        // from its start; only admitted runs should carry that weight.
        Box::pin(self.run_admitted(probe, target, deadline, previous)).await
    }

    async fn run_admitted(
        &self,
        probe: &Probe,
        target: &str,
        deadline: Option<Deadline>,
        previous: Option<Arc<Outcome>>,
    ) -> Outcome {
        let started = Instant::now();
        let own = Deadline::after(probe.timeout);
        let deadline = match deadline {
            Some(d) if d.instant() < own.instant() => d,
            _ => own,
        };
        let upstream = probe.resolver.as_ref();
        let resolver = self
            .resolvers
            .iter()
            .find(|(u, _)| Some(u) == upstream)
            .unwrap_or(&self.resolvers[0])
            .1
            .for_run();
        // The probe gets a little less than the whole budget, so it can still report where
        // the peer stopped; the outer deadline below is only a safety net.
        let reserve = (deadline.remaining() / 10).min(std::time::Duration::from_millis(500));
        let ctx = ProbeContext {
            resolver: Arc::new(resolver),
            deadline: Deadline::at(deadline.instant() - reserve),
            limits: self.limits.clone(),
            tls: self.tls.clone(),
            previous,
        };
        let work = async {
            match &probe.settings {
                ProbeSettings::Dnsbl(s) => mailauth_probes::dnsbl::probe(s, target, &ctx).await,
                ProbeSettings::Dns(p) => {
                    mailauth_probes::dns::probe(p.for_target(target), target, &ctx).await
                }
                ProbeSettings::Transport(s) => {
                    mailauth_probes::transport::probe(s, target, &ctx).await
                }
                ProbeSettings::Roundtrip(s) => {
                    mailauth_probes::roundtrip::probe(s, target, &ctx).await
                }
                ProbeSettings::Reports(r) => match self.stores.get(&probe.name) {
                    Some(Ok(store)) => {
                        mailauth_probes::reports::ingest::probe(&r.settings, &ctx, store.as_ref())
                            .await
                    }
                    Some(Err(e)) => {
                        Outcome::single(Finding::new("store", State::Unknown, e.clone()))
                    }
                    None => Outcome::single(Finding::new(
                        "store",
                        State::Unknown,
                        "no report store was opened for this probe",
                    )),
                },
            }
        };
        let mut outcome = match deadline.run(work).await {
            Ok(o) => o,
            Err(_) => Outcome::single(Finding::new(
                "deadline",
                State::Unknown,
                format!(
                    "the probe did not finish within its timeout ({})",
                    humantime::format_duration(probe.timeout)
                ),
            )),
        };
        outcome.duration = started.elapsed();
        outcome
    }
}
