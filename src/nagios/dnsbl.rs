//! `kind: dnsbl` perfdata: the main figure is the number of listings (what `-w`/`-c` apply to).

use mailauth_probes::Report;

use super::perfdata::Perfdata;

pub(super) fn figures(reports: &[&Report]) -> (Option<Perfdata>, Vec<Perfdata>) {
    let mut listings = 0usize;
    let mut checked = 0usize;
    let mut undecided = 0usize;
    for r in reports {
        if let Report::Dnsbl(d) = r {
            listings += d.listings();
            checked += d.zones.len();
            undecided += d.zones.iter().filter(|z| z.listed.is_none()).count();
        }
    }
    let main = Perfdata {
        label: "listings".into(),
        value: Some(listings as f64),
        min: Some(0.0),
        ..Perfdata::default()
    };
    let rest = vec![
        Perfdata {
            label: "zones_checked".into(),
            value: Some(checked as f64),
            min: Some(0.0),
            ..Perfdata::default()
        },
        Perfdata {
            label: "zones_undecided".into(),
            value: Some(undecided as f64),
            min: Some(0.0),
            ..Perfdata::default()
        },
    ];
    (Some(main), rest)
}
