//! The running daemon: the current config generation, its scheduled tasks, and reload.
//! SIGHUP and `POST /-/reload` both call [`App::reload`]; a bad new config keeps the old one
//! running and sets `mailauth_config_last_reload_successful 0`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::runner::Runtime;
use crate::scheduler::{self, Generation};
use crate::state::Store;

pub struct App {
    pub config_path: PathBuf,
    pub store: Arc<Store>,
    current: RwLock<Arc<Generation>>,
    /// Every scheduled task of every generation, so SIGTERM can wait for in-flight runs.
    pub tracker: TaskTracker,
    /// Cancelled on SIGTERM: no new runs start.
    pub shutdown: CancellationToken,
    /// Serialises reloads (SIGHUP and HTTP at the same time).
    reload_lock: tokio::sync::Mutex<()>,
}

impl App {
    /// Starts scheduling `config` (already validated, read from `config_path`).
    pub fn start(config: Config, config_path: PathBuf) -> anyhow::Result<Arc<App>> {
        let store = Arc::new(Store::default());
        if let Some(h) = &config.global.history {
            // A history it cannot use never stops the daemon: moved aside, or done without.
            match crate::store::history::History::open_or_replace(&h.path, h.keep) {
                Ok((history, note)) => {
                    if let Some(note) = note {
                        tracing::warn!("{note}");
                    }
                    store.set_history(history);
                }
                Err(e) => tracing::error!(error = %e, "running without a state history"),
            }
        }
        let runtime = Runtime::new(&config)?;
        let generation = Arc::new(Generation {
            number: 1,
            config: Arc::new(config),
            runtime: Arc::new(runtime),
            stop: CancellationToken::new(),
        });
        store.begin_generation(1, &scheduler::keys(&generation.config));
        let app = Arc::new(App {
            config_path,
            store,
            current: RwLock::new(generation.clone()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            reload_lock: tokio::sync::Mutex::new(()),
        });
        scheduler::start(&generation, &app.store, &app.tracker, &app.shutdown);
        Ok(app)
    }

    /// The config generation in force.
    pub fn generation(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the config file. On success the new config replaces the old one atomically
    /// (old tasks stop, new ones start, series of removed probes disappear); on failure the old
    /// one keeps running and the error is returned (and logged by the caller).
    pub async fn reload(&self) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let loaded = Config::load(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|c| Runtime::new(&c).map(|r| (c, r)).map_err(|e| e.to_string()));
        let (config, runtime) = match loaded {
            Ok(x) => x,
            Err(e) => {
                self.store.reload_failed();
                return Err(e);
            }
        };
        let old = self.generation();
        let generation = Arc::new(Generation {
            number: old.number + 1,
            config: Arc::new(config),
            runtime: Arc::new(runtime),
            stop: CancellationToken::new(),
        });
        self.store
            .begin_generation(generation.number, &scheduler::keys(&generation.config));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = generation.clone();
        old.stop.cancel();
        scheduler::start(&generation, &self.store, &self.tracker, &self.shutdown);
        Ok(())
    }
}
