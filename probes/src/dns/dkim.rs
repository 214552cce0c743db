//! DKIM key records (RFC 6376 3.6.1, RFC 8463): present, parse, not revoked, key type and
//! size (RSA under 1024 bits is CRITICAL, under 2048 WARNING), the `t=y` testing flag.
//! The RSA modulus length is read from the key's DER itself.

pub use super::tags::Issue;
use super::tags::{self, Tag};
use crate::State;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub text: String,
    pub tags: Vec<Tag>,
    /// `rsa` or `ed25519`.
    pub key_type: String,
    /// RSA modulus bits (256 for ed25519), when the key parsed.
    pub bits: Option<u32>,
    pub testing: bool,
    pub issues: Vec<Issue>,
}

impl DkimKey {
    pub fn parse(text: &str) -> DkimKey {
        let (tags, errors) = tags::parse(text);
        let mut k = DkimKey {
            text: text.to_string(),
            tags,
            key_type: "rsa".into(),
            bits: None,
            testing: false,
            issues: errors
                .into_iter()
                .map(|e| Issue {
                    state: State::Critical,
                    start: e.start,
                    end: e.end,
                    message: e.message,
                })
                .collect(),
        };
        k.check();
        k
    }

    fn issue(&mut self, state: State, span: (usize, usize), message: impl Into<String>) {
        self.issues.push(Issue {
            state,
            start: span.0,
            end: span.1,
            message: message.into(),
        });
    }

    fn check(&mut self) {
        let tags = self.tags.clone();
        if let Some(v) = tags::get(&tags, "v")
            && (v.value != "DKIM1" || tags[0].name != "v")
        {
            self.issue(
                State::Critical,
                (v.start, v.end),
                "`v=` must be `DKIM1` and come first: verifiers ignore the key",
            );
        }
        if let Some(k) = tags::get(&tags, "k") {
            let kt = k.value.to_ascii_lowercase();
            if kt != "rsa" && kt != "ed25519" {
                self.issue(
                    State::Critical,
                    (k.start, k.end),
                    format!("unknown key type `{}`", k.value),
                );
            }
            self.key_type = kt;
        }
        if let Some(t) = tags::get(&tags, "t")
            && t.value.split(':').any(|f| f.trim() == "y")
        {
            self.testing = true;
            self.issue(
                State::Warning,
                (t.start, t.end),
                "`t=y`: the domain is testing DKIM; verifiers may treat failures as if unsigned",
            );
        }
        let Some(p) = tags::get(&tags, "p") else {
            let n = self.text.len();
            self.issue(State::Critical, (n, n), "no `p=` tag: there is no key");
            return;
        };
        let span = (p.start, p.end);
        let b64: String = p.value.chars().filter(|c| !c.is_whitespace()).collect();
        if b64.is_empty() {
            self.issue(
                State::Critical,
                span,
                "`p=` is empty: the key is revoked, every signature with this selector fails",
            );
            return;
        }
        let Some(der) = base64_decode(&b64) else {
            self.issue(State::Critical, span, "`p=` is not valid base64");
            return;
        };
        if self.key_type == "ed25519" {
            if der.len() == 32 {
                self.bits = Some(256);
            } else {
                self.issue(
                    State::Critical,
                    span,
                    format!("an ed25519 key is 32 bytes, this one {}", der.len()),
                );
            }
            return;
        }
        match rsa_modulus_bits(&der) {
            None => self.issue(
                State::Critical,
                span,
                "`p=` is not an RSA public key (SubjectPublicKeyInfo or RSAPublicKey DER)",
            ),
            Some(bits) => {
                self.bits = Some(bits);
                if bits < 1024 {
                    self.issue(State::Critical, span, format!("RSA key of {bits} bits: verifiers reject keys under 1024 bits (RFC 8301)"));
                } else if bits < 2048 {
                    self.issue(
                        State::Warning,
                        span,
                        format!("RSA key of {bits} bits: use 2048 bits (RFC 8301 recommends it)"),
                    );
                }
            }
        }
    }
}

/// Standard base64 with padding optional.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut n = 0;
    let trimmed = s.trim_end_matches('=');
    if s.len() - trimmed.len() > 2 {
        return None;
    }
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
    }
    Some(out)
}

/// Reads one DER TLV at `d`: (tag, content, rest).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &d[..n] {
            len = (len << 8) | usize::from(b);
        }
        d = &d[n..];
        len
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// Bits of the modulus of an RSA key given as SubjectPublicKeyInfo or bare RSAPublicKey.
pub fn rsa_modulus_bits(der: &[u8]) -> Option<u32> {
    let (tag, seq, _) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (t1, first, rest) = tlv(seq)?;
    let rsa_key = if t1 == 0x30 {
        // SubjectPublicKeyInfo: AlgorithmIdentifier, then BIT STRING holding RSAPublicKey.
        let (t2, bits, _) = tlv(rest)?;
        if t2 != 0x03 || bits.is_empty() {
            return None;
        }
        let (_, inner, _) = tlv(&bits[1..])?;
        inner
    } else if t1 == 0x02 {
        seq
    } else {
        let _ = first;
        return None;
    };
    let (t, n, _) = tlv(rsa_key)?;
    if t != 0x02 {
        return None;
    }
    let n: &[u8] = {
        let mut n = n;
        while n.first() == Some(&0) {
            n = &n[1..];
        }
        n
    };
    let first = *n.first()?;
    Some((n.len() as u32 - 1) * 8 + (8 - first.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 1024-bit RSA SubjectPublicKeyInfo (RFC 6376 appendix A's example key for brisbane).
    const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";

    #[test]
    fn rsa_1024_is_a_warning_with_its_size() {
        let k = DkimKey::parse(&format!("v=DKIM1; k=rsa; p={KEY_1024}"));
        assert_eq!(k.bits, Some(1024));
        assert_eq!(k.issues.len(), 1, "{:?}", k.issues);
        assert_eq!(k.issues[0].state, State::Warning);
    }

    #[test]
    fn revoked_testing_and_garbage() {
        let k = DkimKey::parse("v=DKIM1; p=");
        assert!(k.issues[0].message.contains("revoked"));
        let k = DkimKey::parse(&format!("v=DKIM1; t=y; p={KEY_1024}"));
        assert!(k.testing);
        let k = DkimKey::parse("v=DKIM1; p=!!!");
        assert!(k.issues[0].message.contains("base64"));
        let k = DkimKey::parse("v=DKIM1; p=AAAA");
        assert!(k.issues[0].message.contains("not an RSA public key"));
        let k =
            DkimKey::parse("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        assert_eq!(k.bits, Some(256));
        assert!(k.issues.is_empty());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert!(base64_decode("a$").is_none());
    }
}
