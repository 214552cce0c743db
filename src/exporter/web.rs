//! Who may talk to the exporter, and how: the web-config file of Prometheus' exporter-toolkit
//! (the `--web.config.file` of node_exporter and blackbox_exporter), so operators reuse the
//! file, the bcrypt hashes and the habits they already have. `tls_server_config` turns on TLS
//! (optionally requiring client certificates); `basic_auth_users` maps user names to bcrypt
//! hashes. Keys of the toolkit this exporter does not implement are errors, never ignored: a
//! file that asks for protection we would not give must not load.
//!
//! Which paths need credentials is ours to say (`exporter.public_paths`): by default only
//! `/-/healthy` and `/-/ready` are open, so `/probe` (which makes the exporter talk to the
//! world) and `/-/reload` are always behind authentication once users exist.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use yaml_rust2::{Yaml, YamlLoader};

/// A loaded web-config file.
pub struct WebConfig {
    pub source: PathBuf,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name → bcrypt hash.
    users: BTreeMap<String, String>,
    /// SHA-256 of `user:password` pairs bcrypt already accepted: bcrypt costs tens of
    /// milliseconds by design, and Prometheus sends the same credentials every scrape.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("WebConfig")
            .field("source", &self.source)
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// At most this many verified credentials are remembered (then the memory starts over).
const VERIFIED_CAP: usize = 256;

impl WebConfig {
    /// Reads and checks the file at `path`; relative file names in it resolve against its
    /// own directory, as in the exporter-toolkit. The error names the file and the key.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        let where_ = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("web config `{where_}`: cannot read: {e}"))?;
        let docs = YamlLoader::load_from_str(&text)
            .map_err(|e| format!("web config `{where_}`: not YAML: {e}"))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let doc = docs.into_iter().next().unwrap_or(Yaml::Null);
        let map = match &doc {
            Yaml::Hash(h) => h.clone(),
            Yaml::Null => Default::default(),
            _ => return Err(format!("web config `{where_}`: expected a mapping")),
        };
        let mut tls = None;
        let mut users = BTreeMap::new();
        for (k, v) in &map {
            let key = k.as_str().unwrap_or("?");
            match key {
                "tls_server_config" => {
                    tls = Some(Arc::new(
                        tls_config(v, base).map_err(|e| format!("web config `{where_}`: {e}"))?,
                    ))
                }
                "basic_auth_users" => {
                    let Yaml::Hash(h) = v else {
                        return Err(format!(
                            "web config `{where_}`: basic_auth_users: expected a mapping of user name to bcrypt hash"
                        ));
                    };
                    for (u, hash) in h {
                        let (Some(u), Some(hash)) = (u.as_str(), hash.as_str()) else {
                            return Err(format!(
                                "web config `{where_}`: basic_auth_users: user names and hashes must be strings"
                            ));
                        };
                        if hash.parse::<bcrypt::HashParts>().is_err() {
                            return Err(format!(
                                "web config `{where_}`: basic_auth_users.{u}: not a bcrypt hash (make one with `mailauth-probe hash-password`)"
                            ));
                        }
                        users.insert(u.to_string(), hash.to_string());
                    }
                }
                other => {
                    return Err(format!(
                        "web config `{where_}`: `{other}` is not supported by mailauth-probe (supported: tls_server_config, basic_auth_users)"
                    ));
                }
            }
        }
        Ok(WebConfig {
            source: path.to_path_buf(),
            tls,
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Whether requests must carry credentials.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether an `Authorization` header value names a user with the right password.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        let Some((user, password)) = header.and_then(basic_credentials) else {
            return false;
        };
        let Some(hash) = self.users.get(&user) else {
            // As long as a real check, so response time does not tell which users exist.
            let _ = bcrypt::verify(&password, dummy_hash());
            return false;
        };
        let key: [u8; 32] = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{user}:{password}").as_bytes(),
        )
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes");
        if self.verified.lock().expect("not poisoned").contains(&key) {
            return true;
        }
        if bcrypt::verify(&password, hash).unwrap_or(false) {
            let mut v = self.verified.lock().expect("not poisoned");
            if v.len() >= VERIFIED_CAP {
                v.clear();
            }
            v.insert(key);
            return true;
        }
        false
    }
}

/// A bcrypt hash of a random password nobody knows, checked for unknown users.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let secret: [u8; 16] = rand::random();
        bcrypt::hash(secret, bcrypt::DEFAULT_COST).expect("bcrypt of 16 bytes")
    })
}

/// `Basic <base64(user:password)>` → (user, password). Public only for the fuzz target
/// (fuzz/fuzz_targets/exporter_query.rs).
#[doc(hidden)]
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || value.len() > 4096 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

fn tls_config(v: &Yaml, base: &Path) -> Result<rustls::ServerConfig, String> {
    let Yaml::Hash(h) = v else {
        return Err("tls_server_config: expected a mapping".into());
    };
    let mut cert_file = None;
    let mut key_file = None;
    let mut client_ca = None;
    let mut client_auth = "NoClientCert".to_string();
    let mut min_version = "TLS12".to_string();
    for (k, v) in h {
        let key = k.as_str().unwrap_or("?");
        let text = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("tls_server_config.{key}: expected a string"))
        };
        match key {
            "cert_file" => cert_file = Some(base.join(text()?)),
            "key_file" => key_file = Some(base.join(text()?)),
            "client_ca_file" => client_ca = Some(base.join(text()?)),
            "client_auth_type" => client_auth = text()?,
            "min_version" => min_version = text()?,
            other => {
                return Err(format!(
                    "tls_server_config.{other} is not supported by mailauth-probe (supported: cert_file, key_file, client_auth_type, client_ca_file, min_version)"
                ));
            }
        }
    }
    let cert_file = cert_file.ok_or("tls_server_config.cert_file is required")?;
    let key_file = key_file.ok_or("tls_server_config.key_file is required")?;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .and_then(|i| i.collect())
        .map_err(|e| format!("tls_server_config.cert_file `{}`: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file `{}`: no certificate in it",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_file)
        .map_err(|e| format!("tls_server_config.key_file `{}`: {e}", key_file.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match min_version.as_str() {
        "TLS12" => &[&rustls::version::TLS13, &rustls::version::TLS12],
        "TLS13" => &[&rustls::version::TLS13],
        other => {
            return Err(format!(
                "tls_server_config.min_version `{other}`: TLS12 or TLS13 (older versions are not offered)"
            ));
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match client_auth.as_str() {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca = client_ca.ok_or(format!(
                "tls_server_config.client_ca_file is required with client_auth_type {client_auth}"
            ))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&ca)
                .map_err(|e| format!("tls_server_config.client_ca_file `{}`: {e}", ca.display()))?
            {
                let c = c.map_err(|e| {
                    format!("tls_server_config.client_ca_file `{}`: {e}", ca.display())
                })?;
                roots.add(c).map_err(|e| {
                    format!("tls_server_config.client_ca_file `{}`: {e}", ca.display())
                })?;
            }
            let mut v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            if client_auth == "VerifyClientCertIfGiven" {
                v = v.allow_unauthenticated();
            }
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
            )
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type `{other}`: NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests;
