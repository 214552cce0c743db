//! The trust material the app loads for the probes, which read no files: the system's CA
//! roots (rustls-native-certs: the platform store, or `SSL_CERT_FILE`/`SSL_CERT_DIR`). The
//! configured extra CA is read with the config ([`crate::config::Config::load_ca`]).

use rustls::pki_types::CertificateDer;

/// The system's trusted roots. Files of the store that cannot be read are logged and skipped:
/// a probe against a public host then fails verification, which says so.
pub fn system_roots() -> Vec<CertificateDer<'static>> {
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!("system CA roots: {e}");
    }
    native.certs
}
