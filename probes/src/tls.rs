//! TLS as a probe needs it: the handshake always completes when the peer speaks TLS, the
//! presented chain is kept, and whether it verifies (against the system's roots plus an
//! optional extra CA, for the name we asked for) is recorded beside it, so an expired or
//! wrong-name certificate is reported with its facts instead of vanishing into a handshake
//! error. Verification itself is rustls' WebPKI verifier; we only decide what to do with its
//! verdict.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::Error;

/// What a certificate says, whether or not it verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// DNS names of the subjectAltName extension.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `not_after` as written in the certificate, for people.
    pub not_after_text: String,
}

/// The outcome of a handshake: the chain's facts and the verifier's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsReport {
    /// The leaf certificate, when one was presented and parsed.
    pub leaf: Option<CertFacts>,
    /// The chain as presented (DER), leaf first.
    #[serde(skip)]
    pub chain: Vec<Vec<u8>>,
    /// `Ok` or why the chain does not verify for the name asked for.
    pub verified: Result<(), String>,
    pub protocol: Option<String>,
    pub cipher: Option<String>,
}

/// Builds TLS client configurations trusting the system's roots and an extra CA. The app
/// loads the system's roots and hands them in: this crate reads no files.
#[derive(Debug, Clone)]
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    /// The system roots that `roots` took, for clients that build their own TLS setup (lettre).
    system_roots: Arc<[CertificateDer<'static>]>,
    /// The extra CAs as given, for clients that build their own TLS setup (lettre).
    extra_ca_pem: Option<Arc<str>>,
}

/// The certificates of `pem`, the PEM text of extra trusted CAs; an error when it holds none
/// or one does not parse (the app checks a CA file with this when it loads its config).
pub fn extra_ca(pem: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("extra CA: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls(
            "extra CA: no certificate in the PEM text".into(),
        ));
    }
    let mut check = RootCertStore::empty();
    for c in &certs {
        check
            .add(c.clone())
            .map_err(|e| Error::Tls(format!("extra CA: {e}")))?;
    }
    Ok(certs)
}

impl TlsClient {
    /// `system_roots`: the system's trusted roots, as the app loaded them (one that does not
    /// parse is skipped, as a system store may hold one); `extra_ca_pem`: the PEM text of
    /// extra trusted CAs (e.g. a private or test CA).
    pub fn new(
        system_roots: Vec<CertificateDer<'static>>,
        extra_ca_pem: Option<&str>,
    ) -> Result<Self, Error> {
        let mut roots = RootCertStore::empty();
        let system_roots: Vec<_> = system_roots
            .into_iter()
            .filter(|c| roots.add(c.clone()).is_ok())
            .collect();
        if let Some(pem) = extra_ca_pem {
            for c in extra_ca(pem)? {
                roots
                    .add(c)
                    .map_err(|e| Error::Tls(format!("extra CA: {e}")))?;
            }
        }
        Ok(TlsClient {
            roots: Arc::new(roots),
            system_roots: system_roots.into(),
            extra_ca_pem: extra_ca_pem.map(Arc::from),
        })
    }

    /// The system's roots this client trusts (DER).
    pub fn system_roots(&self) -> &[CertificateDer<'static>] {
        &self.system_roots
    }

    /// The extra trusted CAs (PEM), if any were configured.
    pub fn extra_ca_pem(&self) -> Option<&str> {
        self.extra_ca_pem.as_deref()
    }

    /// Runs a TLS handshake over `io` for `server_name`. `Err` only when no TLS session could
    /// be set up at all (the peer is not speaking TLS, or no common protocol or cipher); a
    /// certificate that does not verify is a completed session with `verified: Err(..)`.
    pub async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: IO,
        server_name: &str,
    ) -> Result<(TlsStream<IO>, TlsReport), String> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|_| format!("`{server_name}` is not a valid TLS server name"))?;
        let webpki = WebPkiServerVerifier::builder(self.roots.clone())
            .build()
            .map_err(|e| format!("TLS verifier: {e}"))?;
        let record = Arc::new(Mutex::new(None));
        let verifier = Arc::new(Recording {
            inner: webpki,
            record: record.clone(),
        });
        let config = rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, io)
            .await
            .map_err(|e| describe_handshake_error(&e))?;
        let (chain, verified) = record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or((vec![], Err("no certificate was presented".into())));
        let (_, conn) = stream.get_ref();
        let protocol = conn.protocol_version().map(|v| format!("{v:?}"));
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()));
        let leaf = chain.first().and_then(|der| cert_facts(der));
        Ok((
            stream,
            TlsReport {
                leaf,
                chain,
                verified,
                protocol,
                cipher,
            },
        ))
    }
}

fn describe_handshake_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("PeerIncompatible")
        || text.contains("HandshakeFailure")
        || text.contains("protocol version")
    {
        format!(
            "no TLS session could be agreed (the server offers only protocols or ciphers modern senders refuse, e.g. TLS below 1.2): {text}"
        )
    } else {
        format!("TLS handshake failed: {text}")
    }
}

/// A verifier that asks WebPKI, records the chain and the verdict, and lets the handshake
/// go on either way (signatures are still checked, so the session is with the key holder).
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    record: Arc<Mutex<Option<Verdict>>>,
}

/// The chain presented (DER, leaf first) and whether it verified.
type Verdict = (Vec<Vec<u8>>, Result<(), String>);

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(|_| ())
            .map_err(|e| describe_cert_error(&e));
        let mut chain = vec![end_entity.as_ref().to_vec()];
        chain.extend(intermediates.iter().map(|c| c.as_ref().to_vec()));
        *self.record.lock().unwrap_or_else(|e| e.into_inner()) = Some((chain, verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn describe_cert_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "the certificate is not valid yet".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the certificate is not valid for this host name".into()
            }
            C::UnknownIssuer => "the certificate is not issued by a trusted CA (unknown issuer; missing intermediate?)".into(),
            C::Revoked => "the certificate is revoked".into(),
            C::BadSignature => "the certificate's signature is invalid".into(),
            other => format!("the certificate is invalid: {other:?}"),
        },
        other => format!("certificate verification failed: {other}"),
    }
}

/// A certificate finding: its facts always, CRITICAL when it does not verify (expired, wrong
/// name, unknown issuer), WARNING when it expires within `warn_days`.
pub fn cert_finding(check: &str, host: &str, t: &TlsReport, warn_days: u32) -> crate::Finding {
    use crate::{Finding, State};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let facts = t
        .leaf
        .as_ref()
        .map(|c| {
            format!(
                "subject {}; issuer {}; names {}; not after {}",
                c.subject,
                c.issuer,
                c.names.join(" "),
                c.not_after_text
            )
        })
        .unwrap_or_else(|| "no certificate".into());
    match (&t.verified, &t.leaf) {
        (Err(e), _) => Finding::new(
            check,
            State::Critical,
            format!("certificate of {host}: {e}"),
        )
        .with_detail(facts),
        (Ok(()), Some(c)) => {
            let days = (c.not_after - now) as f64 / 86400.0;
            let state = if days < f64::from(warn_days) {
                State::Warning
            } else {
                State::Ok
            };
            Finding::new(
                check,
                state,
                format!("certificate of {host} verifies, expires in {days:.0} days"),
            )
            .with_detail(facts)
        }
        (Ok(()), None) => Finding::new(
            check,
            State::Unknown,
            format!("certificate of {host}: not parsed"),
        ),
    }
}

/// Subject, issuer, names and validity of a DER certificate.
pub fn cert_facts(der: &[u8]) -> Option<CertFacts> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        not_after_text: cert.validity().not_after.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Let's Encrypt's public ISRG Root X2 (source: tests/data/ca/README.md).
    const ISRG_ROOT_X2: &str = include_str!("../../tests/data/ca/isrg-root-x2.pem");

    #[test]
    fn the_roots_handed_in_are_trusted_and_an_unparsable_one_is_skipped() {
        let good = extra_ca(ISRG_ROOT_X2).unwrap();
        assert_eq!(good.len(), 1);
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let client = TlsClient::new(vec![junk, good[0].clone()], None).unwrap();
        assert_eq!(client.system_roots(), &good[..]);
        assert_eq!(client.roots.len(), 1);
        let client = TlsClient::new(vec![], Some(ISRG_ROOT_X2)).unwrap();
        assert!(client.system_roots().is_empty());
        assert_eq!(client.roots.len(), 1);
        assert!(TlsClient::new(vec![], Some("no PEM here")).is_err());
    }
}
