//! The config file's shape as serde structs: what may be written, not yet what is valid.
//! Unknown keys are reported by the reader ([`super::yaml`]) against each struct's fields.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::yaml::HumanDuration;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub exporter: RawExporter,
    #[serde(default)]
    pub domains: BTreeMap<String, RawDomain>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawGlobal {
    pub interval: Option<HumanDuration>,
    pub timeout: Option<HumanDuration>,
    pub resolver: Option<ResolverSetting>,
    pub jitter: Option<f64>,
    pub concurrency: Option<usize>,
    pub per_destination_concurrency: Option<usize>,
    pub drain_timeout: Option<HumanDuration>,
    pub ca_file: Option<PathBuf>,
    pub trust_anchor: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawExporter {
    pub listen: Option<String>,
    #[serde(default)]
    pub allow_targets: Vec<String>,
    pub web_config_file: Option<PathBuf>,
    pub public_paths: Option<Vec<String>>,
    #[serde(default)]
    pub enable_lifecycle: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawDomain {
    #[serde(default)]
    pub dkim_selectors: Vec<String>,
    #[serde(default)]
    pub sending_ips: Vec<String>,
    #[serde(default)]
    pub mx_expected: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawProbeCommon {
    pub name: String,
    #[allow(dead_code)] // read from the node directly to pick the kind's section
    pub kind: String,
    pub interval: Option<HumanDuration>,
    pub timeout: Option<HumanDuration>,
    pub resolver: Option<ResolverSetting>,
}

/// A configurable state: `ok`, `warning` or `critical`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawState {
    Ok,
    Warning,
    Critical,
}

impl From<RawState> for mailauth_probes::State {
    fn from(s: RawState) -> Self {
        match s {
            RawState::Ok => mailauth_probes::State::Ok,
            RawState::Warning => mailauth_probes::State::Warning,
            RawState::Critical => mailauth_probes::State::Critical,
        }
    }
}

/// `resolver: system` or a list of `IP[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverSetting {
    System,
    Servers(Vec<String>),
}

impl<'de> Deserialize<'de> for ResolverSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ResolverSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`system` or a list of resolver addresses")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s == "system" {
                    Ok(ResolverSetting::System)
                } else {
                    // One address written without a list is fine too.
                    Ok(ResolverSetting::Servers(vec![s.to_string()]))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(ResolverSetting::Servers(v))
            }
        }
        d.deserialize_any(V)
    }
}
