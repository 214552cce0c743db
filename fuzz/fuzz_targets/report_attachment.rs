//! One report attachment as the reports probe finds it in a mailbox (`decode_payload`): DMARC
//! aggregate XML or TLS-RPT JSON, plain, gzip or zip, under limits small enough that a bomb
//! costs the fuzzer little. Beyond "no panic" (and the run's memory and time limits, which
//! stand for "every resource a sender controls is bounded"): an accepted report passes
//! `check_report` (a report id, an organisation, 1 to `max_records` valid records).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probe_fuzz::{check_report, report_limits};
use mailauth_probes::reports::parse;

fuzz_target!(|data: &[u8]| {
    let limits = report_limits();
    // The label only names the payload in refusals; the content decides what it is.
    if let Ok(report) = parse::decode_payload("report.xml.gz", "application/gzip", data, &limits) {
        check_report(&report, &limits);
    }
});
