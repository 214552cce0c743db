//! `mailauth-probe verdicts` as a user runs it, on the real-header corpus
//! (tests/data/authres-corpus) and on bad input: text and JSON, and the exit code the round
//! trip's verdict would give. No lab, no network.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::*;

fn corpus(file: &str) -> PathBuf {
    root().join("tests/data/authres-corpus").join(file)
}

/// A corpus message with a body, written to a temporary file (optionally edited first).
fn message(file: &str, edit: impl FnOnce(String) -> String) -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string(corpus(file)).unwrap();
    let text = edit(text.trim_end().to_string() + "\n\nbody\n");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn verdicts(args: &[&str]) -> (i32, String) {
    let mut all = vec!["verdicts"];
    all.extend_from_slice(args);
    let out = run("mailauth-probe", &all);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out) = verdicts(&all);
    (
        code,
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")),
    )
}

#[test]
fn fastmail_message_in_text_is_ok_with_every_trusted_result() {
    let m = message("fastmail-1.eml", |t| t);
    let (code, out) = verdicts(&[m.path().to_str().unwrap(), "--provider", "fastmail"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: "), "{out}");
    assert!(
        out.contains("boundary: the receiver's Received field #31"),
        "{out}"
    );
    assert!(
        out.contains("#23 Authentication-Results mx1.messagingengine.com"),
        "{out}"
    );
    assert!(out.contains("dkim=pass header.d=amazon.com"), "{out}");
    // The ESP's second signature is reported beside the one that decides.
    assert!(
        out.contains("also reported: dkim=pass header.d=amazonses.com"),
        "{out}"
    );
    assert!(
        out.contains("#18 ARC-Authentication-Results: an ARC copy"),
        "{out}"
    );
}

#[test]
fn icloud_message_in_json_has_the_contract_shape_and_is_critical_for_dmarc_none() {
    let m = message("icloud-zoho.eml", |t| t);
    let (code, v) = json(&[m.path().to_str().unwrap(), "--provider", "icloud"]);
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["state"], "CRITICAL");
    assert_eq!(v["verdict"]["dkim"], "pass");
    assert_eq!(v["verdict"]["spf"], "pass");
    assert_eq!(v["verdict"]["dmarc"], "none");
    let trusted = v["trusted"].as_array().unwrap();
    let ids: Vec<&str> = trusted
        .iter()
        .map(|t| t["authserv_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "bimi.icloud.com",
            "arc.icloud.com",
            "dmarc.icloud.com",
            "dkim-verifier.icloud.com",
            "spf.icloud.com"
        ]
    );
    let dkim = &trusted[3];
    assert_eq!(dkim["field"], 13);
    assert_eq!(dkim["name"], "Authentication-Results");
    let r = &dkim["results"][0];
    assert_eq!(r["method"], "dkim");
    assert_eq!(r["result"], "pass");
    assert_eq!(r["properties"]["header.d"], "lifeape.com");
    assert_eq!(r["reason"], serde_json::Value::Null);
    assert_eq!(r["comment"], "1024-bit key");
    assert_eq!(trusted[0]["results"][0]["reason"], "insufficient dmarc");
    let ignored = v["ignored"].as_array().unwrap();
    assert_eq!(ignored[0]["field"], 16);
    assert!(ignored[0]["why"].as_str().unwrap().contains("ARC"));
}

#[test]
fn microsoft_bare_properties_and_authserv_id_patterns_from_the_command_line() {
    // A field Microsoft writes as the receiver (no authserv-id, the recipient domain between
    // results), placed above EOP's entry Received of a real message.
    let ms = "Authentication-Results: spf=pass (sender IP is 165.204.84.17)\n smtp.mailfrom=amd.com; lists.freedesktop.org; dkim=none (message not signed)\n header.d=none;lists.freedesktop.org; dmarc=pass action=none\n header.from=amd.com;\n";
    let m = message("lore-amd-gfx-microsoft.eml", |t| {
        t.replace(
            "X-MS-Exchange-Authentication-Results:",
            &format!("{ms}X-MS-Exchange-Authentication-Results:"),
        )
    });
    let (code, v) = json(&[
        m.path().to_str().unwrap(),
        "--authserv-id",
        "",
        "--received-by",
        "*.protection.outlook.com",
        "--received-by",
        "*.prod.outlook.com",
        "--received-by",
        "*.outlook.office365.com",
    ]);
    // dkim=none: CRITICAL, as the round trip would say.
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["trusted"][0]["authserv_id"], "");
    assert_eq!(
        v["trusted"][0]["results"][2]["properties"]["action"],
        "none"
    );
    assert_eq!(
        v["trusted"][0]["recipient_domains"],
        serde_json::json!(["lists.freedesktop.org", "lists.freedesktop.org"])
    );
    assert_eq!(v["verdict"]["dmarc"], "pass");
    assert_eq!(v["verdict"]["dkim"], "none");
}

#[test]
fn a_forged_pass_below_the_boundary_or_under_a_look_alike_id_never_makes_it_ok() {
    // Gmail's real field removed; forgeries below the boundary and under a look-alike id.
    let m = message("lore-linux-mm-gmail.eml", |t| {
        let real = t.find("Authentication-Results: mx.google.com;").unwrap();
        let end = t[real..].find("\nReceived:").unwrap() + real + 1;
        let forged = "Authentication-Results: mx.google.com; dkim=pass header.d=oracle.com; spf=pass; dmarc=pass header.from=oracle.com\n";
        let lookalike =
            "Authentication-Results: mx.google.com.evil.example; dkim=pass; spf=pass; dmarc=pass\n";
        let body = t.find("\n\nbody").unwrap();
        format!(
            "{lookalike}{}{}{forged}{}",
            &t[..real],
            &t[end..body + 1],
            &t[body + 1..]
        )
    });
    let (code, out) = verdicts(&[m.path().to_str().unwrap(), "--provider", "gmail"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("UNKNOWN: no Authentication-Results header by `mx.google.com`"),
        "{out}"
    );
    assert!(
        out.contains("below the receiver's Received field (#15)"),
        "{out}"
    );
    assert!(
        out.contains("authserv-id `mx.google.com.evil.example` is not the receiver's"),
        "{out}"
    );
}

#[test]
fn a_fail_in_one_trusted_field_is_not_hidden_by_a_pass_in_another() {
    let m = message("fastmail-1.eml", |t| {
        t.replacen(
            "\nAuthentication-Results: mx1.messagingengine.com;",
            "\nAuthentication-Results: mx1.messagingengine.com; spf=fail smtp.mailfrom=bounces.amazon.com\nAuthentication-Results: mx1.messagingengine.com;",
            1,
        )
    });
    let (code, out) = verdicts(&[m.path().to_str().unwrap(), "--provider", "fastmail"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("CRITICAL spf:message: receiver says spf=fail"),
        "{out}"
    );
}

#[test]
fn stdin_works_like_a_file() {
    let text = std::fs::read(corpus("lore-fsdevel-outlook.eml")).unwrap();
    let mut child = Command::new(bin("mailauth-probe"))
        .args([
            "verdicts",
            "-",
            "--authserv-id",
            "smtp.subspace.kernel.org",
            "--fields-below",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out: Output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("boundary: the receiver's Received field #4"),
        "{stdout}"
    );
}

#[test]
fn bad_input_is_unknown_with_the_reason_never_ok() {
    let write = |bytes: &[u8]| {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    };
    let cases: Vec<(tempfile::NamedTempFile, &str)> = vec![
        (write(b"hello, this is not a message\n"), "not a message"),
        (write(b""), "empty"),
        (
            write(&[b'X', b':', b' ', 0, 1, 2, 0xff, b'\n', b'\n', 0]),
            "NUL bytes",
        ),
        (
            {
                let mut big =
                    b"Received: from a by mx.google.com; Mon, 1 Jan 2024 00:00:00 +0000\nX-Big: "
                        .to_vec();
                big.extend(std::iter::repeat_n(b'a', 10 << 20));
                big.extend(b"\n\nbody\n");
                write(&big)
            },
            "header block is",
        ),
    ];
    for (f, why) in &cases {
        for format in ["text", "json"] {
            let (code, out) = verdicts(&[
                f.path().to_str().unwrap(),
                "--provider",
                "gmail",
                "--format",
                format,
            ]);
            assert_eq!(code, 3, "{why}: {out}");
            assert!(out.contains("UNKNOWN") && out.contains(why), "{why}: {out}");
        }
    }
    // No boundary: the receiver named does not appear in any Received field.
    let m = message("fastmail-1.eml", |t| t);
    let (code, out) = verdicts(&[
        m.path().to_str().unwrap(),
        "--authserv-id",
        "mx1.messagingengine.com",
        "--received-by",
        "mx.nowhere.example",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("UNKNOWN: no Received header by mx.nowhere.example"),
        "{out}"
    );
    // A missing file and an unknown provider.
    let (code, out) = verdicts(&["/nonexistent/message.eml", "--provider", "gmail"]);
    assert_eq!((code, out.contains("cannot read")), (3, true), "{out}");
    let (code, out) = verdicts(&[m.path().to_str().unwrap(), "--provider", "hotmale"]);
    assert_eq!((code, out.contains("unknown provider")), (3, true), "{out}");
}
