//! `kind: transport` perfdata: the main figure is the days until the earliest certificate
//! expiry (negative once expired; what `-w`/`-c` apply to).

use mailauth_probes::Report;

use super::perfdata::Perfdata;

pub(super) fn figures(reports: &[&Report]) -> (Option<Perfdata>, Vec<Perfdata>) {
    let mut earliest: Option<i64> = None;
    let mut endpoints = 0usize;
    for r in reports {
        if let Report::Transport(t) = r {
            endpoints += t.endpoints.len();
            if let Some(e) = t.earliest_not_after() {
                earliest = Some(earliest.map_or(e, |x| x.min(e)));
            }
        }
    }
    let main = Perfdata {
        label: "cert_days_left".into(),
        value: earliest.map(|e| {
            let days = (e as f64 - crate::state::now()) / 86400.0;
            (days * 100.0).round() / 100.0
        }),
        ..Perfdata::default()
    };
    let rest = vec![Perfdata {
        label: "endpoints".into(),
        value: Some(endpoints as f64),
        min: Some(0.0),
        ..Perfdata::default()
    }];
    (Some(main), rest)
}
