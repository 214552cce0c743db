//! Receiver facts of the large mailbox providers, for `provider:` presets and
//! `mailauth-probe verdicts --provider`: whose `Authentication-Results` count (authserv-id
//! patterns, the hosts that write the receiver's own `Received` field, whether the verdict sits
//! below that field), the Junk folder names and the IMAP endpoint. docs/providers.md says how
//! each fact was established; facts without a public sample in tests/data/authres-corpus are
//! marked there as such.

use super::TrustRule;

/// One provider's receiver and mailbox facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// The preset's key (`gmail`, `outlook`, ...).
    pub key: &'static str,
    /// Authserv-id patterns; `""` for Microsoft's fields without one.
    pub authserv_ids: &'static [&'static str],
    /// `by` hosts of the provider's own `Received` fields.
    pub received_by: &'static [&'static str],
    /// The verdict is written directly below the provider's `Received` field.
    pub fields_below: bool,
    /// Junk folder names, tried when no folder carries SPECIAL-USE `\Junk`.
    pub junk_folders: &'static [&'static str],
    pub imap_host: &'static str,
    pub imap_port: u16,
    /// The provider takes no password over IMAP at all: XOAUTH2 only (Microsoft). Gmail and
    /// the others take an app password (or XOAUTH2).
    pub xoauth2_required: bool,
}

impl Provider {
    /// The trust rule of this provider's fields.
    pub fn rule(&self) -> TrustRule {
        TrustRule {
            authserv_ids: self.authserv_ids.iter().map(|s| s.to_string()).collect(),
            received_by: self.received_by.iter().map(|s| s.to_string()).collect(),
            fields_below: self.fields_below,
        }
    }
}

const MICROSOFT_IDS: &[&str] = &[""];
const MICROSOFT_HOSTS: &[&str] = &[
    "*.protection.outlook.com",
    "*.prod.outlook.com",
    "*.outlook.office365.com",
    "*.hotmail.com",
];

/// Every preset, by key.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        key: "gmail",
        authserv_ids: &["mx.google.com"],
        received_by: &["mx.google.com"],
        fields_below: true,
        junk_folders: &["[Gmail]/Spam", "[Google Mail]/Spam", "Spam"],
        imap_host: "imap.gmail.com",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "outlook",
        authserv_ids: MICROSOFT_IDS,
        received_by: MICROSOFT_HOSTS,
        fields_below: false,
        junk_folders: &["Junk", "Junk Email", "Junk E-mail"],
        imap_host: "outlook.office365.com",
        imap_port: 993,
        xoauth2_required: true,
    },
    Provider {
        key: "microsoft365",
        authserv_ids: MICROSOFT_IDS,
        received_by: MICROSOFT_HOSTS,
        fields_below: false,
        junk_folders: &["Junk Email", "Junk E-mail", "Junk"],
        imap_host: "outlook.office365.com",
        imap_port: 993,
        xoauth2_required: true,
    },
    Provider {
        key: "yahoo",
        authserv_ids: &["*.mail.yahoo.com"],
        received_by: &["*.mail.yahoo.com"],
        fields_below: false,
        junk_folders: &["Bulk", "Bulk Mail", "Spam"],
        imap_host: "imap.mail.yahoo.com",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "aol",
        authserv_ids: &["*.mail.aol.com", "*.mail.yahoo.com"],
        received_by: &["*.mail.aol.com", "*.mail.yahoo.com"],
        fields_below: false,
        junk_folders: &["Bulk", "Bulk Mail", "Spam"],
        imap_host: "imap.aol.com",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "icloud",
        authserv_ids: &["*.icloud.com"],
        received_by: &["*.me.com", "*.icloud.com"],
        fields_below: true,
        junk_folders: &["Junk"],
        imap_host: "imap.mail.me.com",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "fastmail",
        authserv_ids: &["*.messagingengine.com"],
        received_by: &["*.messagingengine.com", "mailmx.nyi.internal"],
        fields_below: false,
        junk_folders: &["Spam", "Junk Mail"],
        imap_host: "imap.fastmail.com",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "gmx",
        authserv_ids: &["*.gmx.net", "*.gmx.com"],
        received_by: &["*.gmx.net", "*.gmx.com"],
        fields_below: false,
        junk_folders: &["Spamverdacht", "Spam"],
        imap_host: "imap.gmx.net",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "webde",
        authserv_ids: &["*.web.de"],
        received_by: &["*.web.de"],
        fields_below: false,
        junk_folders: &["Spam", "Unerwünscht"],
        imap_host: "imap.web.de",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "yandex",
        authserv_ids: &["*.yandex.net", "*.yandex.ru"],
        received_by: &["*.yandex.net", "*.yandex.ru"],
        fields_below: false,
        junk_folders: &["Spam"],
        imap_host: "imap.yandex.com",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "mailru",
        authserv_ids: &["*.mail.ru"],
        received_by: &["*.mail.ru"],
        fields_below: false,
        junk_folders: &["Spam"],
        imap_host: "imap.mail.ru",
        imap_port: 993,
        xoauth2_required: false,
    },
    Provider {
        key: "proton",
        authserv_ids: &["*.protonmail.ch", "*.proton.ch"],
        received_by: &["*.protonmail.ch", "*.proton.ch"],
        fields_below: false,
        junk_folders: &["Spam"],
        // Proton serves IMAP only through Proton Mail Bridge on the user's machine.
        imap_host: "127.0.0.1",
        imap_port: 1143,
        xoauth2_required: false,
    },
    Provider {
        key: "zoho",
        authserv_ids: &["mx.zohomail.com", "*.zohomail.com"],
        received_by: &["mx.zohomail.com", "*.zohomail.com", "*.zoho.com"],
        fields_below: false,
        junk_folders: &["Spam"],
        imap_host: "imap.zoho.com",
        imap_port: 993,
        xoauth2_required: false,
    },
];

/// The preset named `key` (case-insensitive).
pub fn provider(key: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.key.eq_ignore_ascii_case(key))
}

/// The preset keys, for error messages.
pub fn keys() -> Vec<&'static str> {
    PROVIDERS.iter().map(|p| p.key).collect()
}
