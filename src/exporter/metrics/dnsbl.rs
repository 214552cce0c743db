//! `kind: dnsbl` series: `mailauth_dnsbl_listed{ip_or_domain,zone}`.

use std::collections::BTreeMap;

use mailauth_probes::Report;
use prometheus_client::encoding::DescriptorEncoder;

use super::{Snapshot, gauges};
use crate::state::RunRecord;

pub(super) fn encode(
    records: &[RunRecord],
    enc: &mut DescriptorEncoder,
    snap: &Snapshot,
) -> Result<(), std::fmt::Error> {
    // Several probes may check the same subject on the same zone: one series, from the most
    // recent run. Undecided zones (refused, broken, silent) give no series: they are not
    // listings, and their mailauth_check_status is 3.
    let mut latest: BTreeMap<(String, String), (f64, bool)> = BTreeMap::new();
    for r in records {
        let Report::Dnsbl(rep) = &r.outcome.report else {
            continue;
        };
        for z in &rep.zones {
            let Some(listed) = z.listed else { continue };
            let key = (rep.subject.clone(), z.zone.clone());
            match latest.get(&key) {
                Some((at, _)) if *at > r.finished_at => {}
                _ => {
                    latest.insert(key, (r.finished_at, listed));
                }
            }
        }
    }
    gauges(
        enc,
        "mailauth_dnsbl_listed",
        &snap.help("1 when the IP or domain is listed on the zone, 0 when not; absent when the zone could not be believed (see mailauth_check_status)"),
        None,
        latest
            .into_iter()
            .map(|((subject, zone), (_, listed))| {
                (
                    vec![("ip_or_domain", subject), ("zone", zone)],
                    f64::from(u8::from(listed)),
                )
            })
            .collect(),
    )
}
