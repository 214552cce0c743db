//! The layer rule of the probes crate, kept by a test: `probes/src` does no file, process,
//! environment, stdout or metrics access of its own (docs: shared style, "One rule per
//! layer"); the app hands it what it needs (token sources, CA material, stores). This scans the
//! source, outside comments, for the APIs that would break the rule and fails naming
//! `file:line`. Cheap and blunt on purpose: a legitimate use has to be argued by changing the
//! list here, in review.

use std::path::{Path, PathBuf};

/// What the probes crate must not call: files, processes, environment, the terminal, metrics.
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "tokio::fs",
    "fs::read",
    "fs::write",
    "File::open",
    "File::create",
    "OpenOptions",
    "std::env",
    "env::var",
    "env!(",
    "option_env!(",
    "std::process",
    "tokio::process",
    "Command::new",
    "println!",
    "print!(",
    "eprintln!",
    "eprint!(",
    "dbg!(",
    "stdout()",
    "stderr()",
    "stdin()",
    "rustls_native_certs",
    "prometheus",
];

/// `line` without its `//` comment (a `//` inside a string literal is kept).
fn code_of(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    let b = line.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            _ if escaped => escaped = false,
            b'\\' if in_str => escaped = true,
            b'"' => in_str = !in_str,
            b'/' if !in_str && b.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// (line number, forbidden API) of every use in `text`, comments left out.
fn violations(text: &str) -> Vec<(usize, &'static str)> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let code = code_of(line);
        for api in FORBIDDEN {
            if code.contains(api) {
                out.push((n + 1, *api));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_probes_crate_does_no_file_process_env_or_stdout_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("probes/src"), &mut files);
    files.sort();
    assert!(files.len() > 20, "probes/src not found: {files:?}");
    let mut found = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (line, api) in violations(&text) {
            found.push(format!(
                "{}:{line}: {api}",
                f.strip_prefix(root).unwrap_or(f).display()
            ));
        }
    }
    assert!(
        found.is_empty(),
        "the probes crate must leave file, process, env and stdout access to the app \
         (hand it in through ProbeContext or the settings):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_code_and_skips_comments() {
    let sample = "\
//! Reads nothing: no std::fs here.
let t = std::fs::read_to_string(p); // a real use
let u = \"https://example.net\"; println!(\"{u}\");
// tokio::process::Command::new(\"x\") in a comment
let v = x; // env::var in a trailing comment
";
    assert_eq!(
        violations(sample),
        vec![(2, "std::fs"), (2, "fs::read"), (3, "println!")]
    );
}
