//! The report store of `kind: reports`: which DMARC aggregate and TLS-RPT reports were
//! counted (by reporter and report id, so a duplicate or a restart counts nothing twice), the
//! cumulative counters behind the `mailauth_dmarc_*`/`mailauth_tlsrpt_*` series, and the last
//! `keep_days` of per-source rows for `mailauth-probe reports summary`.
//!
//! Why SQLite (rusqlite, linked to the system library): one file an operator can open with
//! the `sqlite3` tool to see what was counted, transactions that make "record the report id and
//! add its counts" one step (a crash in between loses nothing and counts nothing twice), a
//! stable on-disk format, and it is on every Debian machine. redb would do the key-value part,
//! but the summary's "top sources over N days" is a query, which SQL says in one line.
//!
//! A store that is not a SQLite database, or whose schema is newer than this program's, is an
//! error naming the file and what to do; it is never reset silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use mailauth_probes::reports::ingest::ReportSink;
use mailauth_probes::reports::parse::ParsedReport;
use rusqlite::{Connection, OptionalExtension, params};

/// The schema this program writes (`PRAGMA user_version`).
const SCHEMA: i64 = 1;

/// Label values longer than this are cut: they come from strangers' reports.
const MAX_LABEL: usize = 64;

/// (family, labels) → count.
pub type CounterMap = BTreeMap<(String, Vec<String>), u64>;

/// Cumulative counts, as exported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Family `dmarc_messages`: [reporter, domain, disposition, dkim, spf];
    /// `dmarc_reports`: [reporter]; `tlsrpt_sessions`: [reporter, policy_domain, result];
    /// `invalid`: [].
    pub values: CounterMap,
    /// When a report was last counted (Unix seconds).
    pub last_ingest: Option<f64>,
}

impl Counters {
    pub fn family(&self, name: &str) -> impl Iterator<Item = (&Vec<String>, u64)> {
        self.values
            .iter()
            .filter(move |((f, _), _)| f == name)
            .map(|((_, l), v)| (l, *v))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("report store `{path}`: {message}")]
    Open { path: PathBuf, message: String },
    #[error("report store `{path}`: {0}", path = .1.display())]
    Sql(rusqlite::Error, PathBuf),
}

pub struct ReportStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    counters: RwLock<Counters>,
    keep_days: u32,
}

impl std::fmt::Debug for ReportStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportStore")
            .field("path", &self.path)
            .finish()
    }
}

fn label(s: &str) -> String {
    let s = s.trim().to_ascii_lowercase();
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL)
        .collect();
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s.to_ascii_lowercase(),
        _ => "other".into(),
    }
}

fn now() -> f64 {
    crate::state::now()
}

/// Opens the SQLite file at `path`, creating it and its directory if need be. Err: why not.
pub(crate) fn open_sqlite(path: &Path) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create its directory: {e}"))?;
    }
    Connection::open(path).map_err(|e| format!("cannot open: {e}"))
}

/// A database's schema version (`PRAGMA user_version`, 0 when none was set) and its number of
/// tables, indexes and views; Err when the file is not a readable SQLite database.
pub(crate) fn schema_of(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tables = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    Ok((version, tables))
}

impl ReportStore {
    /// Opens (or creates) the store at `path`, keeping per-source rows for `keep_days`.
    pub fn open(path: &Path, keep_days: u32) -> Result<ReportStore, StoreError> {
        let err = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        let conn = open_sqlite(path).map_err(err)?;
        let (version, tables) = schema_of(&conn).map_err(|e| {
            err(format!(
                "not a readable SQLite database ({e}); move it away to start a new store"
            ))
        })?;
        if version > SCHEMA {
            return Err(err(format!(
                "its schema version {version} is newer than this program's ({SCHEMA}): upgrade mailauth-probe, or give `store:` another path"
            )));
        }
        let sql = |e: rusqlite::Error| StoreError::Sql(e, path.to_path_buf());
        if version == 0 {
            // A new file, or a SQLite file that is not ours: only create into an empty one.
            if tables > 0 {
                return Err(err(
                    "a SQLite database that is not a mailauth-probe report store (no schema version): give `store:` another path".into(),
                ));
            }
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE reports (reporter TEXT NOT NULL, report_id TEXT NOT NULL,
                     kind TEXT NOT NULL, begin INTEGER NOT NULL, counted_at REAL NOT NULL,
                     PRIMARY KEY (reporter, report_id, kind));
                 CREATE TABLE counters (family TEXT NOT NULL, labels TEXT NOT NULL,
                     value INTEGER NOT NULL, PRIMARY KEY (family, labels));
                 CREATE TABLE dmarc_rows (reporter TEXT NOT NULL, report_id TEXT NOT NULL,
                     begin INTEGER NOT NULL, domain TEXT NOT NULL, source_ip TEXT NOT NULL,
                     count INTEGER NOT NULL, disposition TEXT NOT NULL, dkim TEXT NOT NULL,
                     spf TEXT NOT NULL);
                 CREATE INDEX dmarc_rows_begin ON dmarc_rows (begin);
                 CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
            .map_err(sql)?;
        }
        let store = ReportStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            counters: RwLock::new(Counters::default()),
            keep_days,
        };
        store.reload()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the counters from the file into memory.
    fn reload(&self) -> Result<(), StoreError> {
        let sql = |e: rusqlite::Error| StoreError::Sql(e, self.path.clone());
        let conn = self.conn();
        let mut values = CounterMap::new();
        let mut stmt = conn
            .prepare("SELECT family, labels, value FROM counters")
            .map_err(sql)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(sql)?;
        for row in rows {
            let (family, labels, value) = row.map_err(sql)?;
            let labels: Vec<String> = serde_json::from_str(&labels).unwrap_or_default();
            values.insert((family, labels), value.max(0) as u64);
        }
        let last_ingest = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_ingest'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(sql)?
            .and_then(|v| v.parse().ok());
        *self.counters.write().unwrap_or_else(|e| e.into_inner()) = Counters {
            values,
            last_ingest,
        };
        Ok(())
    }

    /// A copy of the counters, for `/metrics`.
    pub fn counters(&self) -> Counters {
        self.counters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn add(
        tx: &rusqlite::Transaction<'_>,
        pending: &mut CounterMap,
        family: &str,
        labels: Vec<String>,
        n: u64,
    ) -> rusqlite::Result<()> {
        let key = serde_json::to_string(&labels).expect("strings serialize");
        tx.execute(
            "INSERT INTO counters (family, labels, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (family, labels) DO UPDATE SET value = value + excluded.value",
            params![family, key, n as i64],
        )?;
        *pending.entry((family.to_string(), labels)).or_default() += n;
        Ok(())
    }

    fn record_inner(&self, report: &ParsedReport) -> rusqlite::Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut pending = CounterMap::new();
        let at = now();
        let (reporter, id, kind, begin) = match report {
            ParsedReport::Dmarc(r) => (
                label(&r.report_metadata.org_name),
                r.report_metadata.report_id.clone(),
                "dmarc",
                r.report_metadata.date_range.begin as i64,
            ),
            ParsedReport::TlsRpt(r) => (
                label(r.organization_name.as_deref().unwrap_or("unknown")),
                r.report_id.clone(),
                "tlsrpt",
                r.date_range.start_datetime.to_timestamp(),
            ),
        };
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO reports (reporter, report_id, kind, begin, counted_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![reporter, id, kind, begin, at],
        )?;
        if inserted == 0 {
            return Ok(false);
        }
        match report {
            ParsedReport::Dmarc(r) => {
                Self::add(
                    &tx,
                    &mut pending,
                    "dmarc_reports",
                    vec![reporter.clone()],
                    1,
                )?;
                for rec in &r.record {
                    let pe = &rec.row.policy_evaluated;
                    let domain = label(&rec.identifiers.header_from);
                    let disposition = name_of(&pe.disposition);
                    let dkim = name_of(&pe.dkim);
                    let spf = name_of(&pe.spf);
                    let n = u64::from(rec.row.count);
                    Self::add(
                        &tx,
                        &mut pending,
                        "dmarc_messages",
                        vec![
                            reporter.clone(),
                            domain.clone(),
                            disposition.clone(),
                            dkim.clone(),
                            spf.clone(),
                        ],
                        n,
                    )?;
                    tx.execute(
                        "INSERT INTO dmarc_rows (reporter, report_id, begin, domain, source_ip,
                             count, disposition, dkim, spf)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            reporter,
                            id,
                            begin,
                            domain,
                            rec.row
                                .source_ip
                                .map(|ip| ip.to_string())
                                .unwrap_or_default(),
                            n as i64,
                            disposition,
                            dkim,
                            spf
                        ],
                    )?;
                }
            }
            ParsedReport::TlsRpt(r) => {
                for p in &r.policies {
                    let domain = label(&p.policy.policy_domain);
                    Self::add(
                        &tx,
                        &mut pending,
                        "tlsrpt_sessions",
                        vec![reporter.clone(), domain.clone(), "success".into()],
                        u64::from(p.summary.total_success),
                    )?;
                    let mut detailed = 0u64;
                    for f in &p.failure_details {
                        let n = u64::from(f.failed_session_count);
                        detailed += n;
                        Self::add(
                            &tx,
                            &mut pending,
                            "tlsrpt_sessions",
                            vec![reporter.clone(), domain.clone(), name_of(&f.result_type)],
                            n,
                        )?;
                    }
                    // Failures the reporter summed but did not detail.
                    let rest = u64::from(p.summary.total_failure).saturating_sub(detailed);
                    if rest > 0 {
                        Self::add(
                            &tx,
                            &mut pending,
                            "tlsrpt_sessions",
                            vec![reporter.clone(), domain, "unspecified-failure".into()],
                            rest,
                        )?;
                    }
                }
            }
        }
        let cutoff = at as i64 - i64::from(self.keep_days) * 86_400;
        tx.execute("DELETE FROM dmarc_rows WHERE begin < ?1", params![cutoff])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('last_ingest', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![at.to_string()],
        )?;
        tx.commit()?;
        self.merge(pending, Some(at));
        Ok(true)
    }

    /// Adds what a committed transaction added to the in-memory copy of the counters.
    fn merge(&self, pending: CounterMap, ingested_at: Option<f64>) {
        let mut c = self.counters.write().unwrap_or_else(|e| e.into_inner());
        for (k, v) in pending {
            *c.values.entry(k).or_default() += v;
        }
        if ingested_at.is_some() {
            c.last_ingest = ingested_at;
        }
    }

    /// Counts a message moved to the invalid folder.
    pub fn count_invalid(&self, n: u64) -> Result<(), StoreError> {
        let sql = |e: rusqlite::Error| StoreError::Sql(e, self.path.clone());
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql)?;
        let mut pending = CounterMap::new();
        Self::add(&tx, &mut pending, "invalid", vec![], n).map_err(sql)?;
        tx.commit().map_err(sql)?;
        drop(conn);
        self.merge(pending, None);
        Ok(())
    }

    /// Per-source rows of reports that began within the last `days` days:
    /// (source_ip, domain, messages, dmarc-pass messages, reporters, first seen ever).
    pub fn sources(&self, days: u32) -> Result<Vec<SourceRow>, StoreError> {
        let sql = |e: rusqlite::Error| StoreError::Sql(e, self.path.clone());
        let conn = self.conn();
        let since = now() as i64 - i64::from(days) * 86_400;
        let mut stmt = conn
            .prepare(
                "SELECT source_ip, domain, sum(count),
                        sum(CASE WHEN dkim = 'pass' OR spf = 'pass' THEN count ELSE 0 END),
                        group_concat(DISTINCT reporter),
                        (SELECT min(begin) FROM dmarc_rows r2 WHERE r2.source_ip = r.source_ip)
                 FROM dmarc_rows r WHERE begin >= ?1
                 GROUP BY source_ip, domain ORDER BY sum(count) DESC",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![since], |r| {
                Ok(SourceRow {
                    source_ip: r.get(0)?,
                    domain: r.get(1)?,
                    messages: r.get::<_, i64>(2)?.max(0) as u64,
                    passing: r.get::<_, i64>(3)?.max(0) as u64,
                    reporters: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    first_seen: r.get(5)?,
                })
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }
}

impl ReportStore {
    /// Per reporter over the last `days` days: (reporter, messages, failing messages), the
    /// reporters that saw failures first.
    pub fn reporters(&self, days: u32) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let sql = |e: rusqlite::Error| StoreError::Sql(e, self.path.clone());
        let conn = self.conn();
        let since = now() as i64 - i64::from(days) * 86_400;
        let mut stmt = conn
            .prepare(
                "SELECT reporter, sum(count),
                        sum(CASE WHEN dkim = 'pass' OR spf = 'pass' THEN 0 ELSE count END) AS failing
                 FROM dmarc_rows WHERE begin >= ?1
                 GROUP BY reporter ORDER BY failing DESC, reporter",
            )
            .map_err(sql)?;
        let rows = stmt
            .query_map(params![since], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?.max(0) as u64,
                    r.get::<_, i64>(2)?.max(0) as u64,
                ))
            })
            .map_err(sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(sql)
    }
}

/// One source of mail as the reports of the last days saw it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceRow {
    pub source_ip: String,
    pub domain: String,
    pub messages: u64,
    /// Messages that passed DMARC (aligned DKIM or SPF pass).
    pub passing: u64,
    pub reporters: String,
    /// When a report first showed this source (Unix seconds).
    pub first_seen: i64,
}

impl ReportSink for ReportStore {
    fn record(&self, report: &ParsedReport) -> Result<bool, String> {
        self.record_inner(report)
            .map_err(|e| StoreError::Sql(e, self.path.clone()).to_string())
    }

    fn invalid(&self) -> Result<(), String> {
        self.count_invalid(1).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::report::{ActionDisposition, DmarcResult, Record, Report};

    fn dmarc(org: &str, id: &str) -> ParsedReport {
        let now = crate::state::now() as u64;
        let rec = |ip: &str, n: u32, dkim: DmarcResult| {
            Record::new()
                .with_source_ip(ip.parse().unwrap())
                .with_count(n)
                .with_action_disposition(ActionDisposition::None)
                .with_dmarc_dkim_result(dkim)
                .with_dmarc_spf_result(DmarcResult::Fail)
                .with_header_from("lab.test")
        };
        ParsedReport::Dmarc(
            Report::new()
                .with_org_name(org)
                .with_report_id(id)
                .with_date_range_begin(now - 3600)
                .with_date_range_end(now)
                .with_domain("lab.test")
                .with_record(rec("192.0.2.1", 5, DmarcResult::Pass))
                .with_record(rec("198.51.100.7", 2, DmarcResult::Fail)),
        )
    }

    fn value(c: &Counters, family: &str, labels: &[&str]) -> u64 {
        let l: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        c.values.get(&(family.to_string(), l)).copied().unwrap_or(0)
    }

    #[test]
    fn reports_count_once_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite");
        let s = ReportStore::open(&path, 30).unwrap();
        assert_eq!(s.record(&dmarc("Example Org", "r1")), Ok(true));
        assert_eq!(s.record(&dmarc("Example Org", "r1")), Ok(false));
        assert_eq!(s.record(&dmarc("Other", "r1")), Ok(true));
        let c = s.counters();
        assert_eq!(value(&c, "dmarc_reports", &["example org"]), 1);
        assert_eq!(
            value(
                &c,
                "dmarc_messages",
                &["example org", "lab.test", "none", "pass", "fail"]
            ),
            5
        );
        assert_eq!(
            value(
                &c,
                "dmarc_messages",
                &["other", "lab.test", "none", "fail", "fail"]
            ),
            2
        );
        drop(s);
        let s = ReportStore::open(&path, 30).unwrap();
        assert_eq!(s.counters(), c, "the counters come back from the file");
        assert_eq!(s.record(&dmarc("Example Org", "r1")), Ok(false));
        let sources = s.sources(7).unwrap();
        assert_eq!(sources[0].source_ip, "192.0.2.1");
        assert_eq!(sources[0].messages, 10);
        assert_eq!(sources[0].passing, 10);
        assert_eq!(sources[1].passing, 0);
    }

    #[test]
    fn a_foreign_corrupt_or_newer_store_is_a_clear_error_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.sqlite");
        std::fs::write(
            &junk,
            b"this is not a database, it is a text file of some length....",
        )
        .unwrap();
        let e = ReportStore::open(&junk, 30).unwrap_err().to_string();
        assert!(
            e.contains("junk.sqlite") && e.contains("not a readable SQLite database"),
            "{e}"
        );
        assert_eq!(
            std::fs::read(&junk).unwrap(),
            b"this is not a database, it is a text file of some length...."
        );
        let newer = dir.path().join("newer.sqlite");
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 7;")
            .unwrap();
        let e = ReportStore::open(&newer, 30).unwrap_err().to_string();
        assert!(e.contains("schema version 7 is newer"), "{e}");
        let foreign = dir.path().join("foreign.sqlite");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        let e = ReportStore::open(&foreign, 30).unwrap_err().to_string();
        assert!(e.contains("not a mailauth-probe report store"), "{e}");
    }
}
