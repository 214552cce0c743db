//! What the dns probe judges by comparing this run with the previous one of the same probe
//! and target, which the app hands over in [`ProbeContext::previous`](crate::ProbeContext)
//! (the daemon passes its last outcome; `run`, `/probe` and `check_mailauth` have none, so
//! these findings do not appear there). Pure: the comparison reads two reports.

use super::DnsReport;
use crate::{Finding, Outcome, Report, State};

/// The findings that compare `report` with the `previous` outcome, when that was a dns run.
pub fn with_previous(previous: Option<&Outcome>, report: &DnsReport) -> Vec<Finding> {
    match previous.map(|o| &o.report) {
        Some(Report::Dns(prev)) => mta_sts_change(prev, report).into_iter().collect(),
        _ => vec![],
    }
}

/// What changed in the MTA-STS publication between two runs, as a finding: a new `id=` is
/// noted (senders fetch the policy again); a policy that changed under the same id is a
/// WARNING, since senders keep their cached copy for up to max_age (RFC 8461 3.3).
pub fn mta_sts_change(prev: &DnsReport, next: &DnsReport) -> Option<Finding> {
    let (Some(old_id), Some(new_id)) = (&prev.mta_sts_id, &next.mta_sts_id) else {
        return None;
    };
    if old_id != new_id {
        return Some(Finding::new(
            "mta-sts:id",
            State::Ok,
            format!("MTA-STS id changed from {old_id} to {new_id}: senders fetch the policy again"),
        ));
    }
    match (&prev.mta_sts_policy, &next.mta_sts_policy) {
        (Some(a), Some(b)) if a != b => Some(
            Finding::new(
                "mta-sts:id",
                State::Warning,
                format!("the MTA-STS policy changed but the id ({new_id}) did not: senders keep their cached policy until it expires"),
            )
            .with_detail(format!("was: {a}; now: {b}. Publish a new id= in the _mta-sts TXT record.")),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, policy: &str) -> DnsReport {
        DnsReport {
            domain: "lab.test".into(),
            mta_sts_id: Some(id.into()),
            mta_sts_policy: Some(policy.into()),
            ..DnsReport::default()
        }
    }

    fn after(prev: Option<&DnsReport>, next: &DnsReport) -> Vec<(State, String)> {
        let prev = prev.map(|p| Outcome::new(vec![], Report::Dns(Box::new(p.clone()))));
        with_previous(prev.as_ref(), next)
            .into_iter()
            .inspect(|f| assert_eq!(f.check, "mta-sts:id"))
            .map(|f| (f.state, f.summary))
            .collect()
    }

    #[test]
    fn a_new_id_is_noted_and_a_policy_changed_under_the_same_id_warned() {
        let a1 = report("a1", "mode enforce");
        assert!(after(None, &a1).is_empty(), "nothing to compare with");
        assert!(after(Some(&a1), &a1).is_empty());
        let b2 = report("b2", "mode testing");
        let n = after(Some(&a1), &b2);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].0, State::Ok);
        assert!(n[0].1.contains("from a1 to b2"), "{}", n[0].1);
        let n = after(Some(&b2), &report("b2", "mode enforce"));
        assert_eq!(n[0].0, State::Warning);
        assert!(n[0].1.contains("did not"), "{}", n[0].1);
    }

    #[test]
    fn a_previous_run_of_another_kind_is_no_comparison() {
        let other = Outcome::single(Finding::new("deadline", State::Unknown, "late"));
        assert!(with_previous(Some(&other), &report("a1", "x")).is_empty());
    }
}
