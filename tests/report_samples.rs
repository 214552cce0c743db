//! Sample DMARC aggregate and TLS-RPT reports that other report parsers ship, run through our
//! `mailauth_probes::reports::parse` and compared with what those parsers do with them.
//!
//! - **dmarc-report** (PyPI, a strict RFC 7489 / RFC 9990 aggregate report parser): its sdist
//!   ships `tests/reports/` (xml, gz and zip, valid and invalid) and says which is which in
//!   `tests/test_reports.py` (`valid_xml_reports`, `invalid_gz_reports`, …) and
//!   `tests/test_cli.py` (`test_cli_malformed_inputs_are_concise`). A sample it parses must
//!   parse for us, with the report id, org name and record count read from the XML text
//!   itself (for a .gz or .zip, from the .xml of the same name); a sample it refuses must be
//!   refused. Two files no test names are classified by dmarc-report's own rule (a zip with
//!   more than one `.xml` member is ambiguous, `_attachments._read_zip`), and one (a .gz of
//!   an invalid .xml) inherits its .xml's class. A file not classified fails the test.
//! - **parsedmarc** (PyPI): its `samples/` directory lives in its Git repository only; the
//!   sdist (pinned below) ships the package alone. The test checks that this is still so,
//!   and that the rules of parsedmarc we compare with in docs/reports.md are still in its
//!   source.
//! - **mail-auth**'s own `resources/` (the crate we parse with, from Cargo's source cache;
//!   found with `cargo metadata --offline`): real report messages (Google's zip as the body,
//!   Outlook's nested multipart, Amazon SES's octet-stream, mail.ru, TLS-RPT as
//!   multipart/report) with mail-auth's expected parse as JSON beside each. Ours must equal
//!   it: this checks our MIME walk, decompression and checks on real messages.
//!
//! Every difference must be in [`KNOWN`] with our outcome and the reason; a listed sample
//! that now agrees, or gives another outcome, fails the test too. docs/reports.md explains
//! each.
//!
//! The sdists are not committed and this test never uses the network: run
//! `contrib/fetch-test-data` (CI runs it) to download them into `target/test-data/`; the
//! test extracts what it needs next to them on first use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mailauth_probes::reports::parse::{
    ParsedReport, ReportLimits, decode_payload, reports_in_message,
};

/// The releases compared with (contrib/fetch-test-data pins the same).
const DMARC_REPORT_VERSION: &str = "3.1.0";
const PARSEDMARC_VERSION: &str = "11.1.0";

/// Samples where we deliberately differ: (sample, our outcome, why). docs/reports.md says
/// more.
const KNOWN: &[(&str, &str, &str)] = &[
    ("multiple_reports.zip", "parsed", FIRST_ZIP_MEMBER),
    (
        "multiple-invalid-directory-with-valid.zip",
        "parsed",
        FIRST_ZIP_MEMBER,
    ),
];
const FIRST_ZIP_MEMBER: &str = "a zip with several .xml members: we read the first .xml \
    member (parsedmarc reads the first member, `namelist()[0]`); dmarc-report refuses the \
    archive as ambiguous";

// ---------------------------------------------------------------------------------------
// The packages: extracted once from the sdists that contrib/fetch-test-data downloaded.

fn test_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-data")
}

fn sdist(file: &str) -> PathBuf {
    let path = test_data_dir().join(file);
    assert!(
        path.is_file(),
        "{} is missing: run contrib/fetch-test-data, which downloads the parsedmarc \
         {PARSEDMARC_VERSION} and dmarc-report {DMARC_REPORT_VERSION} sdists from PyPI with pip \
         (this test never uses the network)",
        path.display()
    );
    path
}

/// `member` (a directory inside the sdist) extracted under target/test-data/, once.
fn extracted(sdist_file: &str, member: &str) -> PathBuf {
    let dir = test_data_dir();
    let out = dir.join(member);
    if out.is_dir() {
        return out;
    }
    let tarball = sdist(sdist_file);
    let tmp = tempfile::tempdir_in(&dir).expect("temporary directory");
    let run = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(tmp.path())
        .arg(member)
        .stdin(Stdio::null())
        .output()
        .expect("run tar");
    assert!(
        run.status.success(),
        "tar could not extract {member} from {}: {}",
        tarball.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    if let Err(e) = std::fs::rename(tmp.path().join(member), &out) {
        // Another run may have put it there first.
        assert!(out.is_dir(), "move {member} into place: {e}");
    }
    out
}

fn tar_list(sdist_file: &str) -> Vec<String> {
    let run = Command::new("tar")
        .arg("-tzf")
        .arg(sdist(sdist_file))
        .stdin(Stdio::null())
        .output()
        .expect("run tar");
    assert!(run.status.success(), "tar -tzf {sdist_file}");
    String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// Our side.

/// What our parser made of a file: every report in it, or the refusal.
fn ours(path: &Path) -> Result<Vec<ParsedReport>, String> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let bytes = read(path);
    let limits = ReportLimits::default();
    if name.ends_with(".eml") {
        let found = reports_in_message(&bytes, &limits).map_err(|e| e.to_string())?;
        found
            .into_iter()
            .map(|f| f.report.map_err(|e| e.to_string()))
            .collect()
    } else {
        decode_payload(&name, "", &bytes, &limits)
            .map(|r| vec![r])
            .map_err(|e| e.to_string())
    }
}

/// The text of the first `<tag>` of `xml`, trimmed.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim().to_string())
}

// ---------------------------------------------------------------------------------------
// dmarc-report.

/// The quoted `reports/…` names of the Python list `name = [ … ]` in `source`.
fn python_list(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("\n{name} = ["))
        .unwrap_or_else(|| panic!("list {name} not found"));
    let body = &source[start..];
    let body = &body[..body.find(']').unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(|s| s.trim_start_matches("reports/").to_string())
        .collect()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Class {
    Valid,
    Invalid,
}

/// Each sample file and what dmarc-report does with it, with where that is said.
fn dmarc_report_expectations(pkg: &Path) -> Vec<(String, Class, &'static str)> {
    let tests = String::from_utf8(read(&pkg.join("tests/test_reports.py"))).unwrap();
    let cli = String::from_utf8(read(&pkg.join("tests/test_cli.py"))).unwrap();
    let mut out: Vec<(String, Class, &'static str)> = Vec::new();
    for (list, class) in [
        ("valid_xml_reports", Class::Valid),
        ("valid_gz_reports", Class::Valid),
        ("valid_zip_reports", Class::Valid),
        ("invalid_xml_reports", Class::Invalid),
        ("invalid_gz_reports", Class::Invalid),
        ("invalid_zip_reports", Class::Invalid),
    ] {
        for f in python_list(&tests, list) {
            out.push((f, class, "tests/test_reports.py"));
        }
    }
    // test_cli_malformed_inputs_are_concise: ("file", "error_code") pairs.
    let malformed = &cli[cli
        .find("(\"filename\", \"error_code\")")
        .expect("test_cli.py: test_cli_malformed_inputs_are_concise's parameters")..];
    let malformed = &malformed[..malformed.find("def ").unwrap()];
    for line in malformed.lines().skip(1) {
        if let Some(f) = line.trim().strip_prefix("(\"")
            && let Some((f, _)) = f.split_once('"')
            && !out.iter().any(|(o, _, _)| o == f)
        {
            out.push((f.to_string(), Class::Invalid, "tests/test_cli.py"));
        }
    }
    let mut files: Vec<String> = std::fs::read_dir(pkg.join("tests/reports"))
        .expect("list tests/reports")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    for f in files {
        if out.iter().any(|(o, _, _)| *o == f) {
            continue;
        }
        let zip_members = if f.ends_with(".zip") {
            zip_xml_members(&pkg.join("tests/reports").join(&f))
        } else {
            0
        };
        let sibling = f
            .strip_suffix(".gz")
            .or_else(|| f.strip_suffix(".zip"))
            .and_then(|x| out.iter().find(|(o, _, _)| o == x).map(|(_, c, _)| *c));
        if zip_members > 1 {
            out.push((f, Class::Invalid, "_read_zip: several .xml members"));
        } else if let Some(class) = sibling {
            out.push((f, class, "class of its .xml"));
        } else {
            panic!("dmarc-report sample {f} is named by no test and no rule here: classify it");
        }
    }
    out
}

/// `.xml` members of a zip outside `__MACOSX/`, from its central directory names.
fn zip_xml_members(path: &Path) -> usize {
    let bytes = read(path);
    let mut n = 0;
    let mut i = 0;
    while i + 46 <= bytes.len() {
        if &bytes[i..i + 4] == b"PK\x01\x02" {
            let len = u16::from_le_bytes([bytes[i + 28], bytes[i + 29]]) as usize;
            let name = String::from_utf8_lossy(&bytes[i + 46..(i + 46 + len).min(bytes.len())]);
            if name.to_ascii_lowercase().ends_with(".xml") && !name.starts_with("__MACOSX/") {
                n += 1;
            }
            i += 46 + len;
        } else {
            i += 1;
        }
    }
    n
}

#[test]
fn dmarc_report_samples() {
    let pkg = extracted(
        &format!("dmarc_report-{DMARC_REPORT_VERSION}.tar.gz"),
        &format!("dmarc_report-{DMARC_REPORT_VERSION}/tests"),
    );
    let pkg = pkg.parent().unwrap();
    let dir = pkg.join("tests/reports");
    let expectations = dmarc_report_expectations(pkg);

    let mut known_used = vec![false; KNOWN.len()];
    let mut problems = Vec::new();
    let (mut agree, mut known) = (0, 0);
    println!("dmarc-report {DMARC_REPORT_VERSION} samples (tests/reports/):");
    for (file, class, source) in &expectations {
        let result = ours(&dir.join(file));
        let outcome = match &result {
            Ok(_) => "parsed",
            Err(_) => "refused",
        };
        let mut detail = match &result {
            Ok(r) => format!(
                "{} record(s), report_id {:?}",
                r[0].record_count(),
                r[0].report_id()
            ),
            Err(e) => e.clone(),
        };
        // What the XML text itself says, for a sample that dmarc-report parses.
        let mut mismatch = None;
        if let (Class::Valid, Ok(reports)) = (class, &result) {
            let stem = file
                .strip_suffix(".gz")
                .or_else(|| file.strip_suffix(".zip"))
                .unwrap_or(file);
            let xml = String::from_utf8(read(&dir.join(stem))).unwrap();
            let expected = (
                xml_text(&xml, "report_id").unwrap_or_default(),
                xml_text(&xml, "org_name").unwrap_or_default(),
                xml.matches("<record>").count(),
            );
            let got = (
                reports[0].report_id().to_string(),
                reports[0].org_name().to_string(),
                reports[0].record_count(),
            );
            if reports.len() != 1 || got != expected {
                mismatch = Some(format!("expected {expected:?} from {stem}, got {got:?}"));
            }
        }
        let expected_outcome = match class {
            Class::Valid => "parsed",
            Class::Invalid => "refused",
        };
        let listed = KNOWN.iter().position(|(f, _, _)| f == file);
        if let Some(k) = listed {
            known_used[k] = true;
        }
        match (outcome == expected_outcome && mismatch.is_none(), listed) {
            (true, None) => agree += 1,
            (true, Some(_)) => problems.push(format!(
                "{file}: listed in KNOWN but now agrees ({outcome}): remove it from KNOWN and docs/reports.md"
            )),
            (false, Some(k)) if KNOWN[k].1 == outcome => {
                known += 1;
                detail = format!("{detail} [known: {}]", KNOWN[k].2);
            }
            (false, Some(k)) => problems.push(format!(
                "{file}: KNOWN lists {:?} but ours is {outcome:?}: {detail}",
                KNOWN[k].1
            )),
            (false, None) => problems.push(format!(
                "{file}: dmarc-report {} it ({source}), we {outcome} it: {}",
                if *class == Class::Valid { "parses" } else { "refuses" },
                mismatch.as_deref().unwrap_or(&detail)
            )),
        }
        println!(
            "  {file:<44} dmarc-report: {:<7} ours: {outcome:<7} {detail}",
            if *class == Class::Valid {
                "parsed"
            } else {
                "refused"
            },
        );
    }
    for (i, used) in known_used.iter().enumerate() {
        if !used {
            problems.push(format!("KNOWN entry {:?} matches no sample", KNOWN[i].0));
        }
    }
    println!(
        "{} samples: {agree} agree, {known} known differences, {} problems",
        expectations.len(),
        problems.len()
    );
    assert!(
        expectations.len() >= 30,
        "only {} samples",
        expectations.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------
// parsedmarc.

#[test]
fn parsedmarc_sdist_ships_no_samples_and_its_rules_are_unchanged() {
    let sdist_file = format!("parsedmarc-{PARSEDMARC_VERSION}.tar.gz");
    let samples: Vec<String> = tar_list(&sdist_file)
        .into_iter()
        .filter(|p| p.contains("/samples/"))
        .collect();
    assert!(
        samples.is_empty(),
        "parsedmarc {PARSEDMARC_VERSION} now ships samples ({} files): run them here like \
         dmarc-report's and update docs/reports.md",
        samples.len()
    );
    // The rules of parsedmarc docs/reports.md compares ours with.
    let pkg = extracted(
        &sdist_file,
        &format!("parsedmarc-{PARSEDMARC_VERSION}/parsedmarc"),
    );
    let source = String::from_utf8(read(&pkg.join("__init__.py"))).unwrap();
    for (fragment, rule) in [
        (
            "MAX_DECOMPRESSED_REPORT_SIZE = 100 * 1024 * 1024",
            "decompression bounded at 100 MiB",
        ),
        (
            "_zip.open(_zip.namelist()[0]).read(limit + 1)",
            "a zip's first member is the report",
        ),
        (
            "Aggregate reports must not contain a DOCTYPE declaration",
            "a DOCTYPE is refused",
        ),
        ("MAGIC_GZIP = b\"\\x1f\\x8b\"", "containers by magic bytes"),
    ] {
        assert!(
            source.contains(fragment),
            "parsedmarc {PARSEDMARC_VERSION}: rule \"{rule}\" no longer found \
             (`{fragment}`): update docs/reports.md"
        );
    }
}

// ---------------------------------------------------------------------------------------
// mail-auth's resources.

/// mail-auth's package directory in Cargo's source cache.
fn mail_auth_dir() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata --offline: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mail-auth")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("mail-auth in cargo metadata");
    Path::new(manifest).parent().unwrap().to_path_buf()
}

/// Whether `json` deserializes to a value equal to `ours` (mail-auth's own comparison).
fn same_as_json<T: serde::de::DeserializeOwned + PartialEq>(ours: &T, json: &[u8]) -> bool {
    serde_json::from_slice::<T>(json).is_ok_and(|expected| expected == *ours)
}

fn json_of(report: &ParsedReport) -> serde_json::Value {
    match report {
        ParsedReport::Dmarc(r) => serde_json::to_value(r).unwrap(),
        ParsedReport::TlsRpt(r) => serde_json::to_value(r).unwrap(),
    }
}

#[test]
fn mail_auth_resource_messages() {
    let resources = mail_auth_dir().join("resources");
    let mut problems = Vec::new();
    let mut count = 0;
    println!("mail-auth resources ({}):", resources.display());
    for sub in ["dmarc-feedback", "tlsrpt"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(resources.join(sub))
            .expect("list mail-auth resources")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml" || x == "eml"))
            .chain(
                // TLS-RPT: every .json is itself a report.
                std::fs::read_dir(resources.join(sub))
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| sub == "tlsrpt" && p.extension().is_some_and(|x| x == "json")),
            )
            .collect();
        files.sort();
        for file in files {
            count += 1;
            let name = format!("{sub}/{}", file.file_name().unwrap().to_string_lossy());
            let expected_file = file.with_extension("json");
            let result = ours(&file);
            let verdict = match (&result, sub, file.extension().unwrap().to_str().unwrap()) {
                (Err(e), _, _) => Err(format!("refused: {e}")),
                (Ok(r), _, _) if r.len() != 1 => Err(format!("{} reports", r.len())),
                // A TLS-RPT .json is an input; its expectation is that it parses.
                (Ok(_), "tlsrpt", "json") => Ok(()),
                (Ok(r), "tlsrpt", _) => {
                    let expected = ours(&expected_file).expect("the .json beside it parses");
                    (json_of(&r[0]) == json_of(&expected[0]))
                        .then_some(())
                        .ok_or_else(|| "differs from its .json".to_string())
                }
                (Ok(r), _, _) => {
                    let expected = read(&expected_file);
                    let same = match &r[0] {
                        ParsedReport::Dmarc(r) => same_as_json(r, &expected),
                        ParsedReport::TlsRpt(r) => same_as_json(r, &expected),
                    };
                    same.then_some(())
                        .ok_or_else(|| "differs from mail-auth's expected .json".to_string())
                }
            };
            match &verdict {
                Ok(()) => {
                    let r = &result.as_ref().unwrap()[0];
                    println!(
                        "  {name:<24} agrees: {} record(s), org {:?}, report_id {:?}",
                        r.record_count(),
                        r.org_name(),
                        r.report_id()
                    );
                }
                Err(e) => {
                    println!("  {name:<24} DIFFERS: {e}");
                    problems.push(format!("{name}: {e}"));
                }
            }
        }
    }
    println!("{count} files, {} problems", problems.len());
    assert!(count >= 15, "only {count} files");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
