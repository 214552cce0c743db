//! DANE for SMTP (RFC 7672): TLSA records at `_25._tcp.<mx>`, trusted only when DNSSEC
//! validates them, matched against the chain the server presented. SMTP uses usages 3
//! (DANE-EE: the leaf) and 2 (DANE-TA: a trust anchor in the chain); 0 and 1 are unusable for
//! SMTP. Selectors 0 (whole certificate) and 1 (SubjectPublicKeyInfo); matching types 0
//! (exact), 1 (SHA-256), 2 (SHA-512).

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl Tlsa {
    /// Whether an SMTP client may use this record at all (RFC 7672 3.1).
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3)
            && matches!(self.selector, 0 | 1)
            && matches!(self.matching, 0..=2)
    }
}

fn spki(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.tbs_certificate.subject_pki.raw.to_vec())
}

fn digest(matching: u8, data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    match matching {
        0 => Some(data.to_vec()),
        1 => Some(digest::digest(&digest::SHA256, data).as_ref().to_vec()),
        2 => Some(digest::digest(&digest::SHA512, data).as_ref().to_vec()),
        _ => None,
    }
}

/// Whether `record` matches `cert` (DER).
pub fn matches_cert(record: &Tlsa, cert: &[u8]) -> bool {
    let selected = match record.selector {
        0 => Some(cert.to_vec()),
        1 => spki(cert),
        _ => None,
    };
    selected
        .and_then(|s| digest(record.matching, &s))
        .is_some_and(|d| d == record.data)
}

/// Whether any usable record matches the presented chain (leaf first): usage 3 against the
/// leaf, usage 2 against the certificates above it.
pub fn chain_matches(records: &[Tlsa], chain: &[Vec<u8>]) -> bool {
    records
        .iter()
        .filter(|r| r.usable())
        .any(|r| match r.usage {
            3 => chain.first().is_some_and(|leaf| matches_cert(r, leaf)),
            2 => chain.iter().skip(1).any(|c| matches_cert(r, c)),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_records() {
        let t = |u, s, m| Tlsa {
            usage: u,
            selector: s,
            matching: m,
            data: vec![],
        };
        assert!(t(3, 1, 1).usable() && t(2, 0, 2).usable());
        assert!(!t(1, 1, 1).usable() && !t(0, 0, 0).usable() && !t(3, 2, 1).usable());
    }

    #[test]
    fn exact_and_digest_matching_of_a_whole_certificate() {
        let cert = b"not really DER, but selector 0 hashes the bytes".to_vec();
        let exact = Tlsa {
            usage: 3,
            selector: 0,
            matching: 0,
            data: cert.clone(),
        };
        assert!(matches_cert(&exact, &cert));
        let sha = Tlsa {
            usage: 3,
            selector: 0,
            matching: 1,
            data: digest(1, &cert).unwrap(),
        };
        assert!(matches_cert(&sha, &cert));
        let wrong = Tlsa {
            usage: 3,
            selector: 0,
            matching: 1,
            data: vec![0; 32],
        };
        assert!(!matches_cert(&wrong, &cert));
        // usage 3 looks at the leaf only, usage 2 above it.
        let chain = vec![cert.clone(), b"issuer".to_vec()];
        assert!(chain_matches(std::slice::from_ref(&sha), &chain));
        let ta = Tlsa {
            usage: 2,
            selector: 0,
            matching: 0,
            data: b"issuer".to_vec(),
        };
        assert!(chain_matches(std::slice::from_ref(&ta), &chain));
        assert!(!chain_matches(&[ta], &chain[..1]));
    }
}
