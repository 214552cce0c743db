//! `kind: roundtrip` against the lab's real Postfix (submission and MX, with OpenDKIM,
//! OpenDMARC and policyd-spf adding `Authentication-Results`) and Dovecot (IMAP IDLE, Sieve
//! filing into Junk, XOAUTH2 through the lab's token endpoint). Each test uses its own
//! `instance`, so tests running at once share seed mailboxes the way replicas do.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn secret(user: &str) -> String {
    lab_dir()
        .join(format!("secrets/{user}.password"))
        .display()
        .to_string()
}

/// A seed mailbox entry over 993 with a password.
fn seed(name: &str, address: &str, user: &str, extra: &str) -> String {
    format!(
        "      - name: {name}\n        address: {address}\n        authserv_id: mx.lab.test\n{extra}        imap:\n          host: imap.lab.test\n          username: {user}\n          password_file: {}\n",
        secret(user)
    )
}

/// The probe section: `from`, how it leaves (`via`), mailboxes, anything else.
fn config(
    instance: &str,
    timeout: &str,
    from: &str,
    via: &str,
    mailboxes: &str,
    extra: &str,
) -> String {
    format!(
        "global:\n  resolver: [\"{LAB_DNS}\"]\n  ca_file: {}\nprobes:\n  - name: rt\n    kind: roundtrip\n    interval: 5m\n    timeout: {timeout}\n    instance: {instance}\n    helo: probe.lab.test\n    from: {from}\n{via}{extra}    mailboxes:\n{mailboxes}",
        lab_ca()
    )
}

fn submission(user: &str, password_file: &str) -> String {
    format!(
        "    submission:\n      host: submit.lab.test\n      port: 587\n      username: {user}\n      password_file: {password_file}\n"
    )
}

/// Runs the config once: (exit code, the run's record, wall time).
fn run_once(config: &str) -> (i32, serde_json::Value, Duration) {
    lab();
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(dir.path(), "rt.yaml", config);
    let started = Instant::now();
    let out = run(
        "mailauth-probe",
        &["run", "--config", f.to_str().unwrap(), "--format", "json"],
    );
    let took = started.elapsed();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        v.as_array().unwrap()[0].clone(),
        took,
    )
}

fn state(rec: &serde_json::Value, check: &str) -> String {
    let f = rec["outcome"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no finding `{check}` in {rec:#}"));
    f["state"].as_str().unwrap().to_string()
}

fn summary(rec: &serde_json::Value, check: &str) -> String {
    rec["outcome"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .map(|f| format!("{} {}", f["summary"], f["detail"]))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn mailbox<'a>(rec: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    rec["outcome"]["report"]["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
}

fn seen(list: &serde_json::Value, method: &str) -> String {
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["method"] == method)
        .map(|a| a["result"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "absent".into())
}

fn healthy(instance: &str, from: &str, extra: &str) -> (i32, serde_json::Value, Duration) {
    run_once(&config(
        instance,
        "60s",
        from,
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &seed("seed1", "seed1@lab.test", "seed1@lab.test", ""),
        extra,
    ))
}

#[test]
fn healthy_sender_lands_in_inbox_with_every_verdict_pass() {
    let (code, rec, _) = healthy("t-healthy", "probe@lab.test", "");
    assert_eq!(code, 0, "{rec:#}");
    assert_eq!(state(&rec, "send"), "OK");
    assert_eq!(state(&rec, "delivery:seed1"), "OK");
    assert_eq!(state(&rec, "placement:seed1"), "OK");
    for m in ["dkim", "spf", "dmarc"] {
        assert_eq!(state(&rec, &format!("{m}:seed1")), "OK", "{m}: {rec:#}");
    }
    assert_eq!(state(&rec, "own-dkim:seed1"), "OK");
    let mb = mailbox(&rec, "seed1");
    assert_eq!(mb["placement"], "inbox");
    assert_eq!(seen(&mb["auth"], "dkim"), "pass");
    assert_eq!(seen(&mb["auth"], "spf"), "pass");
    assert_eq!(seen(&mb["auth"], "dmarc"), "pass");
    assert_eq!(seen(&mb["own"], "dkim"), "pass");
    assert!(mb["latency_seconds"].as_f64().unwrap() > 0.0);
    // The lab's MX scores lab.test like SpamAssassin: `X-Spam-Status: No, score=0.4`.
    assert_eq!(mb["spam_flag"], false, "{mb:#}");
    assert_eq!(
        mb["spam_scores"],
        serde_json::json!([["spamassassin", 0.4]]),
        "{mb:#}"
    );
    // Read, then removed: the seed mailbox does not fill up.
    assert_eq!(stored("seed1", "owner=t-healthy.rt;"), 0);
}

#[test]
fn unsigned_sender_domain_is_dkim_none_and_critical_in_one_run() {
    let (code, rec, _) = healthy("t-unsigned", "probe@unsigned.lab.test", "");
    assert_eq!(code, 2, "{rec:#}");
    assert_eq!(state(&rec, "send"), "OK");
    assert_eq!(state(&rec, "delivery:seed1"), "OK");
    assert_eq!(state(&rec, "dkim:seed1"), "CRITICAL");
    assert_eq!(seen(&mailbox(&rec, "seed1")["auth"], "dkim"), "none");
    assert_eq!(seen(&mailbox(&rec, "seed1")["own"], "dkim"), "none");
    assert_eq!(state(&rec, "own-dkim:seed1"), "CRITICAL");
}

#[test]
fn mismatched_key_is_dkim_fail() {
    let (code, rec, _) = healthy("t-badkey", "probe@badkey.lab.test", "");
    assert_eq!(code, 2, "{rec:#}");
    assert_eq!(state(&rec, "dkim:seed1"), "CRITICAL");
    assert_eq!(seen(&mailbox(&rec, "seed1")["auth"], "dkim"), "fail");
    assert_eq!(seen(&mailbox(&rec, "seed1")["own"], "dkim"), "fail");
}

#[test]
fn mail_filed_into_junk_is_reported_as_junk_warning() {
    let (code, rec, _) = healthy("t-junk", "probe@junk.lab.test", "");
    assert_eq!(code, 1, "{rec:#}");
    assert_eq!(state(&rec, "placement:seed1"), "WARNING");
    let mb = mailbox(&rec, "seed1");
    assert_eq!(mb["placement"], "junk");
    assert_eq!(mb["spam_flag"], true);
    assert_eq!(state(&rec, "dkim:seed1"), "OK");
}

#[test]
fn a_senders_forged_authentication_results_is_ignored() {
    // Unsigned mail claiming dkim=pass under the receiver's exact authserv-id.
    let (code, rec, _) = healthy(
        "t-forged",
        "probe@unsigned.lab.test",
        "    extra_headers:\n      Authentication-Results: \"mx.lab.test; dkim=pass header.d=unsigned.lab.test header.s=s1\"\n",
    );
    assert_eq!(code, 2, "{rec:#}");
    assert_eq!(seen(&mailbox(&rec, "seed1")["auth"], "dkim"), "none");
    assert_eq!(state(&rec, "dkim:seed1"), "CRITICAL");
    // The lab's OpenDKIM removes a sender's header claiming its authserv-id (RFC 8601
    // section 5); receivers that do not are covered by the trust boundary, which the unit
    // tests of probes/src/authres.rs check on a real delivered message with a forgery below
    // the receiver's Received header.
    assert_eq!(state(&rec, "authres:seed1"), "OK");
}

#[test]
fn refused_submission_auth_is_a_send_failure_not_a_delivery_failure() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = write_temp(dir.path(), "wrong.password", "not-the-password\n");
    let (code, rec, took) = run_once(&config(
        "t-badauth",
        "30s",
        "probe@lab.test",
        &submission("sender@lab.test", wrong.to_str().unwrap()),
        &seed("seed1", "seed1@lab.test", "seed1@lab.test", ""),
        "",
    ));
    assert_eq!(code, 2, "{rec:#}");
    assert_eq!(state(&rec, "send"), "CRITICAL");
    let s = summary(&rec, "send");
    assert!(s.contains("535"), "{s}");
    assert!(!s.contains("not-the-password"), "{s}");
    assert_eq!(state(&rec, "delivery:seed1"), "UNKNOWN");
    assert!(summary(&rec, "delivery:seed1").contains("not sent"));
    assert!(mailbox(&rec, "seed1")["placement"].is_null());
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn stopped_imap_server_is_unknown_for_that_mailbox_by_the_deadline() {
    let mailboxes = format!(
        "{}      - name: down\n        address: seed2@lab.test\n        authserv_id: mx.lab.test\n        imap:\n          host: 127.0.1.145\n          username: seed2@lab.test\n          password_file: {}\n",
        seed("seed1", "seed1@lab.test", "seed1@lab.test", ""),
        secret("seed2@lab.test")
    );
    let (code, rec, took) = run_once(&config(
        "t-imapdown",
        "20s",
        "probe@lab.test",
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &mailboxes,
        "",
    ));
    assert_eq!(state(&rec, "imap:down"), "UNKNOWN", "{rec:#}");
    assert!(summary(&rec, "imap:down").contains("127.0.1.145"));
    assert_eq!(state(&rec, "delivery:down"), "UNKNOWN");
    // The other mailbox is observed as usual.
    assert_eq!(state(&rec, "delivery:seed1"), "OK");
    assert!(code == 3 || code == 0, "{code}");
    assert_eq!(code, 3, "UNKNOWN is the worst state of this run");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_message_that_never_arrives_is_critical_at_the_deadline() {
    // blackhole@lab.test is accepted by the MX and discarded; we watch seed1 for it.
    let (code, rec, took) = run_once(&config(
        "t-never",
        "8s",
        "probe@lab.test",
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &seed("seed1", "blackhole@lab.test", "seed1@lab.test", ""),
        "",
    ));
    assert_eq!(code, 2, "{rec:#}");
    assert_eq!(state(&rec, "send"), "OK");
    assert_eq!(state(&rec, "delivery:seed1"), "CRITICAL");
    assert!(summary(&rec, "delivery:seed1").contains("not delivered within"));
    assert_eq!(mailbox(&rec, "seed1")["placement"], "missing");
    assert!(
        took >= Duration::from_secs(6),
        "waited until near the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "ended by the deadline: {took:?}"
    );
}

#[test]
fn xoauth2_login_with_a_token_file() {
    let token = lab_dir().join("secrets/seed2@lab.test.oauth2-token");
    let mb = format!(
        "      - name: oauth\n        address: seed2@lab.test\n        authserv_id: mx.lab.test\n        imap:\n          host: imap.lab.test\n          username: seed2@lab.test\n          oauth2_token_file: {}\n",
        token.display()
    );
    let (code, rec, _) = run_once(&config(
        "t-oauth",
        "60s",
        "probe@lab.test",
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &mb,
        "",
    ));
    assert_eq!(state(&rec, "imap:oauth"), "OK", "{rec:#}");
    assert_eq!(state(&rec, "delivery:oauth"), "OK");
    assert_eq!(code, 0);

    // A wrong token is refused: the mailbox is UNKNOWN, never OK.
    let dir = tempfile::tempdir().unwrap();
    let bad = write_temp(dir.path(), "bad.token", "0123456789abcdef\n");
    let (_, rec, _) = run_once(&config(
        "t-oauth-bad",
        "20s",
        "probe@lab.test",
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &mb.replace(token.to_str().unwrap(), bad.to_str().unwrap()),
        "",
    ));
    assert_eq!(state(&rec, "imap:oauth"), "UNKNOWN");
    assert!(summary(&rec, "imap:oauth").contains("XOAUTH2"));
    assert!(!summary(&rec, "imap:oauth").contains("0123456789abcdef"));
}

#[test]
fn direct_to_mx_with_the_probes_own_dkim_signature_passes() {
    let key = lab_dir().join("dkim/probe.lab.test.private");
    let (code, rec, _) = run_once(&config(
        "t-direct",
        "60s",
        "probe@lab.test",
        "    direct_to_mx: true\n",
        &seed(
            "seed1",
            "seed1@lab.test",
            "seed1@lab.test",
            // Sent from 127.0.0.1, not the sending IP SPF names: SPF fails, DMARC passes on
            // the aligned DKIM signature.
            "        expect: { dkim: pass, dmarc: pass, spf: [pass, fail, softfail] }\n",
        ),
        &format!(
            "    dkim_sign:\n      domain: lab.test\n      selector: probe\n      key_file: {}\n",
            key.display()
        ),
    ));
    assert_eq!(state(&rec, "send:lab.test"), "OK", "{rec:#}");
    let mb = mailbox(&rec, "seed1");
    assert_eq!(seen(&mb["auth"], "dkim"), "pass", "{rec:#}");
    assert_eq!(seen(&mb["auth"], "dmarc"), "pass");
    assert_eq!(state(&rec, "own-dkim:seed1"), "OK");
    assert!(summary(&rec, "own-dkim:seed1").contains("s=probe"));
    assert_eq!(code, 0, "{rec:#}");
}

/// Two daemons (instances) sharing a seed mailbox, each sending at once: each finds its
/// own message, and neither removes the other's in flight.
#[test]
fn two_instances_sharing_a_mailbox_never_delete_each_others_messages() {
    let a = config(
        "t-share-a",
        "60s",
        "probe@lab.test",
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &seed("seed2", "seed2@lab.test", "seed2@lab.test", ""),
        "",
    );
    let b = a.replace("t-share-a", "t-share-b");
    let ha = std::thread::spawn(move || run_once(&a));
    let hb = std::thread::spawn(move || run_once(&b));
    for (code, rec, _) in [ha.join().unwrap(), hb.join().unwrap()] {
        assert_eq!(state(&rec, "delivery:seed2"), "OK", "{rec:#}");
        assert_eq!(code, 0);
    }
}

/// How many messages of `user`'s Maildir (every folder) contain `needle`.
fn stored(user: &str, needle: &str) -> usize {
    let root = lab_dir().join(format!("imap/mail/lab.test/{user}/Maildir"));
    let mut n = 0;
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.parent()
                    .and_then(Path::file_name)
                    .and_then(|n| n.to_str()),
                Some("cur" | "new")
            ) && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(needle))
            {
                n += 1;
            }
        }
    }
    n
}

/// Hands a message with `headers` to the lab MX, as any sender can.
fn deliver(to: &str, headers: &str) {
    smtp_deliver(
        "planter@planted.invalid",
        to,
        &format!(
            "From: <planter@planted.invalid>\r\nTo: <{to}>\r\nSubject: planted\r\n{headers}\r\nplanted\r\n"
        ),
    );
}

/// Strays of earlier runs go (this instance's older than the timeout, anyone's older than
/// `stray_age`); another instance's recent message, possibly in flight, stays.
#[test]
fn strays_are_removed_and_other_instances_recent_messages_kept() {
    lab();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let id = |n: u8| format!("{:032x}", (now as u128) << 8 | u128::from(n));
    let plant = [
        ("someone-else", now - 2 * 3600 * 1000, id(1), false),
        ("someone-else", now - 10_000, id(2), true),
        ("t-stray.rt", now - 120_000, id(3), false),
        ("t-stray.rt", now - 5_000, id(4), true),
    ];
    for (owner, t, id, _) in &plant {
        deliver(
            "seed2@lab.test",
            &format!("X-Mailauth-Probe: v=1; owner={owner}; t={t}; id={id}\r\n"),
        );
    }
    // Delivery by LMTP is asynchronous: wait until all four are stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    while plant.iter().any(|(_, _, id, _)| stored("seed2", id) == 0) {
        assert!(Instant::now() < deadline, "planted messages not delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, rec, _) = run_once(&config(
        "t-stray",
        "60s",
        "probe@lab.test",
        &submission("sender@lab.test", &secret("sender@lab.test")),
        &seed("seed2", "seed2@lab.test", "seed2@lab.test", ""),
        "",
    ));
    assert_eq!(state(&rec, "delivery:seed2"), "OK", "{rec:#}");
    assert!(summary(&rec, "imap:seed2").contains("removed"), "{rec:#}");
    for (owner, _, id, kept) in &plant {
        assert_eq!(stored("seed2", id), usize::from(*kept), "{owner} {id}");
    }
}

#[test]
fn check_mailauth_runs_a_round_trip_from_the_config() {
    lab();
    let config = root().join("contrib/lab/config.yaml");
    let out = run(
        "check_mailauth",
        &[
            "--config",
            config.to_str().unwrap(),
            "--probe",
            "roundtrip-unsigned",
            "-w",
            "20",
            "-c",
            "25",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("MAILAUTH CRITICAL - roundtrip-unsigned:"),
        "{text}"
    );
    assert!(text.contains("'latency'="), "{text}");
    assert!(text.contains("s;20;25;0"), "{text}");
    let out = run(
        "check_mailauth",
        &[
            "--config",
            config.to_str().unwrap(),
            "--probe",
            "roundtrip-lab",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("MAILAUTH OK - roundtrip-lab"), "{text}");
}
