//! DKIM key records (RFC 6376 3.6.1, RFC 8463): present, parse, not revoked, key type and
//! size (RSA under 1024 bits is CRITICAL, under 2048 WARNING), the `t=y` testing flag.
//! The RSA modulus length is read from the key's DER (x509-parser) after base64 (the `base64`
//! crate).

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::{PublicKey, RSAPublicKey};
use x509_parser::x509::SubjectPublicKeyInfo;

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
            None => {
                let message = match spki_algorithm(&der) {
                    Some(oid) => format!(
                        "`p=` is not an RSA public key: its SubjectPublicKeyInfo is for algorithm {oid}"
                    ),
                    None => {
                        "`p=` is not an RSA public key (SubjectPublicKeyInfo or RSAPublicKey DER)"
                            .to_string()
                    }
                };
                self.issue(State::Critical, span, message)
            }
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

/// Standard base64 as DNS publishers write it: padding optional, and bits past the last byte
/// ignored, as verifiers' decoders do (the `base64` crate, configured so).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(s).ok()
}

/// Bits of the modulus of an RSA key given as SubjectPublicKeyInfo (RFC 5280, with the
/// rsaEncryption algorithm) or as a bare RSAPublicKey (RFC 8017 A.1.1), which some publishers
/// use; the DER is read by x509-parser. Bytes after the key are ignored, as before.
pub fn rsa_modulus_bits(der: &[u8]) -> Option<u32> {
    match SubjectPublicKeyInfo::from_der(der) {
        Ok((_, spki)) if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION => {
            match spki.parsed().ok()? {
                PublicKey::RSA(rsa) => integer_bits(rsa.modulus),
                _ => None,
            }
        }
        Ok(_) => None,
        Err(_) => integer_bits(RSAPublicKey::from_der(der).ok()?.1.modulus),
    }
}

/// Bits of a positive INTEGER's content (a leading zero byte keeps it positive; count from
/// the first non-zero one).
fn integer_bits(content: &[u8]) -> Option<u32> {
    let start = content.iter().position(|&b| b != 0)?;
    let n = &content[start..];
    Some(n.len() as u32 * 8 - n[0].leading_zeros())
}

/// The algorithm of a SubjectPublicKeyInfo that is not rsaEncryption, for the message.
fn spki_algorithm(der: &[u8]) -> Option<String> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(der).ok()?;
    (spki.algorithm.algorithm != OID_PKCS1_RSAENCRYPTION)
        .then(|| spki.algorithm.algorithm.to_id_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

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
        // Bits past the last byte are ignored, as verifiers' decoders do.
        assert_eq!(base64_decode("aGVsbG9=").unwrap(), b"hello");
        assert!(base64_decode("a$").is_none());
        assert!(base64_decode("aGVsbG8===").is_none());
    }

    #[test]
    fn a_bare_rsa_public_key_is_sized_too() {
        let spki = base64_decode(KEY_1024).unwrap();
        assert_eq!(rsa_modulus_bits(&spki), Some(1024));
        // The SubjectPublicKeyInfo's BIT STRING holds the RSAPublicKey after 22 bytes
        // (SEQUENCE, AlgorithmIdentifier, BIT STRING header and its unused-bits byte).
        let bare = &spki[22..];
        assert_eq!(rsa_modulus_bits(bare), Some(1024));
        let p = STANDARD.encode(bare);
        let k = DkimKey::parse(&format!("v=DKIM1; p={p}"));
        assert_eq!(k.bits, Some(1024));
        // A truncated key is no key.
        assert_eq!(rsa_modulus_bits(&spki[..100]), None);
    }

    #[test]
    fn a_key_of_another_algorithm_is_named() {
        // RFC 8410 section 10.1's example Ed25519 public key, as a SubjectPublicKeyInfo,
        // published under the default k=rsa.
        let k = DkimKey::parse(
            "v=DKIM1; p=MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
        );
        assert_eq!(k.bits, None);
        let m = &k.issues[0].message;
        assert!(
            m.contains("not an RSA public key") && m.contains("1.3.101.112"),
            "{m}"
        );
    }
}
