//! The `kind: roundtrip` settings section: who sends (`from`), how the message leaves
//! (`submission:` or `direct_to_mx: true`), whether the probe signs it itself (`dkim_sign:`),
//! and the seed mailboxes that receive it, with their IMAP accounts and the receivers'
//! authserv-ids. Secrets (passwords, the signing key) come from files or environment
//! variables; OAuth2 tokens are re-read from their file or command at every run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mailauth_probes::authres::TrustRule;
use mailauth_probes::authres::providers::{self, Provider};
use mailauth_probes::roundtrip::imap::{ImapAccount, ImapAuth, ImapTls};
use mailauth_probes::roundtrip::send::{SendVia, SmtpTls, Submission};
use mailauth_probes::roundtrip::{ProbeSigner, RoundtripSettings, SeedMailbox};
use mailauth_probes::{Secret, State};
use serde::Deserialize;

use super::raw::RawState;
use super::yaml::{HumanDuration, Node};
use super::{Ctx, Domain, ProbeSettings};

#[derive(Debug, Deserialize)]
struct RawRoundtrip {
    /// Envelope sender and From: address.
    from: String,
    /// Our EHLO name (default: the machine's host name).
    helo: Option<String>,
    submission: Option<RawSubmission>,
    /// Send straight to each seed mailbox domain's MX on port 25 instead.
    #[serde(default)]
    direct_to_mx: bool,
    dkim_sign: Option<RawSigner>,
    /// The selector that must have signed (our own verification).
    expect_selector: Option<String>,
    /// Extra header fields for the test message.
    #[serde(default)]
    extra_headers: BTreeMap<String, String>,
    mailboxes: Vec<RawMailbox>,
    /// State of a message filed into Junk (default warning).
    junk_state: Option<RawState>,
    /// Anyone's probe messages older than this are removed (default 1h).
    stray_age: Option<HumanDuration>,
    /// This daemon's name in tokens (default: the host name), so replicas sharing a mailbox
    /// remove only their own messages.
    instance: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSubmission {
    host: String,
    port: Option<u16>,
    /// starttls (default on 587) or implicit (default on 465).
    tls: Option<String>,
    username: Option<String>,
    #[allow(dead_code)] // read by Ctx::secret from the node
    password_file: Option<PathBuf>,
    #[allow(dead_code)]
    password_env: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawSigner {
    domain: String,
    selector: String,
    #[allow(dead_code)]
    key_file: Option<PathBuf>,
    #[allow(dead_code)]
    key_env: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawMailbox {
    name: String,
    address: String,
    /// A provider preset (`gmail`, `outlook`, ...): fills the keys below; explicit keys win.
    provider: Option<String>,
    /// The receiver's authserv-id, or a list of patterns (`*.icloud.com`; `""` for
    /// Microsoft's fields without one).
    authserv_id: Option<OneOrMany>,
    received_by: Option<Vec<String>>,
    /// The receiver writes its verdict directly below its own Received field (Gmail, iCloud).
    fields_below: Option<bool>,
    /// method → accepted results (a word or a list); default dkim, spf, dmarc: pass.
    expect: Option<BTreeMap<String, OneOrMany>>,
    imap: RawImap,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawImap {
    /// Default: the provider preset's.
    host: Option<String>,
    port: Option<u16>,
    /// implicit (default on 993) or starttls (default on 143).
    tls: Option<String>,
    /// Default (seed mailboxes): the mailbox address.
    username: Option<String>,
    #[allow(dead_code)]
    password_file: Option<PathBuf>,
    #[allow(dead_code)]
    password_env: Option<String>,
    oauth2_token_file: Option<PathBuf>,
    oauth2_token_command: Option<Vec<String>>,
    idle: Option<bool>,
    poll_interval: Option<HumanDuration>,
    junk_folders: Option<Vec<String>>,
    move_to: Option<String>,
}

/// `pass` or `[pass, neutral]`.
#[derive(Debug)]
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a result such as `pass`, or a list of results")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut v = vec![];
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(OneOrMany(v))
            }
        }
        d.deserialize_any(V)
    }
}

const METHODS: &[&str] = &["dkim", "spf", "dmarc", "arc"];
/// RFC 8601 result words (and RFC 8617's for ARC).
const RESULTS: &[&str] = &[
    "pass",
    "fail",
    "none",
    "neutral",
    "policy",
    "softfail",
    "temperror",
    "permerror",
    "hardfail",
];

/// The default Junk folder names, when no folder carries SPECIAL-USE `\Junk`.
pub const JUNK_NAMES: &[&str] = &["Junk", "Spam", "[Gmail]/Spam", "Junk E-mail"];

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "mailauth-probe".into())
}

fn is_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(['<', '>', ' ', '"', '\r', '\n'])
                && mailauth_probes::dnsbl::Subject::parse(domain).is_ok()
        }
        None => false,
    }
}

fn is_header_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

pub(super) fn load(
    node: &Node,
    path: &str,
    _domains: &BTreeMap<String, Domain>,
    ctx: &mut Ctx,
) -> Option<(ProbeSettings, Vec<String>)> {
    let raw: RawRoundtrip = super::kind_part(node, path, ctx)?;
    let mut ok = true;
    let from = raw.from.trim().to_string();
    if !is_address(&from) {
        ctx.error(
            node.get("from").unwrap_or(node),
            &format!("{path}.from"),
            format!("`{from}` is not an address like probe@example.org"),
        );
        ok = false;
    }
    let via = match (&raw.submission, raw.direct_to_mx) {
        (Some(_), true) => {
            ctx.error(
                node,
                path,
                "give either `submission:` or `direct_to_mx: true`, not both",
            );
            None
        }
        (None, false) => {
            ctx.error(
                node,
                path,
                "say how the message leaves: `submission:` (your submission server) or `direct_to_mx: true`",
            );
            None
        }
        (None, true) => Some(SendVia::Mx),
        (Some(sub), false) => {
            let snode = node.get("submission").unwrap_or(node);
            let spath = format!("{path}.submission");
            let password = ctx.secret(snode, &spath, "password");
            let port = sub.port.unwrap_or(587);
            let tls = match sub.tls.as_deref() {
                None if port == 465 => Some(SmtpTls::Implicit),
                None | Some("starttls") => Some(SmtpTls::StartTls),
                Some("implicit") => Some(SmtpTls::Implicit),
                Some(other) => {
                    ctx.error(
                        snode.get("tls").unwrap_or(snode),
                        &format!("{spath}.tls"),
                        format!("`{other}`: write starttls or implicit"),
                    );
                    None
                }
            };
            let credentials = match (password, &sub.username) {
                (None, _) => None,
                (Some(None), None) => Some(None),
                (Some(Some(p)), Some(u)) => Some(Some((u.clone(), Secret::new(p)))),
                (Some(None), Some(_)) => {
                    ctx.error(
                        snode,
                        &spath,
                        "a username needs `password_file:` or `password_env:`",
                    );
                    None
                }
                (Some(Some(_)), None) => {
                    ctx.error(snode, &spath, "a password needs a `username:`");
                    None
                }
            };
            match (tls, credentials) {
                (Some(tls), Some(credentials)) => Some(SendVia::Submission(Submission {
                    host: sub.host.trim().trim_end_matches('.').to_ascii_lowercase(),
                    port,
                    tls,
                    credentials,
                })),
                _ => None,
            }
        }
    };
    ok &= via.is_some();

    let signer = match &raw.dkim_sign {
        None => Some(None),
        Some(sig) => {
            let snode = node.get("dkim_sign").unwrap_or(node);
            let spath = format!("{path}.dkim_sign");
            match ctx.secret(snode, &spath, "key") {
                Some(Some(pem)) => match ProbeSigner::from_pem(&sig.domain, &sig.selector, &pem) {
                    Ok(s) => Some(Some(Arc::new(s))),
                    Err(e) => {
                        ctx.error(
                            snode
                                .get("key_file")
                                .or(snode.get("key_env"))
                                .unwrap_or(snode),
                            &format!("{spath}.key_file"),
                            format!("the DKIM signing key: {e}"),
                        );
                        None
                    }
                },
                Some(None) => {
                    ctx.error(
                        snode,
                        &spath,
                        "the probe's DKIM key: give `key_file:` or `key_env:` (an RSA private key in PEM)",
                    );
                    None
                }
                None => None,
            }
        }
    };
    ok &= signer.is_some();

    let mut extra_headers = vec![];
    for (name, value) in &raw.extra_headers {
        let hnode = node.get("extra_headers").unwrap_or(node);
        if !is_header_name(name) || value.contains(['\r', '\n']) {
            ctx.error(
                hnode,
                &format!("{path}.extra_headers.{name}"),
                "a header name is printable ASCII without `:`, and its value one line",
            );
            ok = false;
        } else {
            extra_headers.push((name.clone(), value.clone()));
        }
    }

    let mut mailboxes = vec![];
    if raw.mailboxes.is_empty() {
        ctx.error(
            node.get("mailboxes").unwrap_or(node),
            &format!("{path}.mailboxes"),
            "at least one seed mailbox is needed",
        );
        ok = false;
    }
    let mnodes = node.get("mailboxes").and_then(Node::as_seq).unwrap_or(&[]);
    for (i, m) in raw.mailboxes.iter().enumerate() {
        let mnode = mnodes.get(i).unwrap_or(node);
        let mpath = format!("{path}.mailboxes[{i}]");
        match mailbox(m, mnode, &mpath, ctx) {
            Some(mb) => {
                if mailboxes.iter().any(|x: &SeedMailbox| x.name == mb.name) {
                    ctx.error(
                        mnode.get("name").unwrap_or(mnode),
                        &format!("{mpath}.name"),
                        format!("mailbox name `{}` is used twice", mb.name),
                    );
                    ok = false;
                }
                mailboxes.push(mb);
            }
            None => ok = false,
        }
    }
    let instance = raw.instance.clone().unwrap_or_else(host_name);
    let settings = RoundtripSettings {
        helo: raw.helo.clone().unwrap_or_else(host_name),
        via: via?,
        signer: signer?,
        expect_selector: raw.expect_selector.clone(),
        extra_headers,
        mailboxes,
        // Completed by the caller, which knows the probe's name and timeout.
        owner: instance,
        own_stray_age: Duration::ZERO,
        stray_age: raw.stray_age.map_or(Duration::from_secs(3600), |d| d.0),
        junk_state: raw.junk_state.map_or(State::Warning, State::from),
        from: from.clone(),
    };
    let target = mailauth_probes::roundtrip::message::domain_of(&from);
    ok.then_some((ProbeSettings::Roundtrip(Box::new(settings)), vec![target]))
}

fn mailbox(m: &RawMailbox, node: &Node, path: &str, ctx: &mut Ctx) -> Option<SeedMailbox> {
    let mut ok = true;
    if !super::is_label_name(&m.name) {
        ctx.error(
            node.get("name").unwrap_or(node),
            &format!("{path}.name"),
            "a mailbox name is letters, digits, `-`, `_` and `.` (it becomes a label)",
        );
        ok = false;
    }
    if !is_address(&m.address) {
        ctx.error(
            node.get("address").unwrap_or(node),
            &format!("{path}.address"),
            format!("`{}` is not an address", m.address),
        );
        ok = false;
    }
    let mut expect = vec![];
    match &m.expect {
        None => {
            for meth in ["dkim", "spf", "dmarc"] {
                expect.push((meth.to_string(), vec!["pass".to_string()]));
            }
        }
        Some(map) => {
            for (meth, results) in map {
                let meth = meth.to_ascii_lowercase();
                let epath = format!("{path}.expect.{meth}");
                let enode = node.get("expect").unwrap_or(node);
                if !METHODS.contains(&meth.as_str()) {
                    ctx.error(
                        enode,
                        &epath,
                        format!("unknown method `{meth}` (one of: {})", METHODS.join(", ")),
                    );
                    ok = false;
                    continue;
                }
                let mut rs = vec![];
                for r in &results.0 {
                    let r = r.to_ascii_lowercase();
                    if !RESULTS.contains(&r.as_str()) {
                        ctx.error(
                            enode,
                            &epath,
                            format!("unknown result `{r}` (one of: {})", RESULTS.join(", ")),
                        );
                        ok = false;
                    }
                    rs.push(r);
                }
                expect.push((meth, rs));
            }
        }
    }
    let preset = match m.provider.as_deref() {
        None => None,
        Some(key) => match providers::provider(key) {
            Some(p) => Some(p),
            None => {
                ctx.error(
                    node.get("provider").unwrap_or(node),
                    &format!("{path}.provider"),
                    format!(
                        "unknown provider `{key}` (one of: {})",
                        providers::keys().join(", ")
                    ),
                );
                return None;
            }
        },
    };
    let authserv_ids: Vec<String> = match (&m.authserv_id, preset) {
        (Some(ids), _) => ids.0.iter().map(|i| i.trim().to_string()).collect(),
        (None, Some(p)) => p.authserv_ids.iter().map(|s| s.to_string()).collect(),
        (None, None) => {
            ctx.error(
                node,
                path,
                "give the receiver's `authserv_id:` (or a `provider:` preset)",
            );
            return None;
        }
    };
    let received_by = match (&m.received_by, preset) {
        (Some(r), _) => r.clone(),
        (None, Some(p)) if m.authserv_id.is_none() => {
            p.received_by.iter().map(|s| s.to_string()).collect()
        }
        _ => authserv_ids
            .iter()
            .filter(|i| !i.is_empty())
            .cloned()
            .collect(),
    };
    if received_by.is_empty() {
        ctx.error(
            node,
            &format!("{path}.received_by"),
            "an empty authserv_id (Microsoft) needs `received_by:` hosts",
        );
        ok = false;
    }
    let fields_below = m
        .fields_below
        .unwrap_or_else(|| preset.is_some_and(|p| p.fields_below));
    let imap = imap_account(
        &m.imap,
        node.get("imap").unwrap_or(node),
        &format!("{path}.imap"),
        ctx,
        &ImapDefaults {
            provider: preset,
            username: Some(m.address.trim()),
        },
    );
    let imap = imap?;
    ok.then(|| SeedMailbox {
        name: m.name.clone(),
        address: m.address.trim().to_string(),
        imap,
        trust: TrustRule {
            authserv_ids,
            received_by,
            fields_below,
        },
        expect,
    })
}

/// What an `imap:` section falls back to: a provider preset's endpoint, Junk names and auth
/// method, and the mailbox address as the user name.
#[derive(Default)]
pub(super) struct ImapDefaults<'a> {
    pub provider: Option<&'static Provider>,
    pub username: Option<&'a str>,
}

/// An IMAP account of a seed or report mailbox (`imap:`), with its secret.
pub(super) fn imap_account(
    i: &RawImap,
    inode: &Node,
    ipath: &str,
    ctx: &mut Ctx,
    defaults: &ImapDefaults,
) -> Option<ImapAccount> {
    let mut ok = true;
    let preset = defaults.provider;
    let Some(host) = i.host.clone().or(preset.map(|p| p.imap_host.to_string())) else {
        ctx.error(
            inode,
            ipath,
            "give the IMAP `host:` (or a `provider:` preset)",
        );
        return None;
    };
    let Some(username) = i.username.clone().or(defaults.username.map(str::to_string)) else {
        ctx.error(inode, ipath, "give the IMAP `username:`");
        return None;
    };
    let port = i.port.or(preset.map(|p| p.imap_port)).unwrap_or(993);
    let tls = match i.tls.as_deref() {
        None if port == 143 => ImapTls::StartTls,
        None | Some("implicit") => ImapTls::Implicit,
        Some("starttls") => ImapTls::StartTls,
        Some(other) => {
            ctx.error(
                inode.get("tls").unwrap_or(inode),
                &format!("{ipath}.tls"),
                format!("`{other}`: write implicit or starttls"),
            );
            ok = false;
            ImapTls::Implicit
        }
    };
    let password = ctx.secret(inode, ipath, "password");
    if let (Some(p), Some(Some(_))) = (preset, &password)
        && p.xoauth2_required
    {
        ctx.error(
            inode,
            ipath,
            format!(
                "`provider: {}` takes XOAUTH2 only (no plain passwords): give `oauth2_token_file:` or `oauth2_token_command:`",
                p.key
            ),
        );
        return None;
    }
    let auth = match (password, &i.oauth2_token_file, &i.oauth2_token_command) {
        (None, _, _) => None,
        (Some(Some(p)), None, None) => Some(ImapAuth::Password(Secret::new(p))),
        (Some(None), Some(f), None) => {
            let full = ctx.base_dir.join(f);
            match std::fs::metadata(&full) {
                Ok(md) if md.is_file() => Some(ImapAuth::OAuth2TokenFile(full)),
                Ok(_) => {
                    ctx.error(
                        inode.get("oauth2_token_file").unwrap_or(inode),
                        &format!("{ipath}.oauth2_token_file"),
                        format!("`{}` is not a file", full.display()),
                    );
                    None
                }
                Err(e) => {
                    ctx.error(
                        inode.get("oauth2_token_file").unwrap_or(inode),
                        &format!("{ipath}.oauth2_token_file"),
                        format!(
                            "cannot read the OAuth2 token file `{}`: {e}",
                            full.display()
                        ),
                    );
                    None
                }
            }
        }
        (Some(None), None, Some(argv)) if !argv.is_empty() => {
            Some(ImapAuth::OAuth2TokenCommand(argv.clone()))
        }
        _ => {
            ctx.error(
                inode,
                ipath,
                "give exactly one of `password_file:`, `password_env:`, `oauth2_token_file:` or `oauth2_token_command:` (a non-empty argv list)",
            );
            None
        }
    };
    let imap = ImapAccount {
        host: host.trim().trim_end_matches('.').to_ascii_lowercase(),
        port,
        tls,
        username,
        auth: auth?,
        idle: i.idle.unwrap_or(true),
        poll_interval: i.poll_interval.map_or(Duration::from_secs(5), |d| d.0),
        junk_names: i.junk_folders.clone().unwrap_or_else(|| {
            preset
                .map_or(JUNK_NAMES, |p| p.junk_folders)
                .iter()
                .map(|s| s.to_string())
                .collect()
        }),
        move_to: i.move_to.clone(),
    };
    if imap.poll_interval.is_zero() {
        ctx.error(
            inode.get("poll_interval").unwrap_or(inode),
            &format!("{ipath}.poll_interval"),
            "the polling interval must be greater than zero",
        );
        ok = false;
    }
    ok.then_some(imap)
}
