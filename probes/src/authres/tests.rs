//! Unit tests of the Authentication-Results parser and the trust boundary: the lab's real
//! delivery, forgeries above and below the boundary, the RFC 8601 Appendix B examples, the
//! sloppy fields seen in the wild, and malformed values with their positions.

use super::*;
use mail_auth::AuthenticatedMessage;

/// Runs `f` on the headers of `raw` as mail-auth gives them (raw values, folding and CRLF).
fn with_headers<T>(raw: &str, f: impl FnOnce(&[(&[u8], &[u8])]) -> T) -> T {
    let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n");
    let msg = AuthenticatedMessage::parse(raw.as_bytes()).expect("mail-auth parses the message");
    f(&msg.headers)
}

fn by(hosts: &[&str]) -> Vec<String> {
    hosts.iter().map(|h| h.to_string()).collect()
}

fn ok(value: &str) -> AuthResults {
    parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"))
}

/// The error of a value that must not parse.
fn bad(value: &str) -> ParseError {
    match parse(value) {
        Ok(r) => panic!("{value:?} parsed: {r:?}"),
        Err(e) => e,
    }
}

fn props(m: &MethodResult) -> Vec<String> {
    m.properties.iter().map(|p| p.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// The lab's delivery: Dovecot's LMTP Received on top, then Postfix's milters' fields, then
// the receiver's own Received (the boundary).

const LAB_TOP: &str = "Return-Path: <a@lab.test>
Delivered-To: seed1@lab.test
Received: from mx.lab.test
\tby vm with LMTP
\tid MLX0GxsZB2upWgAAg+zDdQ
\t(envelope-from <a@lab.test>)
\tfor <seed1@lab.test>; Wed, 25 Nov 2026 17:21:31 +0000
Authentication-Results: mx.lab.test; dmarc=pass (p=reject dis=none) header.from=lab.test
Authentication-Results: mx.lab.test;
\tdkim=pass (2048-bit key; secure) header.d=lab.test header.i=@lab.test header.a=rsa-sha256 header.s=s1 header.b=NstAu0Yc;
\tdkim-atps=neutral
Authentication-Results: mx.lab.test; spf=pass (sender SPF authorized) smtp.mailfrom=lab.test (client-ip=127.0.1.26; helo=submit.lab.test; envelope-from=a@lab.test; receiver=lab.test)
Received: from submit.lab.test (submit.lab.test [127.0.1.26])
\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)
\t(No client certificate requested)
\tby mx.lab.test (Postfix) with ESMTPS id 6C92E99E21A
\tfor <seed1@lab.test>; Wed, 25 Nov 2026 17:21:31 +0000 (UTC)
";

const LAB_BOTTOM: &str = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=lab.test; s=s1;
\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=NstAu0Yc
Received: from t.lab.test (localhost [127.0.0.1]) by submit.lab.test (Postfix) with ESMTPSA id 15E1799E219; Wed, 25 Nov 2026 17:21:30 +0000 (UTC)
From: a@lab.test
To: seed1@lab.test
Subject: round trip

body
";

fn lab(middle: &str) -> String {
    format!("{LAB_TOP}{middle}{LAB_BOTTOM}")
}

#[test]
fn lab_delivery_trusts_the_three_fields_above_postfix() {
    let t = with_headers(&lab(""), |h| {
        trusted(h, "mx.lab.test", &by(&["mx.lab.test"]))
    });
    assert_eq!(t.boundary, Some(6), "{t:#?}");
    assert_eq!(t.results.len(), 3);
    assert_eq!((t.ignored_below, t.errors.len()), (0, 0));

    let dmarc: Vec<_> = t.methods("dmarc").collect();
    assert_eq!(dmarc.len(), 1);
    assert_eq!(dmarc[0].result, "pass");
    assert_eq!(dmarc[0].property("header", "from"), Some("lab.test"));
    assert_eq!(dmarc[0].comments, ["p=reject dis=none"]);

    let dkim: Vec<_> = t.methods("DKIM").collect();
    assert_eq!(dkim.len(), 1);
    assert_eq!(dkim[0].result, "pass");
    assert_eq!(dkim[0].property("header", "d"), Some("lab.test"));
    assert_eq!(dkim[0].property("header", "s"), Some("s1"));
    assert_eq!(dkim[0].property("header", "i"), Some("@lab.test"));
    assert_eq!(dkim[0].property("header", "b"), Some("NstAu0Yc"));
    assert_eq!(dkim[0].comments, ["2048-bit key; secure"]);
    let atps: Vec<_> = t.methods("dkim-atps").collect();
    assert_eq!(atps[0].result, "neutral");
    assert!(atps[0].properties.is_empty());

    let spf: Vec<_> = t.methods("spf").collect();
    assert_eq!(spf[0].result, "pass");
    assert_eq!(spf[0].property("smtp", "mailfrom"), Some("lab.test"));
    assert_eq!(
        spf[0].comments,
        [
            "sender SPF authorized",
            "client-ip=127.0.1.26; helo=submit.lab.test; envelope-from=a@lab.test; receiver=lab.test"
        ]
    );
    // Top first, as in the message.
    let order: Vec<_> = t
        .results
        .iter()
        .map(|r| r.results[0].method.as_str())
        .collect();
    assert_eq!(order, ["dmarc", "dkim", "spf"]);
}

#[test]
fn forged_field_below_the_boundary_is_ignored_and_counted() {
    let forged = "Authentication-Results: mx.lab.test; dkim=pass header.d=lab.test\n";
    let t = with_headers(&format!("{LAB_TOP}{forged}{LAB_BOTTOM}"), |h| {
        trusted(h, "mx.lab.test", &by(&["mx.lab.test"]))
    });
    assert_eq!(t.boundary, Some(6));
    assert_eq!(t.results.len(), 3);
    assert_eq!(t.ignored_below, 1);
    assert_eq!(t.methods("dkim").count(), 1);
    // Also with the authserv-id in another case, and unparsable: still ours, still counted.
    let forged = "Authentication-Results: MX.Lab.Test; dkim=pass header.d=lab.test\n\
                  Authentication-Results: mx.lab.test; dkim=\n";
    let t = with_headers(&format!("{LAB_TOP}{forged}{LAB_BOTTOM}"), |h| {
        trusted(h, "mx.lab.test", &by(&["mx.lab.test"]))
    });
    assert_eq!(
        (t.results.len(), t.ignored_below, t.errors.len()),
        (3, 2, 0)
    );
}

#[test]
fn forged_received_lower_down_does_not_move_the_boundary() {
    let forged = "Authentication-Results: mx.lab.test; spf=pass smtp.mailfrom=evil.example\n\
                  Received: from evil.example by mx.lab.test (Postfix) with SMTP id X; Wed, 25 Nov 2026 17:00:00 +0000\n\
                  Authentication-Results: mx.lab.test; dmarc=pass header.from=bank.example\n";
    let t = with_headers(&format!("{LAB_TOP}{forged}{LAB_BOTTOM}"), |h| {
        trusted(h, "mx.lab.test", &by(&["mx.lab.test"]))
    });
    assert_eq!(t.boundary, Some(6));
    assert_eq!(t.results.len(), 3);
    assert_eq!(t.ignored_below, 2);
    assert!(
        t.methods("spf")
            .all(|m| m.property("smtp", "mailfrom") == Some("lab.test"))
    );
}

#[test]
fn no_boundary_trusts_nothing() {
    let t = with_headers(&lab(""), |h| {
        trusted(h, "mx.lab.test", &by(&["mx.other.test"]))
    });
    assert_eq!(t.boundary, None);
    assert!(t.results.is_empty());
    // Nothing is counted either: below what?
    assert_eq!((t.ignored_below, t.errors.len()), (0, 0));
    let t = with_headers(&lab(""), |h| trusted(h, "mx.lab.test", &[]));
    assert_eq!((t.boundary, t.results.len()), (None, 0));
}

#[test]
fn wildcard_received_by_and_other_authserv_ids() {
    let t = with_headers(&lab(""), |h| {
        trusted(h, "MX.LAB.TEST", &by(&["*.lab.test"]))
    });
    // submit.lab.test is below lab.test too: the hop from it into mx.lab.test is internal, so
    // the boundary is the receiver's hop from t.lab.test, further down.
    assert_eq!((t.boundary, t.results.len()), (Some(8), 3));
    // Fields of another authserv-id are not ours, wherever they are.
    let t = with_headers(&lab(""), |h| {
        trusted(h, "other.test", &by(&["mx.lab.test"]))
    });
    assert_eq!(
        (t.boundary, t.results.len(), t.ignored_below),
        (Some(6), 0, 0)
    );
}

#[test]
fn unparsable_field_above_the_boundary_is_an_error_with_its_index() {
    let top = LAB_TOP.replace(
        "Authentication-Results: mx.lab.test; dmarc=pass (p=reject dis=none) header.from=lab.test",
        "Authentication-Results: mx.lab.test; dmarc=pass (p=reject header.from=lab.test",
    );
    let t = with_headers(&format!("{top}{LAB_BOTTOM}"), |h| {
        trusted(h, "mx.lab.test", &by(&["mx.lab.test"]))
    });
    assert_eq!(t.results.len(), 2);
    assert_eq!(t.errors.len(), 1);
    let (index, e) = &t.errors[0];
    assert_eq!(*index, 3);
    // ` mx.lab.test; dmarc=pass (`: the `(` at byte 25.
    assert_eq!(e.position, 25, "{e}");
    assert!(e.reason.contains("unterminated comment"), "{e}");
}

#[test]
fn header_names_compare_case_insensitively() {
    let raw = "authentication-results: mx.example.org; spf=pass smtp.mailfrom=example.com\n\
               RECEIVED: from a.example by MX.Example.Org. with ESMTP; Thu, 1 Jan 2026 00:00:00 +0000\n\
               Subject: x\n\nbody\n";
    let t = with_headers(raw, |h| {
        trusted(h, "mx.example.org", &by(&["mx.example.org"]))
    });
    assert_eq!((t.boundary, t.results.len()), (Some(1), 1));
}

#[test]
fn received_by_host_skips_comments_and_the_date() {
    let host = |v: &str| received_by_host(v.as_bytes());
    assert_eq!(
        host(
            " from a (helo by.example [192.0.2.1]) (authenticated by x)\r\n\tby MX.example.ORG. (Postfix) with ESMTPS id 1;\r\n\tThu, 1 Jan 2026\r\n"
        ),
        Some("mx.example.org".into())
    );
    assert_eq!(host(" by vm with LMTP id x; date"), Some("vm".into()));
    assert_eq!(host(" from a(x)by b(y); z"), Some("b".into()));
    assert_eq!(host(" from a with SMTP; by b"), None);
    assert_eq!(host(" from a (unterminated by b"), None);
    assert_eq!(host(" from a by"), None);
}

#[test]
fn host_patterns() {
    assert!(host_matches("mx.example.org", "mx.example.org"));
    assert!(host_matches("MX.example.org.", "mx.example.org"));
    assert!(host_matches("*.example.org", "mx.example.org"));
    assert!(host_matches("*.example.org", "a.b.example.org"));
    assert!(host_matches("*.Example.org", "MX.example.ORG."));
    assert!(!host_matches("*.example.org", "example.org"));
    assert!(!host_matches("*.example.org", "badexample.org"));
    assert!(!host_matches("mx.example.org", "mx.example.org.evil"));
    assert!(!host_matches("", ""));
}

// ---------------------------------------------------------------------------------------
// RFC 8601 Appendix B, each example whole: the fields, and who trusts what.

#[test]
fn rfc8601_b1_trivial_case_no_field() {
    let raw = "Received: from mail-router.example.com
              (mail-router.example.com [192.0.2.1])
          by server.example.org (8.11.6/8.11.6)
              with ESMTP id g1G0r1kA003489;
          Fri, Feb 15 2002 17:19:07 -0800
Date: Fri, Feb 15 2002 16:54:30 -0800
To: receiver@example.org
From: sender@example.com
Subject: here's a sample

Hello!  Goodbye!
";
    let t = with_headers(raw, |h| {
        trusted(h, "example.org", &by(&["server.example.org"]))
    });
    assert_eq!(t.boundary, Some(0));
    assert!(t.results.is_empty() && t.errors.is_empty());
}

#[test]
fn rfc8601_b2_nearly_trivial_none() {
    let raw = "Authentication-Results: example.org 1; none
Received: from mail-router.example.com
              (mail-router.example.com [192.0.2.1])
          by server.example.org (8.11.6/8.11.6)
              with ESMTP id g1G0r1kA003489;
          Fri, Feb 15 2002 17:19:07 -0800
Date: Fri, Feb 15 2002 16:54:30 -0800
To: receiver@example.org
From: sender@example.com
Subject: here's a sample

Hello!  Goodbye!
";
    let t = with_headers(raw, |h| {
        trusted(h, "example.org", &by(&["server.example.org"]))
    });
    assert_eq!(t.boundary, Some(1));
    assert_eq!(
        t.results,
        [AuthResults {
            authserv_id: "example.org".into(),
            version: Some(1),
            ..AuthResults::default()
        }]
    );
}

#[test]
fn rfc8601_b3_service_provided_authentication_done() {
    let raw = "Authentication-Results: example.com;
          spf=pass smtp.mailfrom=example.net
Received: from dialup-1-2-3-4.example.net
              (dialup-1-2-3-4.example.net [192.0.2.200])
          by mail-router.example.com (8.11.6/8.11.6)
              with ESMTP id g1G0r1kA003489;
          Fri, Feb 15 2002 17:19:07 -0800
From: sender@example.net
Date: Fri, Feb 15 2002 16:54:30 -0800
To: receiver@example.com
Message-Id: <12345.abc@example.net>
Subject: here's a sample

Hello!  Goodbye!
";
    let t = with_headers(raw, |h| {
        trusted(h, "example.com", &by(&["mail-router.example.com"]))
    });
    assert_eq!(t.boundary, Some(1));
    let spf = &t.results[0].results[0];
    assert_eq!((spf.method.as_str(), spf.result.as_str()), ("spf", "pass"));
    assert_eq!(spf.property("smtp", "mailfrom"), Some("example.net"));
}

#[test]
fn rfc8601_b4_several_authentications_single_mta() {
    let raw = "Authentication-Results: example.com;
          auth=pass (cram-md5) smtp.auth=sender@example.net;
          spf=pass smtp.mailfrom=example.net
Authentication-Results: example.com; iprev=pass
          policy.iprev=192.0.2.200
Received: from dialup-1-2-3-4.example.net (8.11.6/8.11.6)
              (dialup-1-2-3-4.example.net [192.0.2.200])
          by mail-router.example.com (8.11.6/8.11.6)
              with ESMTPA id g1G0r1kA003489;
          Fri, Feb 15 2002 17:19:07 -0800
Date: Fri, Feb 15 2002 16:54:30 -0800
To: receiver@example.com
From: sender@example.net
Message-Id: <12345.abc@example.net>
Subject: here's a sample

Hello!  Goodbye!
";
    let t = with_headers(raw, |h| {
        trusted(h, "example.com", &by(&["mail-router.example.com"]))
    });
    assert_eq!(t.boundary, Some(2));
    assert_eq!(t.results.len(), 2);
    let first = &t.results[0].results;
    assert_eq!(props(&first[0]), ["smtp.auth=sender@example.net"]);
    assert_eq!(first[0].comments, ["cram-md5"]);
    assert_eq!(props(&first[1]), ["smtp.mailfrom=example.net"]);
    let iprev = &t.results[1].results[0];
    assert_eq!(iprev.method, "iprev");
    assert_eq!(iprev.property("policy", "iprev"), Some("192.0.2.200"));
}

#[test]
fn rfc8601_b5_several_authentications_different_mtas() {
    let raw = "Authentication-Results: example.com;
          dkim=pass (good signature) header.d=example.com
Received: from mail-router.example.com
              (mail-router.example.com [192.0.2.1])
          by auth-checker.example.com (8.11.6/8.11.6)
              with ESMTP id i7PK0sH7021929;
          Fri, Feb 15 2002 17:19:22 -0800
DKIM-Signature: v=1; a=rsa-sha256; s=gatsby; d=example.com;
          t=1188964191; c=simple/simple; h=From:Date:To:Subject:
          Message-Id:Authentication-Results;
          bh=sEuZGD/pSr7ANysbY3jtdaQ3Xv9xPQtS0m70;
          b=EToRSuvUfQVP3Bkz ... rTB0t0gYnBVCM=
Authentication-Results: example.com;
          auth=pass (cram-md5) smtp.auth=sender@example.com;
          spf=fail smtp.mailfrom=example.com
Received: from dialup-1-2-3-4.example.net
              (dialup-1-2-3-4.example.net [192.0.2.200])
          by mail-router.example.com (8.11.6/8.11.6)
              with ESMTPA id g1G0r1kA003489;
          Fri, Feb 15 2002 17:19:07 -0800
From: sender@example.com
Date: Fri, Feb 15 2002 16:54:30 -0800
To: receiver@example.com
Message-Id: <12345.abc@example.com>
Subject: here's a sample

Hello!  Goodbye!
";
    // Seen from auth-checker, with both hosts named by `*.example.com`: auth-checker took the
    // message from mail-router, one of ours, so the boundary is mail-router's hop from the
    // dial-up host, and both fields are trusted (docs/authres.md).
    let t = with_headers(raw, |h| trusted(h, "example.com", &by(&["*.example.com"])));
    assert_eq!(t.boundary, Some(4));
    assert_eq!(t.results.len(), 2);
    assert_eq!(t.ignored_below, 0);
    // Naming only auth-checker keeps mail-router's field below the boundary.
    let only = with_headers(raw, |h| {
        trusted(h, "example.com", &by(&["auth-checker.example.com"]))
    });
    assert_eq!(
        (only.boundary, only.results.len(), only.ignored_below),
        (Some(1), 1, 1)
    );
    let dkim = &t.results[0].results[0];
    assert_eq!(dkim.property("header", "d"), Some("example.com"));
    assert_eq!(dkim.comments, ["good signature"]);
    // Naming only mail-router moves the boundary down: both fields are above it.
    let t = with_headers(raw, |h| {
        trusted(h, "example.com", &by(&["mail-router.example.com"]))
    });
    assert_eq!((t.boundary, t.results.len()), (Some(4), 2));
    let lower = &t.results[1].results;
    assert_eq!(
        lower[0].property("smtp", "auth"),
        Some("sender@example.com")
    );
    assert_eq!(
        (lower[1].method.as_str(), lower[1].result.as_str()),
        ("spf", "fail")
    );
}

#[test]
fn rfc8601_b6_multi_tiered_authentication() {
    let raw = "Authentication-Results: example.com;
      dkim=pass reason=\"good signature\"
        header.i=@mail-router.example.net;
      dkim=fail reason=\"bad signature\"
        header.i=@newyork.example.com
Received: from mail-router.example.net
              (mail-router.example.net [192.0.2.250])
          by chicago.example.com (8.11.6/8.11.6)
              for <recipient@chicago.example.com>
              with ESMTP id i7PK0sH7021929;
          Fri, Feb 15 2002 17:19:22 -0800
DKIM-Signature: v=1; a=rsa-sha256; s=furble;
          d=mail-router.example.net; t=1188964198; c=relaxed/simple;
          h=From:Date:To:Message-Id:Subject:Authentication-Results;
          bh=ftA9J6GtX8OpwUECzHnCkRzKw1uk6FNiLfJl5Nmv49E=;
          b=oINEO8hgn/gnunsg ... 9n9ODSNFSDij3=
Authentication-Results: example.net;
          dkim=pass (good signature) header.i=@newyork.example.com
Received: from smtp.newyork.example.com
              (smtp.newyork.example.com [192.0.2.220])
          by mail-router.example.net (8.11.6/8.11.6)
              with ESMTP id g1G0r1kA003489;
          Fri, Feb 15 2002 17:19:07 -0800
DKIM-Signature: v=1; a=rsa-sha256; s=gatsby; d=newyork.example.com;
          t=1188964191; c=simple/simple; h=From:Date:To:Message-Id:
          Subject; bh=sEuZGD/pSr7ANysbY3jtdaQ3Xv9xPQtS0m70;
          b=EToRSuvUfQVP3Bkz ... rTB0t0gYnBVCM=
From: sender@newyork.example.com
Date: Fri, Feb 15 2002 16:54:30 -0800
To: meetings@example.net
Message-Id: <12345.abc@newyork.example.com>
Subject: here's a sample

Hello!  Goodbye!
";
    let t = with_headers(raw, |h| {
        trusted(h, "example.com", &by(&["chicago.example.com"]))
    });
    assert_eq!(
        (t.boundary, t.results.len(), t.ignored_below),
        (Some(1), 1, 0)
    );
    let r = &t.results[0].results;
    assert_eq!(r[0].reason.as_deref(), Some("good signature"));
    assert_eq!(
        r[0].property("header", "i"),
        Some("@mail-router.example.net")
    );
    assert_eq!(
        (r[1].result.as_str(), r[1].reason.as_deref()),
        ("fail", Some("bad signature"))
    );
    assert_eq!(r[1].property("header", "i"), Some("@newyork.example.com"));
    // example.net's field is another ADMD's: not ours from chicago, trusted by mail-router.
    let t = with_headers(raw, |h| {
        trusted(h, "example.net", &by(&["mail-router.example.net"]))
    });
    assert_eq!((t.boundary, t.results.len()), (Some(4), 1));
    assert_eq!(t.results[0].results[0].comments, ["good signature"]);
}

#[test]
fn rfc8601_b7_comment_heavy() {
    let r = ok(
        "foo.example.net (foobar) 1 (baz);\r\n    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n      policy (A dot can go here) . (like that) expired\r\n      (this surprised me) = (as I wasn't expecting it) 1362471462\r\n",
    );
    assert_eq!(r.authserv_id, "foo.example.net");
    assert_eq!(r.version, Some(1));
    let dkim = &r.results[0];
    assert_eq!(
        (dkim.method.as_str(), dkim.method_version),
        ("dkim", Some(1))
    );
    assert_eq!(dkim.result, "fail");
    assert_eq!(dkim.property("policy", "expired"), Some("1362471462"));
    assert_eq!(
        dkim.comments,
        [
            "Because I like it",
            "One yay",
            "wait for it",
            "A dot can go here",
            "like that",
            "this surprised me",
            "as I wasn't expecting it"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The grammar, piece by piece.

#[test]
fn none_with_comments_and_versions() {
    let r = ok(" example.org; none");
    assert_eq!(
        (r.authserv_id.as_str(), r.version, r.results.len()),
        ("example.org", None, 0)
    );
    let r = ok("example.org 1 (v1) ; (nothing) none (SPF not checked) ;\r\n");
    assert_eq!(r.version, Some(1));
    assert!(r.results.is_empty());
    let r = ok("\"quoted.example\" 22; NONE");
    assert_eq!(
        (r.authserv_id.as_str(), r.version),
        ("quoted.example", Some(22))
    );
    // `none` as a method name is a result, not no-result.
    let r = ok("example.org; none=pass");
    assert_eq!(r.results[0].method, "none");
    assert_eq!(
        ok("example.org; dkim/2=pass").results[0].method_version,
        Some(2)
    );
    assert_eq!(
        ok("example.org; DKIM / 1 = PASS").results[0].to_string(),
        "dkim/1=pass"
    );
}

#[test]
fn nested_comments_and_quoted_strings() {
    let r = ok(
        "mx.example.org (outer (inner \\) still inner) end);\r\n\tdkim=pass (a \"quoted\" word) header.d=\"Example.ORG\" (outer (inner \\) still\r\n\t inner) end) header.i=\"sp ace\\\"q\"",
    );
    assert_eq!(r.authserv_id, "mx.example.org");
    let dkim = &r.results[0];
    assert_eq!(
        dkim.comments,
        ["a \"quoted\" word", "outer (inner ) still inner) end"]
    );
    assert_eq!(dkim.property("header", "d"), Some("Example.ORG"));
    assert_eq!(dkim.property("HEADER", "I"), Some("sp ace\"q"));
    assert_eq!(
        props(dkim),
        ["header.d=Example.ORG", "header.i=\"sp ace\\\"q\""]
    );
}

#[test]
fn reason_and_property_forms() {
    let r = ok(
        "example.com; dkim=fail reason=\"bad signature\" header.i=@newyork.example.com; \
                spf=none reason=no-record smtp.helo=mail.example.net; \
                auth=pass smtp.auth=\"john smith\"@example.net smtp.mailfrom=User@Example.Net",
    );
    assert_eq!(r.results[0].reason.as_deref(), Some("bad signature"));
    assert_eq!(
        r.results[0].property("header", "i"),
        Some("@newyork.example.com")
    );
    assert_eq!(r.results[1].reason.as_deref(), Some("no-record"));
    assert_eq!(
        r.results[2].property("smtp", "auth"),
        Some("\"john smith\"@example.net")
    );
    assert_eq!(
        r.results[2].property("smtp", "mailfrom"),
        Some("User@Example.Net")
    );
    // Property names are keywords: lowercased, like methods and ptypes.
    let r = ok("example.com; tls=pass smtp.TLSversion=TLSv1.2");
    assert_eq!(props(&r.results[0]), ["smtp.tlsversion=TLSv1.2"]);
    // What receivers write unquoted: IPv6 (Exim), base64 with `/`, `+` and padding.
    let r = ok(
        "example.com; iprev=pass smtp.remote-ip=2001:db8::1; dkim=pass header.b=gfT/i2+B header.b=ab==",
    );
    assert_eq!(
        r.results[0].property("smtp", "remote-ip"),
        Some("2001:db8::1")
    );
    assert_eq!(
        props(&r.results[1]),
        ["header.b=gfT/i2+B", "header.b=\"ab==\""]
    );
    // Empty values: unquoted pvalue (seen for a null sender), quoted reason.
    let r = ok("example.com; spf=none smtp.mailfrom= ; dkim=none reason=\"\"");
    assert_eq!(r.results[0].property("smtp", "mailfrom"), Some(""));
    assert_eq!(r.results[1].reason.as_deref(), Some(""));
}

#[test]
fn trailing_semicolon_and_folding() {
    let r = ok(" example.com;\r\n\tspf=pass smtp.mailfrom=example.net;\r\n\t(bye)\r\n");
    assert_eq!(r.results.len(), 1);
    let r = ok("example.com;\n spf=pass\n smtp.mailfrom=example.net;\n");
    assert_eq!(props(&r.results[0]), ["smtp.mailfrom=example.net"]);
}

#[test]
fn microsoft_without_authserv_id() {
    let v = "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=example.org; dkim=none (message not signed) header.d=none;dmarc=none action=none header.from=example.org;";
    let r = ok(v);
    assert_eq!(r.authserv_id, "");
    assert_eq!(r.version, None);
    let m: Vec<_> = r
        .results
        .iter()
        .map(|m| (m.method.as_str(), m.result.as_str()))
        .collect();
    assert_eq!(m, [("spf", "pass"), ("dkim", "none"), ("dmarc", "none")]);
    assert_eq!(r.results[0].comments, ["sender IP is 1.2.3.4"]);
    assert_eq!(r.results[1].property("header", "d"), Some("none"));
    assert_eq!(
        props(&r.results[2]),
        ["action=none", "header.from=example.org"]
    );
    assert_eq!(r.results[2].property("", "action"), Some("none"));
    // compauth's bare reason= is a reason.
    let r = ok(" spf=pass smtp.mailfrom=a.example;compauth=pass reason=100");
    assert_eq!(r.results[1].reason.as_deref(), Some("100"));
    assert_eq!(ok("dkim/1=pass").results[0].method_version, Some(1));
}

#[test]
fn malformed_values_name_the_position() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "empty value"),
        ("   \r\n", 3, "empty value"),
        ("example.org", 11, "expected `;`"),
        ("example.org;", 12, "expected `none` or a result"),
        ("example.org; ", 13, "expected `none` or a result"),
        ("example.org junk; none", 12, "expected `;`"),
        ("example.org 1x; none", 13, "the version must be a number"),
        ("example.org 99999999999; none", 12, "too large"),
        ("; spf=pass", 0, "expected the authserv-id"),
        (
            "example.org; spf",
            16,
            "expected `=` after the method `spf`",
        ),
        (
            "example.org; spf pass",
            17,
            "expected `=` after the method `spf`",
        ),
        ("example.org; spf=", 17, "expected a result after `spf=`"),
        (
            "example.org; spf=pass smtp.mailfrom",
            35,
            "expected `=` after `smtp.mailfrom`",
        ),
        (
            "example.org; spf=pass smtp.",
            27,
            "expected a property name",
        ),
        (
            "example.org; spf=pass smtp.mailfrom example.net",
            36,
            "expected `=` after `smtp.mailfrom`",
        ),
        (
            "example.org; spf=pass foo",
            25,
            "expected `.` or `=` after `foo`",
        ),
        (
            "example.org; spf=pass @x",
            22,
            "expected `ptype.property=value`",
        ),
        ("example.org; spf=pass\"x\"", 21, "expected a space"),
        (
            "example.org; spf=pass smtp.mailfrom=\"a\"b",
            39,
            "expected a space",
        ),
        (
            "example.org; spf=pass (unterminated",
            22,
            "unterminated comment",
        ),
        (
            "example.org; spf=pass reason=\"open",
            29,
            "unterminated quoted string",
        ),
        (
            "example.org; spf=pass reason=",
            29,
            "expected a value after `reason=`",
        ),
        (
            "example.org; none; spf=pass",
            19,
            "nothing may follow `none`",
        ),
        ("example.org; spf=pass;; dkim=pass", 22, "expected a result"),
        ("example.org; dkim/=pass", 18, "expected a version number"),
        (
            "example.org; dkim=pass header.d=a\x01b",
            33,
            "expected a space",
        ),
        (
            "thehesiod.com; dkim=none; thehesiod.com=pass",
            35,
            "expected `=` after the method `thehesiod`",
        ),
    ];
    for (value, position, words) in cases {
        let e = bad(value);
        assert!(
            e.position == *position && e.reason.contains(words),
            "{value:?}: got {e} (position {}), want position {position} with `{words}`",
            e.position
        );
    }
    // Positions count in the unfolded value; Display gives the 1-based column.
    let e = bad("example.org;\r\n\tspf=pass\r\n\tsmtp.mailfrom");
    assert_eq!(e.position, 35);
    assert_eq!(
        &unfold("example.org;\r\n\tspf=pass\r\n\tsmtp.mailfrom")[22..35],
        "smtp.mailfrom"
    );
    assert!(
        e.to_string()
            .starts_with("at column 36: expected `=` after `smtp.mailfrom`"),
        "{e}"
    );
}

#[test]
fn never_panics_and_stays_linear() {
    // Deterministic pseudo-random bytes from the header's alphabet, and every prefix of a
    // rich example: each must parse or fail, never panic.
    let alphabet = b" \t\r\n();=./@\"\\abcdefxyz019-_;:\xc3\xa9";
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        let len = (seed % 40) as usize;
        let mut bytes = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
        let _ = received_by_host(&bytes);
    }
    let rich = "a.example (c (d) \\) ) 1 ; dkim / 1 = pass (x) reason=\"r \\\" s\" header.d=\"q\"@é.example smtp.ip=2001:db8::1 b=ab== ;";
    for end in 0..=rich.len() {
        if let Some(prefix) = rich.get(..end) {
            let _ = parse(prefix);
        }
    }
    // Large inputs: deep nesting, many results, a long unterminated comment.
    let deep = format!(
        "x.example {}{}; none",
        "(".repeat(200_000),
        ")".repeat(200_000)
    );
    assert!(ok(&deep).results.is_empty());
    let many = format!(
        "x.example{}",
        "; dkim=pass header.d=a.example".repeat(20_000)
    );
    assert_eq!(ok(&many).results.len(), 20_000);
    let open = format!("x.example; spf=pass ({}", "(a".repeat(200_000));
    assert_eq!(bad(&open).position, 20);
}

#[test]
fn recipient_domain_between_results_is_skipped_and_kept() {
    // Microsoft (lore.kernel.org/r/20210607164714.311325-19-stylon.wang@amd.com): no
    // authserv-id, the recipient's domain twice where a result was due.
    let r = ok("spf=pass (sender IP is 165.204.84.17)
 smtp.mailfrom=amd.com; lists.freedesktop.org; dkim=none (message not signed)
 header.d=none;lists.freedesktop.org; dmarc=pass action=none
 header.from=amd.com;");
    assert_eq!(r.authserv_id, "");
    let got: Vec<String> = r.results.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        got,
        [
            "spf=pass smtp.mailfrom=amd.com",
            "dkim=none header.d=none",
            "dmarc=pass action=none header.from=amd.com"
        ]
    );
    assert_eq!(
        r.recipient_domains,
        ["lists.freedesktop.org", "lists.freedesktop.org"]
    );
    // A dotted token that is followed by `=` is still an error, not a skipped domain.
    assert!(parse("example.org; dkim=none; a.example=pass").is_err());
}

#[test]
fn a_missing_semicolon_before_a_registered_method_starts_the_next_result() {
    // No public sample was found (docs/authres.md); the form is the one reported for Zoho.
    let r = ok(
        "mx.zohomail.com; dkim=pass header.i=a.example spf=pass smtp.mailfrom=b@a.example dmarc=pass(p=none dis=none) header.from=a.example",
    );
    let got: Vec<String> = r.results.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        got,
        [
            "dkim=pass header.i=a.example",
            "spf=pass smtp.mailfrom=b@a.example",
            "dmarc=pass header.from=a.example"
        ]
    );
    assert_eq!(r.results[2].comments, ["p=none dis=none"]);
    // Other bare names stay properties of their result.
    let r =
        ok("example.com; dmarc=pass action=none header.from=a.example; x-tls=pass version=TLSv1.2");
    assert_eq!(r.results.len(), 2);
    assert_eq!(r.results[0].properties[0].name, "action");
    assert_eq!(r.results[1].properties[0].name, "version");
}

#[test]
fn a_sender_whose_helo_is_by_cannot_hide_the_receivers_received_field() {
    assert_eq!(
        received_by_host(b"from by (evil.example [192.0.2.66])\r\n\tby mx.lab.test (Postfix) with ESMTP id 1; Mon, 1 Jan 2024 00:00:00 +0000"),
        Some("mx.lab.test".into())
    );
    // The sender says HELO `by`, and plants a forged verdict under a forged `Received: by
    // mx.lab.test` of its own further down.
    let raw = "Received: from mx.lab.test by vm with LMTP id 1; Mon, 1 Jan 2024 00:00:02 +0000
Authentication-Results: mx.lab.test; dkim=fail header.d=lab.test
Received: from by (evil.example [192.0.2.66])
\tby mx.lab.test (Postfix) with ESMTP id 2; Mon, 1 Jan 2024 00:00:01 +0000
Authentication-Results: mx.lab.test; dkim=pass header.d=lab.test
Received: from x.evil.example (x.evil.example [192.0.2.67])
\tby mx.lab.test (Postfix) with ESMTP id 3; Mon, 1 Jan 2024 00:00:00 +0000
From: a@lab.test
Subject: s

body
";
    let t = with_headers(raw, |h| trusted(h, "mx.lab.test", &by(&["mx.lab.test"])));
    assert_eq!(t.boundary, Some(2));
    assert_eq!(t.results.len(), 1);
    assert_eq!(t.results[0].results[0].result, "fail");
    assert_eq!(t.ignored_below, 1);
}
