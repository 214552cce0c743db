//! The test message and its token, as pure functions: what we send, how we recognise it among
//! other instances' messages in a shared seed mailbox, and what we read back from the copy the
//! receiver delivered (its header fields in order, the receiver's spam verdict headers).
//!
//! A token is carried twice: in `Message-ID` (`<mailauth-probe.ID@from-domain>`) and in our
//! own header `X-Mailauth-Probe: v=1; owner=OWNER; t=MILLIS; id=ID`, where OWNER names the
//! daemon instance and the probe, so that several replicas sharing a mailbox each delete only
//! their own messages (and any instance's strays older than a configured age).

use std::fmt::Write as _;

/// Our header, searched for with IMAP `SEARCH HEADER`.
pub const TOKEN_HEADER: &str = "X-Mailauth-Probe";

/// One test message's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The instance and probe that sent it: `[A-Za-z0-9._-]`, at most 64 bytes.
    pub owner: String,
    /// When it was composed, in milliseconds since the Unix epoch.
    pub millis: u64,
    /// 32 random hex digits: what we search for.
    pub id: String,
}

impl Token {
    /// A fresh token for `owner` (any text; reduced to the allowed characters).
    pub fn new(owner: &str, millis: u64) -> Token {
        let id: u128 = rand::random();
        Token {
            owner: sanitize_owner(owner),
            millis,
            id: format!("{id:032x}"),
        }
    }

    /// The value of our header.
    pub fn header_value(&self) -> String {
        format!(
            "v=1; owner={}; t={}; id={}",
            self.owner, self.millis, self.id
        )
    }

    /// Parses our header's value; `None` for anything we did not write.
    pub fn parse(value: &str) -> Option<Token> {
        let mut owner = None;
        let mut millis = None;
        let mut id = None;
        let mut version = false;
        for part in value.split(';') {
            let (k, v) = part.split_once('=')?;
            let v = v.trim();
            match k.trim() {
                "v" => version = v == "1",
                "owner" if is_owner(v) => owner = Some(v.to_string()),
                "t" => millis = v.parse().ok(),
                "id" if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    id = Some(v.to_ascii_lowercase())
                }
                _ => return None,
            }
        }
        if !version {
            return None;
        }
        Some(Token {
            owner: owner?,
            millis: millis?,
            id: id?,
        })
    }
}

fn is_owner(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `owner` reduced to `[A-Za-z0-9._-]` (others become `-`), at most 64 bytes, never empty.
pub fn sanitize_owner(owner: &str) -> String {
    let s: String = owner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() { "probe".into() } else { s }
}

/// What goes into the message besides the token.
#[derive(Debug, Clone)]
pub struct Compose<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    /// Extra header fields (name, value), e.g. a header a receiver's routing rule expects.
    pub extra_headers: &'a [(String, String)],
    /// Seconds since the Unix epoch, for `Date:`.
    pub unix_secs: u64,
}

/// The message as sent (before an optional DKIM signature is prepended), CRLF line ends.
pub fn compose(c: &Compose<'_>, token: &Token) -> String {
    let domain = c.from.rsplit_once('@').map_or(c.from, |(_, d)| d);
    let mut m = String::new();
    let _ = write!(m, "From: <{}>\r\n", c.from);
    let _ = write!(
        m,
        "To: {}\r\n",
        c.to.iter()
            .map(|t| format!("<{t}>"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = write!(
        m,
        "Subject: mailauth-probe round trip {}\r\n",
        &token.id[..8]
    );
    let _ = write!(m, "Date: {}\r\n", rfc5322_date(c.unix_secs));
    let _ = write!(m, "Message-ID: <mailauth-probe.{}@{domain}>\r\n", token.id);
    let _ = write!(m, "{TOKEN_HEADER}: {}\r\n", token.header_value());
    for (name, value) in c.extra_headers {
        let _ = write!(m, "{name}: {value}\r\n");
    }
    m.push_str("Auto-Submitted: auto-generated\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=us-ascii\r\n");
    m.push_str("\r\n");
    m.push_str(
        "This message was sent by mailauth-probe to check that mail from this sender is\r\n\
         delivered and authenticated. The probe deletes it when it has read it.\r\n",
    );
    m
}

/// The header names a probe's own DKIM signature covers.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    TOKEN_HEADER,
    "MIME-Version",
    "Content-Type",
];

/// `Date:` text for `secs` since the epoch, in UTC: `Wed, 25 Nov 2026 17:21:30 +0000`.
pub fn rfc5322_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WD[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil: (year, month 1-12, day 1-31).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A header field's value unfolded (CRLF before white space removed) and trimmed, lossily
/// decoded.
pub fn unfold(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::with_capacity(text.len());
    for piece in text.split('\n') {
        out.push_str(piece.trim_end_matches('\r'));
    }
    out.trim().to_string()
}

/// The receiver's spam verdict, from the header fields it added.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpamVerdict {
    /// `X-Spam-Flag: YES` or `X-Spam-Status: Yes, ...`.
    pub flagged: Option<bool>,
    /// (source, score): `spamassassin` (X-Spam-Status score=), `rspamd` (X-Rspamd-Score),
    /// `microsoft_scl` (X-Forefront-Antispam-Report SCL).
    pub scores: Vec<(&'static str, f64)>,
}

/// Reads the spam verdict headers among `headers` (name, value), the first of each kind
/// winning (the topmost, i.e. the last added).
pub fn spam_verdict<'a>(headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> SpamVerdict {
    let mut v = SpamVerdict::default();
    for (name, value) in headers {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = unfold(value);
        match name.trim() {
            "x-spam-flag" if v.flagged.is_none() => {
                v.flagged = Some(value.eq_ignore_ascii_case("yes"));
            }
            "x-spam-status" => {
                let lower = value.to_ascii_lowercase();
                if v.flagged.is_none() {
                    if lower.starts_with("yes") {
                        v.flagged = Some(true);
                    } else if lower.starts_with("no") {
                        v.flagged = Some(false);
                    }
                }
                if let Some(score) = lower
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .find_map(|w| w.strip_prefix("score=")?.parse::<f64>().ok())
                    .filter(|s| s.is_finite())
                    && !v.scores.iter().any(|(s, _)| *s == "spamassassin")
                {
                    v.scores.push(("spamassassin", score));
                }
            }
            "x-rspamd-score" => {
                if let Ok(score) = value.trim().parse::<f64>()
                    && score.is_finite()
                    && !v.scores.iter().any(|(s, _)| *s == "rspamd")
                {
                    v.scores.push(("rspamd", score));
                }
            }
            "x-forefront-antispam-report" | "x-ms-exchange-organization-scl" => {
                let scl = if name.trim() == "x-ms-exchange-organization-scl" {
                    value.trim().parse::<f64>().ok()
                } else {
                    value.split(';').find_map(|kv| {
                        let (k, v) = kv.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case("scl")
                            .then(|| v.trim().parse::<f64>().ok())?
                    })
                };
                if let Some(scl) = scl.filter(|s| s.is_finite())
                    && !v.scores.iter().any(|(s, _)| *s == "microsoft_scl")
                {
                    v.scores.push(("microsoft_scl", scl));
                }
            }
            _ => {}
        }
    }
    v
}

/// The domain of an address (`user@Example.ORG` → `example.org`).
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(address, |(_, d)| d)
        .trim_end_matches('>')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Relaxed DMARC alignment (RFC 7489 3.1.1): the two names share an organizational domain,
/// by the public suffix list ([`crate::dns::dmarc::org_domain_by_psl`], the same function the
/// DNS probe's RFC 7489 comparison uses), so `mail.example.co.uk` aligns with
/// `example.co.uk` and `a.co.uk` does not align with `b.co.uk`. The message judge is pure: the
/// RFC 9989 tree walk, which needs DNS, is the DNS probe's (`dmarc:discovery` says where the
/// two disagree for the probed domain).
pub fn aligned(signing_domain: &str, from_domain: &str) -> bool {
    use crate::dns::dmarc::org_domain_by_psl;
    org_domain_by_psl(signing_domain) == org_domain_by_psl(from_domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_through_its_header() {
        let t = Token::new("host-1/roundtrip lab", 1_795_627_291_000);
        assert_eq!(t.owner, "host-1-roundtrip-lab");
        assert_eq!(t.id.len(), 32);
        let back = Token::parse(&t.header_value()).unwrap();
        assert_eq!(back, t);
        assert_ne!(Token::new("a", 1).id, Token::new("a", 1).id);
    }

    #[test]
    fn foreign_or_broken_token_headers_are_not_ours() {
        assert!(Token::parse("v=2; owner=a; t=1; id=00000000000000000000000000000000").is_none());
        assert!(Token::parse("v=1; owner=a; t=1; id=xyz").is_none());
        assert!(Token::parse("v=1; owner=a b; t=1; id=00000000000000000000000000000000").is_none());
        assert!(Token::parse("v=1; owner=a; id=00000000000000000000000000000000").is_none());
        assert!(Token::parse("garbage").is_none());
        assert!(Token::parse("").is_none());
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_627_290),
            "Wed, 25 Nov 2026 17:21:30 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_798_761_599),
            "Thu, 31 Dec 2026 23:59:59 +0000"
        );
    }

    #[test]
    fn composed_message_carries_the_token_twice_and_ends_lines_with_crlf() {
        let t = Token::new("me", 5);
        let to = vec!["seed1@lab.test".to_string(), "seed2@lab.test".to_string()];
        let extra = vec![("X-Test".to_string(), "yes".to_string())];
        let m = compose(
            &Compose {
                from: "probe@lab.test",
                to: &to,
                extra_headers: &extra,
                unix_secs: 0,
            },
            &t,
        );
        assert!(m.contains(&format!(
            "Message-ID: <mailauth-probe.{}@lab.test>\r\n",
            t.id
        )));
        assert!(m.contains(&format!("X-Mailauth-Probe: {}\r\n", t.header_value())));
        assert!(m.contains("To: <seed1@lab.test>, <seed2@lab.test>\r\n"));
        assert!(m.contains("X-Test: yes\r\n"));
        assert!(!m.replace("\r\n", "").contains('\n'));
        let parsed = mail_auth::AuthenticatedMessage::parse(m.as_bytes()).unwrap();
        assert_eq!(parsed.from, vec!["probe@lab.test".to_string()]);
    }

    #[test]
    fn spam_headers_of_the_common_filters_are_read() {
        let h: Vec<(&[u8], &[u8])> = vec![
            (b"X-Spam-Flag", b" YES\r\n"),
            (
                b"X-Spam-Status",
                b" Yes, score=7.2 required=5.0 tests=BAYES_99,\r\n\tURIBL_BLOCKED autolearn=no\r\n",
            ),
            (b"X-Rspamd-Score", b" -0.10 / 15.00\r\n"),
            (
                b"X-Forefront-Antispam-Report",
                b" CIP:192.0.2.1;CTRY:;LANG:en;SCL:5;SRV:;IPV:NLI;SFV:SPM;\r\n",
            ),
        ];
        let v = spam_verdict(h);
        assert_eq!(v.flagged, Some(true));
        assert!(v.scores.contains(&("spamassassin", 7.2)));
        assert!(v.scores.contains(&("microsoft_scl", 5.0)));
        // "-0.10 / 15.00" is not a plain number: not guessed.
        assert!(!v.scores.iter().any(|(s, _)| *s == "rspamd"));
        let v = spam_verdict(vec![(&b"X-Rspamd-Score"[..], &b" 3.5\r\n"[..])]);
        assert_eq!(v.scores, vec![("rspamd", 3.5)]);
        assert_eq!(v.flagged, None);
        let v = spam_verdict(vec![(&b"X-Spam-Status"[..], &b"No, score=nan"[..])]);
        assert_eq!(v.flagged, Some(false));
        assert!(v.scores.is_empty());
    }

    #[test]
    fn alignment_is_relaxed_by_organizational_domain() {
        assert!(aligned("lab.test", "lab.test"));
        assert!(aligned("mail.lab.test", "lab.test"));
        assert!(!aligned("other.test", "lab.test"));
        // Two-label public suffixes: the last two labels are not the organization.
        assert!(aligned("mail.example.co.uk", "Example.CO.UK."));
        assert!(!aligned("a.co.uk", "b.co.uk"));
        assert!(!aligned("shop.example.com.au", "other.com.au"));
        assert_eq!(domain_of("Seed1@Lab.Test"), "lab.test");
    }
}
