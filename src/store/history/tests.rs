//! The state history on a temporary file: transitions recorded once, since and last OK,
//! flaps, retention, a restart, and unusable files moved aside.

use super::*;

const DAY: f64 = 86_400.0;

fn open(path: &Path) -> History {
    History::open(path, DEFAULT_KEEP).unwrap()
}

fn run(h: &History, at: f64, state: State, summary: &str) {
    h.record("dns", "example.org", at, [("spf:syntax", state, summary)])
        .unwrap();
}

#[test]
fn transitions_are_recorded_once_with_since_and_last_ok() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir.path().join("history.sqlite"));
    run(&h, 100.0, State::Ok, "valid");
    run(&h, 200.0, State::Ok, "valid");
    run(&h, 300.0, State::Critical, "permerror at column 8");
    run(&h, 400.0, State::Critical, "permerror at column 8");
    run(&h, 500.0, State::Critical, "permerror at column 9");
    let t = h.transitions("dns", "example.org", "spf:syntax").unwrap();
    assert_eq!(
        t.iter().map(|t| (t.at, t.state)).collect::<Vec<_>>(),
        [(100.0, State::Ok), (300.0, State::Critical)]
    );
    let s = &h.status("dns", "example.org").unwrap()[0];
    assert_eq!(
        (s.state, s.since, s.last_ok),
        (State::Critical, 300.0, Some(200.0))
    );
    // The summary is the latest run's, the time the first of the state's.
    assert_eq!(s.summary, "permerror at column 9");
    run(&h, 600.0, State::Ok, "valid");
    let s = &h.status("dns", "example.org").unwrap()[0];
    assert_eq!(
        (s.state, s.since, s.last_ok),
        (State::Ok, 600.0, Some(600.0))
    );
    assert_eq!(h.flaps("dns", "example.org", "spf:syntax", 0.0).unwrap(), 1);
    assert_eq!(
        h.flaps("dns", "example.org", "spf:syntax", 350.0).unwrap(),
        0
    );
}

#[test]
fn a_check_named_twice_counts_with_its_worst_state() {
    let dir = tempfile::tempdir().unwrap();
    let h = open(&dir.path().join("h.sqlite"));
    h.record(
        "bl",
        "192.0.2.10",
        1.0,
        [("listed", State::Ok, "a"), ("listed", State::Critical, "b")],
    )
    .unwrap();
    let s = &h.status("bl", "192.0.2.10").unwrap()[0];
    assert_eq!(
        (s.state, s.summary.as_str(), s.last_ok),
        (State::Critical, "b", None)
    );
}

#[test]
fn a_restart_keeps_the_history_and_retention_drops_what_is_older() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let h = open(&path);
        run(&h, 100.0, State::Ok, "valid");
        run(&h, 200.0, State::Warning, "?all");
        // A check the config no longer runs: kept until the retention passes.
        h.record("gone", "example.net", 150.0, [("mx", State::Ok, "ok")])
            .unwrap();
    }
    let h = open(&path);
    let s = &h.status("dns", "example.org").unwrap()[0];
    assert_eq!(
        (s.state, s.since, s.last_ok),
        (State::Warning, 200.0, Some(100.0))
    );
    assert_eq!(h.status("gone", "example.net").unwrap().len(), 1);
    run(&h, 200.0 + 89.0 * DAY, State::Warning, "?all");
    assert_eq!(h.status("gone", "example.net").unwrap().len(), 1);
    run(&h, 200.0 + 91.0 * DAY, State::Warning, "?all");
    assert!(h.status("gone", "example.net").unwrap().is_empty());
    // The old transitions are gone; the current state and its since stay.
    assert!(
        h.transitions("dns", "example.org", "spf:syntax")
            .unwrap()
            .is_empty()
    );
    let s = &h.status("dns", "example.org").unwrap()[0];
    assert_eq!((s.state, s.since), (State::Warning, 200.0));
}

fn moved_aside(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".unusable-"))
        .collect()
}

#[test]
fn a_corrupt_file_is_an_error_and_the_daemon_moves_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    std::fs::write(
        &path,
        b"this is not SQLite, just text long enough to fill a header",
    )
    .unwrap();
    let e = History::open(&path, DEFAULT_KEEP).unwrap_err().to_string();
    assert!(e.contains("not a readable SQLite database"), "{e}");
    let (h, note) = History::open_or_replace(&path, DEFAULT_KEEP).unwrap();
    let note = note.unwrap();
    assert!(
        note.contains("moved it to") && note.contains("new history"),
        "{note}"
    );
    let aside = moved_aside(dir.path());
    assert_eq!(aside.len(), 1);
    assert!(
        std::fs::read_to_string(&aside[0])
            .unwrap()
            .starts_with("this is not SQLite")
    );
    run(&h, 1.0, State::Ok, "valid");
    assert_eq!(h.status("dns", "example.org").unwrap().len(), 1);
}

#[test]
fn a_newer_schema_is_an_error_and_the_daemon_moves_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    drop(open(&path));
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 2;")
        .unwrap();
    let e = History::open(&path, DEFAULT_KEEP).unwrap_err().to_string();
    assert!(e.contains("schema version 2 is newer"), "{e}");
    let (_, note) = History::open_or_replace(&path, DEFAULT_KEEP).unwrap();
    assert!(note.unwrap().contains("schema version 2"));
    assert_eq!(moved_aside(dir.path()).len(), 1);
    // A usable file is opened as it is.
    let (_, note) = History::open_or_replace(&path, DEFAULT_KEEP).unwrap();
    assert_eq!(note, None);
    assert_eq!(moved_aside(dir.path()).len(), 1);
}
