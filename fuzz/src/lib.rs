//! What more than one fuzz target needs: the report limits and the checks an accepted report
//! must pass (`report_attachment` and `report_message`), and a current-thread runtime for the
//! readers that are async (`smtp_reply`, `mta_sts`). The targets themselves are in
//! fuzz_targets/, one per parser family; docs/fuzzing.md says what each covers.

use std::sync::OnceLock;

use mailauth_probes::reports::parse::{ParsedReport, ReportLimits};
use tokio::runtime::Runtime;

/// One current-thread runtime per fuzzing process, for `block_on`.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// The probe's limits scaled down (default: 25 MiB messages, 50 MiB inflated), so that a
/// bomb costs the fuzzer milliseconds; the code paths are the same.
pub fn report_limits() -> ReportLimits {
    ReportLimits {
        max_message: 4 << 20,
        max_attachment: 1 << 20,
        max_uncompressed: 4 << 20,
        max_xml_depth: 32,
        max_records: 1000,
    }
}

/// What an accepted report always has: a report id, an organisation (or, for DMARC, an
/// address), at least one and at most `max_records` records, and for DMARC a source IP and a
/// non-zero count in every record.
pub fn check_report(report: &ParsedReport, limits: &ReportLimits) {
    assert!(!report.report_id().trim().is_empty());
    assert!(report.record_count() <= limits.max_records);
    match report {
        ParsedReport::Dmarc(r) => {
            let meta = &r.report_metadata;
            assert!(!meta.org_name.trim().is_empty() || !meta.email.trim().is_empty());
            assert!(!r.record.is_empty());
            for rec in &r.record {
                assert!(rec.row.source_ip.is_some() && rec.row.count > 0, "{rec:?}");
            }
        }
        ParsedReport::TlsRpt(_) => assert!(!report.org_name().trim().is_empty()),
    }
}
