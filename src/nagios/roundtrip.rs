//! `kind: roundtrip` perfdata: the main figure is the delivery latency in seconds (the
//! slowest seed mailbox; what `-w`/`-c` apply to), then each mailbox's latency.

use mailauth_probes::Report;

use super::perfdata::Perfdata;

pub(super) fn figures(reports: &[&Report]) -> (Option<Perfdata>, Vec<Perfdata>) {
    let mut worst: Option<f64> = None;
    let mut rest = vec![];
    for r in reports {
        if let Report::Roundtrip(t) = r {
            if let Some(l) = t.max_latency() {
                worst = Some(worst.map_or(l, |w| w.max(l)));
            }
            for m in &t.mailboxes {
                rest.push(Perfdata {
                    label: format!("latency_{}", m.name),
                    value: m.latency_seconds.map(round3),
                    uom: "s".into(),
                    min: Some(0.0),
                    ..Perfdata::default()
                });
            }
        }
    }
    let main = Perfdata {
        label: "latency".into(),
        value: worst.map(round3),
        uom: "s".into(),
        min: Some(0.0),
        ..Perfdata::default()
    };
    (Some(main), rest)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
