//! `kind: dns` perfdata. The main figure (what `-w`/`-c` apply to) is the days until the
//! earliest RRSIG expiry (`U` for an unsigned zone); also the number of SPF lookups (limit
//! 10) and of failing nameservers.

use mailauth_probes::Report;

use super::perfdata::Perfdata;

pub(super) fn figures(reports: &[&Report]) -> (Option<Perfdata>, Vec<Perfdata>) {
    let mut lookups: Option<u32> = None;
    let mut expiry: Option<u64> = None;
    let mut ns_down = 0usize;
    let mut ns_total = 0usize;
    for r in reports {
        if let Report::Dns(d) = r {
            if let Some(l) = d.spf_lookups {
                lookups = Some(lookups.map_or(l, |x| x.max(l)));
            }
            if let Some(e) = d.rrsig_expiry {
                expiry = Some(expiry.map_or(e, |x| x.min(e)));
            }
            ns_total += d.nameservers.len();
            ns_down += d.nameservers.iter().filter(|n| !n.up).count();
        }
    }
    let main = Perfdata {
        label: "rrsig_days_left".into(),
        value: expiry.map(|e| {
            let days = (e as f64 - crate::state::now()) / 86400.0;
            (days * 100.0).round() / 100.0
        }),
        ..Perfdata::default()
    };
    let rest = vec![
        Perfdata {
            label: "spf_lookups".into(),
            value: lookups.map(f64::from),
            min: Some(0.0),
            max: Some(10.0),
            ..Perfdata::default()
        },
        Perfdata {
            label: "nameservers_failing".into(),
            value: Some(ns_down as f64),
            min: Some(0.0),
            max: Some(ns_total as f64),
            ..Perfdata::default()
        },
    ];
    (Some(main), rest)
}
