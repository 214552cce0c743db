//! `kind: transport` against the lab's real Postfix and Dovecot, and against small
//! in-process servers that misbehave (silent, stalling mid-handshake, endless replies).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;

/// Runs one transport probe over `targets` and returns (exit code, target → record).
fn transport(targets: &[&str], extra: &str) -> (i32, BTreeMap<String, serde_json::Value>) {
    lab();
    let dir = tempfile::tempdir().unwrap();
    let list = targets
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = format!(
        "global:\n  resolver: [\"{LAB_DNS}\"]\n  timeout: 5s\n  ca_file: {}\n  trust_anchor: {}\nprobes:\n  - name: t\n    kind: transport\n    domains: [lab.test]\n    targets: [{list}]\n{extra}",
        lab_ca(),
        lab_anchor_ds()
    );
    let f = write_temp(dir.path(), "t.yaml", &config);
    let out = run(
        "mailauth-probe",
        &["run", "--config", f.to_str().unwrap(), "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let map = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["target"].as_str().unwrap().to_string(), r.clone()))
        .collect();
    (out.status.code().unwrap_or(-1), map)
}

fn finding<'a>(rec: &'a serde_json::Value, prefix: &str) -> Vec<&'a serde_json::Value> {
    rec["outcome"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn state_of(rec: &serde_json::Value, prefix: &str) -> Vec<String> {
    finding(rec, prefix)
        .iter()
        .map(|f| f["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn lab_mail_servers_as_a_sender_sees_them() {
    let (_, r) = transport(
        &[
            "notls.lab.test",
            "strip.lab.test",
            "expired.lab.test",
            "soon.lab.test",
            "wrongname.lab.test",
            "badtlsa.lab.test",
            "relay.lab.test",
            "submit.lab.test:587",
            "submit.lab.test:465",
            "authplain.lab.test:587",
            "imap.lab.test:993",
            "imap.lab.test:143",
        ],
        "",
    );
    // The healthy MX, on 127.0.1.25 and ::1, protected by DANE and MTA-STS.
    let mx = &r["lab.test"];
    let bad: Vec<_> = mx["outcome"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["state"] != "OK")
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(state_of(mx, "starttls:mx.lab.test/127.0.1.25"), vec!["OK"]);
    assert_eq!(state_of(mx, "starttls:mx.lab.test/::1"), vec!["OK"]);
    assert_eq!(state_of(mx, "dane:mx.lab.test"), vec!["OK"]);
    let p = &mx["outcome"]["report"]["protection"][0];
    assert_eq!(
        (p["dane"].as_bool(), p["mta_sts"].as_bool()),
        (Some(true), Some(true))
    );

    // No STARTTLS and the stripping proxy: CRITICAL, named, quickly.
    for host in ["notls.lab.test", "strip.lab.test"] {
        let f = finding(&r[host], "starttls:");
        assert_eq!(f[0]["state"], "CRITICAL", "{host}: {f:?}");
        assert!(
            f[0]["summary"]
                .as_str()
                .unwrap()
                .contains("STARTTLS is not offered")
        );
        assert!(
            r[host]["outcome"]["duration"].as_f64().unwrap() < 1.0,
            "{host}"
        );
    }
    // Certificates: expired CRITICAL with its facts, soon WARNING, wrong name CRITICAL.
    let exp = &r["expired.lab.test"];
    assert_eq!(state_of(exp, "cert:"), vec!["CRITICAL"]);
    assert!(
        finding(exp, "cert:")[0]["summary"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let not_after = exp["outcome"]["report"]["endpoints"][0]["tls"]["leaf"]["not_after"]
        .as_i64()
        .unwrap();
    assert!(
        not_after
            < std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
    );
    assert_eq!(state_of(&r["soon.lab.test"], "cert:"), vec!["WARNING"]);
    let wn = &r["wrongname.lab.test"];
    assert_eq!(state_of(wn, "cert:"), vec!["CRITICAL"]);
    assert!(
        finding(wn, "cert:")[0]["summary"]
            .as_str()
            .unwrap()
            .contains("not valid for this host name")
    );
    // DANE mismatch.
    assert_eq!(state_of(&r["badtlsa.lab.test"], "dane:"), vec!["CRITICAL"]);
    // Open relay.
    assert_eq!(state_of(&r["relay.lab.test"], "relay:"), vec!["CRITICAL"]);
    assert_eq!(state_of(&r["notls.lab.test"], "relay:"), vec!["OK"]);
    // Submission: the healthy port refuses AUTH and MAIL before TLS; the faulty one is named.
    assert_eq!(
        state_of(&r["submit.lab.test:587"], "auth-before-tls:"),
        vec!["OK"]
    );
    assert!(
        state_of(&r["authplain.lab.test:587"], "auth-before-tls:")
            .contains(&"CRITICAL".to_string())
    );
    assert_eq!(state_of(&r["submit.lab.test:465"], "tls:"), vec!["OK"]);
    // IMAP.
    assert_eq!(state_of(&r["imap.lab.test:993"], "tls:"), vec!["OK"]);
    assert_eq!(
        state_of(&r["imap.lab.test:143"], "login-before-tls:"),
        vec!["OK"]
    );
    assert_eq!(state_of(&r["imap.lab.test:143"], "starttls:"), vec!["OK"]);
}

#[test]
fn cert_warning_days_come_from_the_config() {
    // With a 3-day threshold the 5-day certificate is fine.
    let (_, r) = transport(&["soon.lab.test"], "    cert_warning_days: 3\n");
    assert_eq!(state_of(&r["soon.lab.test"], "cert:"), vec!["OK"]);
}

#[test]
fn check_mailauth_transport_exit_codes() {
    lab();
    let ca = lab_ca();
    let anchor = lab_anchor_ds();
    let plugin = |args: &[&str]| {
        let mut all = vec![
            "transport",
            "--resolver",
            LAB_DNS,
            "--ca-file",
            &ca,
            "--trust-anchor",
            &anchor,
        ];
        all.extend_from_slice(args);
        let out = run("check_mailauth", &all);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = plugin(&["-H", "lab.test", "--mx"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("'cert_days_left'="), "{out}");
    let (code, out) = plugin(&["-H", "expired.lab.test"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = plugin(&["-H", "soon.lab.test"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = plugin(&["-H", "notls.lab.test"]);
    assert_eq!(code, 2, "{out}");
    // -c on days left: 30 days of margin required, the lab's certificates have more.
    let (code, out) = plugin(&["-H", "lab.test", "--mx", "-c", "30:"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = plugin(&["-H", "lab.test", "--mx", "-c", "1000:"]);
    assert_eq!(code, 2, "{out}");
}

/// A server on 127.0.9.x:25 that does `behave` with each connection, in a thread.
fn fault_server(addr: &str, behave: fn(std::net::TcpStream)) -> TcpListener {
    let l = TcpListener::bind(addr).expect("bind fault server (needs root for port 25)");
    let l2 = l.try_clone().unwrap();
    std::thread::spawn(move || {
        for s in l2.incoming().flatten() {
            std::thread::spawn(move || behave(s));
        }
    });
    l
}

#[test]
fn misbehaving_servers_end_by_the_deadline_with_a_reason() {
    // Accepts and never speaks.
    let _silent = fault_server("127.0.9.1:25", |s| {
        std::thread::sleep(Duration::from_secs(30));
        drop(s);
    });
    // Offers STARTTLS, says 220 to it, then stalls in the TLS handshake.
    let _stall = fault_server("127.0.9.2:25", |mut s| {
        let mut buf = [0u8; 1024];
        let _ = s.write_all(b"220 stall ESMTP\r\n");
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"250-stall\r\n250 STARTTLS\r\n");
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"220 go ahead\r\n");
        std::thread::sleep(Duration::from_secs(30));
    });
    // Answers EHLO with 10 MB of reply lines.
    let _flood = fault_server("127.0.9.3:25", |mut s| {
        let mut buf = [0u8; 1024];
        let _ = s.write_all(b"220 flood\r\n");
        let _ = s.read(&mut buf);
        let line = [b"250-".as_slice(), &[b'x'; 1020], b"\r\n"].concat();
        for _ in 0..10_000 {
            if s.write_all(&line).is_err() {
                break;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  resolver: [\"{LAB_DNS}\"]\nprobes:\n  - name: t\n    kind: transport\n    timeout: 2s\n    targets: [127.0.9.1, 127.0.9.2, 127.0.9.3]\n"
    );
    let f = write_temp(dir.path(), "t.yaml", &config);
    let start = Instant::now();
    let out = run(
        "mailauth-probe",
        &["run", "--config", f.to_str().unwrap(), "--format", "json"],
    );
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by = |t: &str| -> String {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["target"] == t)
            .unwrap()["outcome"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["state"] == "CRITICAL")
            .map(|f| f["summary"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(
        by("127.0.9.1").contains("silent at the greeting step"),
        "{}",
        by("127.0.9.1")
    );
    assert!(
        by("127.0.9.2").contains("silent at the TLS handshake step"),
        "{}",
        by("127.0.9.2")
    );
    let flood = by("127.0.9.3");
    assert!(
        flood.contains("reply of more than") || flood.contains("longer than"),
        "{flood}"
    );
}
