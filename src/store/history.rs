//! The state history: every (probe, target, check) state transition with its time and summary,
//! kept in SQLite across restarts and reloads, so "since when" and "last OK" have an answer.
//!
//! SQLite for the reasons of the report store (`store/reports.rs`): one file an operator can
//! open with `sqlite3`, transactions that make a run's transitions one step, on every Debian
//! machine. Two tables: `transitions` (append-only, one row per change of a check's state,
//! pruned after the retention) and `current` (one row per check: its state, since when, when
//! last OK and last seen). A check the config no longer runs keeps its rows until they are
//! older than the retention.
//!
//! A file that is not a SQLite database, not ours, or of a newer schema is a clear error from
//! [`History::open`]; [`History::open_or_replace`], what the daemon calls, moves such a file
//! aside and starts a fresh one, and says so, rather than refusing to serve.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use mailauth_probes::State;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::reports::{open_sqlite, schema_of};

/// The schema this program writes (`PRAGMA user_version`).
const SCHEMA: i64 = 1;

/// The retention when the config names none.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(90 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("state history `{path}`: {message}")]
    Open { path: PathBuf, message: String },
    #[error("state history `{path}`: {0}", path = .1.display())]
    Sql(rusqlite::Error, PathBuf),
}

/// Where a check stands, from the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckStatus {
    pub check: String,
    pub state: State,
    pub summary: String,
    /// When the check entered its current state (Unix seconds).
    pub since: f64,
    /// When a run last found it OK, if ever within the retention.
    pub last_ok: Option<f64>,
}

/// A check with the probe and target it belongs to (`/api/v1/history`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetCheck {
    pub probe: String,
    pub target: String,
    #[serde(flatten)]
    pub status: CheckStatus,
    /// Flaps in the window asked for: how often the check went from OK to another state.
    #[serde(rename = "flaps_24h")]
    pub flaps: u32,
}

/// One recorded change of a check's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub at: f64,
    pub state: State,
    pub summary: String,
}

pub struct History {
    path: PathBuf,
    conn: Mutex<Connection>,
    keep: Duration,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

fn state_of(code: i64) -> State {
    match code {
        0 => State::Ok,
        1 => State::Warning,
        2 => State::Critical,
        _ => State::Unknown,
    }
}

impl History {
    /// Opens (or creates) the history at `path`, keeping rows for `keep`.
    pub fn open(path: &Path, keep: Duration) -> Result<History, HistoryError> {
        let err = |message: String| HistoryError::Open {
            path: path.to_path_buf(),
            message,
        };
        let conn = open_sqlite(path).map_err(err)?;
        let (version, tables) =
            schema_of(&conn).map_err(|e| err(format!("not a readable SQLite database ({e})")))?;
        if version > SCHEMA {
            return Err(err(format!(
                "its schema version {version} is newer than this program's ({SCHEMA})"
            )));
        }
        if version == 0 {
            if tables > 0 {
                return Err(err(
                    "a SQLite database that is not a mailauth-probe state history (no schema version)".into(),
                ));
            }
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE transitions (probe TEXT NOT NULL, target TEXT NOT NULL,
                     check_name TEXT NOT NULL, at REAL NOT NULL, state INTEGER NOT NULL,
                     summary TEXT NOT NULL);
                 CREATE INDEX transitions_by_check ON transitions (probe, target, check_name, at);
                 CREATE INDEX transitions_by_time ON transitions (at);
                 CREATE TABLE current (probe TEXT NOT NULL, target TEXT NOT NULL,
                     check_name TEXT NOT NULL, state INTEGER NOT NULL, summary TEXT NOT NULL,
                     since REAL NOT NULL, last_ok REAL, last_seen REAL NOT NULL,
                     PRIMARY KEY (probe, target, check_name));
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
            .map_err(|e| HistoryError::Sql(e, path.to_path_buf()))?;
        }
        Ok(History {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            keep,
        })
    }

    /// As [`History::open`], but a file it cannot use (corrupt, not ours, newer schema) is
    /// renamed to `<path>.unusable-<unix seconds>` and a fresh history started; the second
    /// value then says what happened, for the log. Err only when even a fresh file fails.
    pub fn open_or_replace(
        path: &Path,
        keep: Duration,
    ) -> Result<(History, Option<String>), HistoryError> {
        match History::open(path, keep) {
            Ok(h) => Ok((h, None)),
            Err(e @ HistoryError::Open { .. }) if path.is_file() => {
                let mut aside = path.as_os_str().to_owned();
                aside.push(format!(".unusable-{}", crate::state::now() as u64));
                let aside = PathBuf::from(aside);
                std::fs::rename(path, &aside).map_err(|r| HistoryError::Open {
                    path: path.to_path_buf(),
                    message: format!("{e}; and it cannot be moved aside: {r}"),
                })?;
                let fresh = History::open(path, keep)?;
                Ok((
                    fresh,
                    Some(format!(
                        "{e}: moved it to `{}` and started a new history",
                        aside.display()
                    )),
                ))
            }
            Err(e) => Err(e),
        }
    }

    fn sql(&self, e: rusqlite::Error) -> HistoryError {
        HistoryError::Sql(e, self.path.clone())
    }

    /// Records a run of `probe` on `target` that finished at `at`, with its findings as
    /// (check, state, summary); a check named twice counts with its worst state. A check whose
    /// state differs from the one recorded (or that is new) gets a transition; the others only
    /// their last-seen (and last-OK) time. Rows older than the retention are dropped.
    pub fn record<'a>(
        &self,
        probe: &str,
        target: &str,
        at: f64,
        findings: impl IntoIterator<Item = (&'a str, State, &'a str)>,
    ) -> Result<(), HistoryError> {
        let mut worst: std::collections::BTreeMap<&str, (State, &str)> = Default::default();
        for (check, state, summary) in findings {
            let e = worst.entry(check).or_insert((state, summary));
            if e.0.worst(state) != e.0 {
                *e = (state, summary);
            }
        }
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        for (check, (state, summary)) in worst {
            let code = i64::from(state.code());
            let before: Option<i64> = tx
                .query_row(
                    "SELECT state FROM current WHERE probe = ?1 AND target = ?2 AND check_name = ?3",
                    params![probe, target, check],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.sql(e))?;
            let last_ok = (state == State::Ok).then_some(at);
            if before != Some(code) {
                tx.execute(
                    "INSERT INTO transitions VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![probe, target, check, at, code, summary],
                )
                .map_err(|e| self.sql(e))?;
                tx.execute(
                    "INSERT INTO current VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6)
                     ON CONFLICT (probe, target, check_name) DO UPDATE SET state = ?4,
                     summary = ?5, since = ?6, last_ok = coalesce(?7, last_ok), last_seen = ?6",
                    params![probe, target, check, code, summary, at, last_ok],
                )
                .map_err(|e| self.sql(e))?;
            } else {
                tx.execute(
                    "UPDATE current SET summary = ?4, last_seen = ?5,
                     last_ok = coalesce(?6, last_ok)
                     WHERE probe = ?1 AND target = ?2 AND check_name = ?3",
                    params![probe, target, check, summary, at, last_ok],
                )
                .map_err(|e| self.sql(e))?;
            }
        }
        let horizon = at - self.keep.as_secs_f64();
        tx.execute("DELETE FROM transitions WHERE at < ?1", params![horizon])
            .map_err(|e| self.sql(e))?;
        tx.execute("DELETE FROM current WHERE last_seen < ?1", params![horizon])
            .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Every check recorded for `probe` on `target`, by check name.
    pub fn status(&self, probe: &str, target: &str) -> Result<Vec<CheckStatus>, HistoryError> {
        Ok(self
            .list(Some(probe), Some(target), f64::INFINITY)?
            .into_iter()
            .map(|c| c.status)
            .collect())
    }

    /// Every check recorded, narrowed to `probe` and `target` when given, by probe, target
    /// and check name, with its flaps since `flaps_from`; checks the config no longer runs
    /// included, until the retention.
    pub fn list(
        &self,
        probe: Option<&str>,
        target: Option<&str>,
        flaps_from: f64,
    ) -> Result<Vec<TargetCheck>, HistoryError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = conn
            .prepare(
                "SELECT probe, target, check_name, state, summary, since, last_ok,
                     (SELECT count(*) FROM (SELECT t.at, t.state, lag(t.state)
                         OVER (ORDER BY t.at, t.rowid) AS prev FROM transitions t
                         WHERE t.probe = c.probe AND t.target = c.target
                         AND t.check_name = c.check_name)
                      WHERE at >= ?3 AND prev = 0 AND state != 0)
                 FROM current c
                 WHERE (?1 IS NULL OR probe = ?1) AND (?2 IS NULL OR target = ?2)
                 ORDER BY probe, target, check_name",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![probe, target, flaps_from], |r| {
                Ok(TargetCheck {
                    probe: r.get(0)?,
                    target: r.get(1)?,
                    status: CheckStatus {
                        check: r.get(2)?,
                        state: state_of(r.get(3)?),
                        summary: r.get(4)?,
                        since: r.get(5)?,
                        last_ok: r.get(6)?,
                    },
                    flaps: r.get(7)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// The transitions of one check, oldest first.
    pub fn transitions(
        &self,
        probe: &str,
        target: &str,
        check: &str,
    ) -> Result<Vec<Transition>, HistoryError> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = conn
            .prepare(
                "SELECT at, state, summary FROM transitions
                 WHERE probe = ?1 AND target = ?2 AND check_name = ?3 ORDER BY at, rowid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![probe, target, check], |r| {
                Ok(Transition {
                    at: r.get(0)?,
                    state: state_of(r.get(1)?),
                    summary: r.get(2)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Flaps of one check since `from`: how often it went from OK to another state.
    pub fn flaps(
        &self,
        probe: &str,
        target: &str,
        check: &str,
        from: f64,
    ) -> Result<u32, HistoryError> {
        let all = self.transitions(probe, target, check)?;
        Ok(all
            .windows(2)
            .filter(|w| w[1].at >= from && w[0].state == State::Ok && w[1].state != State::Ok)
            .count() as u32)
    }
}

#[cfg(test)]
mod tests;
