//! Config loading (`Config::from_str`: our position-keeping YAML reader, serde per section,
//! validation). Beyond "no panic": a refused config has at least one diagnostic and each
//! carries a line and column inside the text; an accepted one holds what validation promises
//! (unique probe names usable as labels, 0 < timeout <= interval, jitter within 0..=0.5,
//! concurrency limits of at least 1).
//!
//! Loading reads the secret files a config names (`*_file`, relative to the config's
//! directory). So that no input makes the fuzzer read `/dev/zero` or wait on a pipe, inputs
//! whose YAML holds an absolute path or `..` (checked on the decoded scalars, so escapes do
//! not get around it) are skipped, and the config "lives" in a directory made here, holding
//! the secret files that the seed configs (config.example.yaml, contrib/lab/config.yaml with
//! `/tmp/mailauth-lab/` written as `lab/`) name.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailauth_probe::config::Config;
use mailauth_probe::config::yaml::{self, Node, Value};

/// The config's directory, with the files the seeds name.
fn config_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mailauth-fuzz-config-{}", std::process::id()));
        let files = [
            ("contrib/example-secrets/submission.password", "example\n"),
            ("contrib/example-secrets/seed-gmail.password", "example\n"),
            ("lab/secrets/sender@lab.test.password", "sender\n"),
            ("lab/secrets/seed1@lab.test.password", "seed1\n"),
            ("lab/secrets/seed2@lab.test.password", "seed2\n"),
            (
                "lab/pki/ca.pem",
                "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            ),
            (
                "lab/anchors/lab.test.ds",
                "lab.test. 3600 IN DS 2371 13 2 \
                 1F987CC6583E92DF0890718C42E8D2B2B16F2E3D9A3F4C4B0B9E9DE5C1A0F6E4\n",
            ),
        ];
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("the fuzz config dir");
            std::fs::write(&path, text).expect("a fuzz config file");
        }
        dir.join("config.yaml")
    })
}

/// Whether a scalar anywhere in the tree (key or value) could name a file outside the
/// config's directory.
fn leaves_sandbox(node: &Node) -> bool {
    match &node.value {
        Value::Null => false,
        Value::Scalar { text, .. } => text.starts_with('/') || text.contains(".."),
        Value::Seq(items) => items.iter().any(leaves_sandbox),
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| leaves_sandbox(k) || leaves_sandbox(v)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut scratch = Vec::new();
    if yaml::parse_collect(text, &mut scratch).is_some_and(|root| leaves_sandbox(&root)) {
        return;
    }
    let path = config_path();
    // Line breaks as YAML counts them (LF, CRLF, or a lone CR): an upper bound on the lines.
    let lines = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count() + 1;
    match Config::from_str(text, path) {
        Err(errors) => {
            assert!(
                !errors.diagnostics.is_empty(),
                "refused without a reason: {text:?}"
            );
            for d in &errors.diagnostics {
                assert!(
                    d.mark.line >= 1 && d.mark.column >= 1 && d.mark.line <= lines,
                    "{d} is not a place in {lines} lines: {text:?}"
                );
            }
            let shown = errors.to_string();
            let first = format!("{}:{}", path.display(), errors.diagnostics[0].mark);
            assert!(shown.contains(&first), "{shown:?} does not name {first}");
        }
        Ok(config) => {
            let g = &config.global;
            assert!((0.0..=0.5).contains(&g.jitter), "jitter {}", g.jitter);
            assert!(g.concurrency >= 1 && g.per_destination_concurrency >= 1);
            assert!(!g.interval.is_zero() && !g.timeout.is_zero());
            let mut names = std::collections::BTreeSet::new();
            for p in &config.probes {
                assert!(names.insert(p.name.as_str()), "probe `{}` twice", p.name);
                assert!(!p.name.is_empty() && p.name.len() <= 64, "{:?}", p.name);
                assert!(
                    p.name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                );
                assert!(
                    !p.timeout.is_zero() && p.timeout <= p.interval,
                    "{}",
                    p.name
                );
                assert!(config.probe(&p.name).is_some());
            }
        }
    }
});
