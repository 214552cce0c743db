//! A whole raw message from the reports mailbox (`reports_in_message`): MIME parsing by
//! mail-parser, then our choice of parts (by file name, content type or magic bytes, nested
//! `message/rfc822` parts included) and each payload as in the `report_attachment` target.
//! Beyond "no panic": a message is only accepted with at least one report-like part, each
//! named, and each report it yields passes `check_report`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probe_fuzz::{check_report, report_limits};
use mailauth_probes::reports::parse;

fuzz_target!(|data: &[u8]| {
    let limits = report_limits();
    if let Ok(found) = parse::reports_in_message(data, &limits) {
        assert!(!found.is_empty());
        for f in &found {
            assert!(!f.filename.is_empty());
            if let Ok(report) = &f.report {
                check_report(report, &limits);
            }
        }
    }
});
