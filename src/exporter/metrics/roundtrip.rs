//! `kind: roundtrip` series: delivery latency (a histogram accumulated over scheduled runs),
//! placement, the receiver's verdicts (`mailauth_auth_result`), our own verification, the
//! receiver's spam verdict, and when each mailbox last saw a fully successful round trip.
//! Labels are the probe and the configured mailbox name: never a token or a message id.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use mailauth_probes::Report;
use mailauth_probes::roundtrip::RoundtripReport;

use super::{Labels, Snapshot, gauges};
use crate::state::{LATENCY_BUCKETS, RoundtripHistory, RunRecord};

fn reports(records: &[RunRecord]) -> Vec<(&RunRecord, &RoundtripReport, RoundtripHistory)> {
    records
        .iter()
        .filter_map(|r| match &r.outcome.report {
            Report::Roundtrip(t) => {
                let history = match &r.history {
                    Some(h) => (**h).clone(),
                    // A one-off run (`/probe`, `run`): its own observation alone.
                    None => {
                        RoundtripHistory::after(None, &r.outcome, r.finished_at).unwrap_or_default()
                    }
                };
                Some((r, t.as_ref(), history))
            }
            _ => None,
        })
        .collect()
}

/// A histogram's state, encoded as is.
#[derive(Debug)]
struct Histogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<Vec<(String, String)>>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

pub(super) fn encode(
    records: &[RunRecord],
    enc: &mut DescriptorEncoder,
    snap: &Snapshot,
) -> Result<(), std::fmt::Error> {
    let rows = reports(records);
    if rows.is_empty() {
        return Ok(());
    }
    let pm = |r: &RunRecord, mailbox: &str| -> Labels {
        vec![("probe", r.probe.clone()), ("mailbox", mailbox.to_string())]
    };
    {
        let mut family = enc.encode_descriptor(
            "mailauth_roundtrip_latency",
            if snap.scheduled {
                "From the start of sending to the probe seeing the message in the seed mailbox (all scheduled runs since the daemon started)."
            } else {
                "From the start of sending to the probe seeing the message in the seed mailbox (this run)."
            },
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (r, _, h) in &rows {
            for (mailbox, mh) in &h.mailboxes {
                let bounds = LATENCY_BUCKETS
                    .iter()
                    .copied()
                    .chain(std::iter::once(f64::INFINITY));
                let buckets = bounds
                    .zip(mh.buckets.iter().copied().chain(std::iter::repeat(0)))
                    .collect();
                let labels = pm(r, mailbox);
                Histogram {
                    sum: mh.sum,
                    count: mh.count,
                    buckets,
                }
                .encode(family.encode_family(&labels)?)?;
            }
        }
    }
    let mut placement = vec![];
    let mut auth = vec![];
    let mut own = vec![];
    let mut flagged = vec![];
    let mut scores = vec![];
    let mut last = vec![];
    for (r, t, h) in &rows {
        for m in &t.mailboxes {
            if let Some(p) = m.placement {
                let mut l = pm(r, &m.name);
                l.push(("folder", p.as_str().to_string()));
                placement.push((l, 1.0));
            }
            for a in &m.auth {
                let mut l = pm(r, &m.name);
                l.push(("method", a.method.clone()));
                l.push(("result", a.result.clone()));
                auth.push((l, 1.0));
            }
            for a in &m.own {
                let mut l = pm(r, &m.name);
                l.push(("method", a.method.clone()));
                l.push(("result", a.result.clone()));
                own.push((l, 1.0));
            }
            if let Some(f) = m.spam_flag {
                flagged.push((pm(r, &m.name), f64::from(u8::from(f))));
            }
            for (source, score) in &m.spam_scores {
                let mut l = pm(r, &m.name);
                l.push(("source", source.clone()));
                scores.push((l, *score));
            }
        }
        for (mailbox, mh) in &h.mailboxes {
            if let Some(at) = mh.last_success {
                last.push((pm(r, mailbox), at));
            }
        }
    }
    gauges(
        enc,
        "mailauth_roundtrip_placement",
        &snap.help("1 for the folder the test message landed in: inbox, junk, or missing (sent but not delivered by the deadline)"),
        None,
        placement,
    )?;
    gauges(
        enc,
        "mailauth_auth_result",
        &snap.help("1 for each result the receiver reported in its own Authentication-Results header (method dkim, spf, dmarc or arc; result as in RFC 8601)"),
        None,
        auth,
    )?;
    gauges(
        enc,
        "mailauth_roundtrip_own_result",
        &snap.help("1 for the result of our own verification of the delivered message (method dkim or arc)"),
        None,
        own,
    )?;
    gauges(
        enc,
        "mailauth_roundtrip_spam_flagged",
        &snap.help("1 when the receiver's X-Spam-Flag/X-Spam-Status says spam, 0 when it says not; absent when it says nothing"),
        None,
        flagged,
    )?;
    gauges(
        enc,
        "mailauth_roundtrip_spam_score",
        &snap.help("The receiver's spam score by source: spamassassin (X-Spam-Status), rspamd (X-Rspamd-Score), microsoft_scl (SCL)"),
        None,
        scores,
    )?;
    gauges(
        enc,
        "mailauth_roundtrip_last_success_timestamp",
        "When a round trip last succeeded for the mailbox (sent, delivered, every finding OK or WARNING), in seconds since the Unix epoch.",
        Some(Unit::Seconds),
        last,
    )
}
