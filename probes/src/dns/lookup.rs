//! The few DNS questions the SPF walk and DMARC discovery ask, as a trait: the probe answers
//! them with its [`Resolver`], and vector tests with injected answers, so both walks are
//! tested without a network.

use std::future::Future;

use crate::resolver::{DnsFailure, Resolver, StubResolver};

/// TXT, MX and address questions, failures told apart (NXDOMAIN, NODATA, SERVFAIL, ...).
pub trait Lookups: Sync {
    /// The TXT records at `name`, each record's strings joined.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsFailure>> + Send;
    /// The number of MX records of `name`.
    fn mx_count(&self, name: &str) -> impl Future<Output = Result<usize, DnsFailure>> + Send;
    /// Whether `name` has an A or AAAA record; NXDOMAIN and NODATA are `Ok(false)`.
    fn has_address(&self, name: &str) -> impl Future<Output = Result<bool, DnsFailure>> + Send;
}

impl Lookups for Resolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        let stub: &StubResolver = self;
        stub.txt(name).await
    }

    async fn mx_count(&self, name: &str) -> Result<usize, DnsFailure> {
        self.mx(name).await.map(|v| v.len())
    }

    async fn has_address(&self, name: &str) -> Result<bool, DnsFailure> {
        match self.ips(name).await {
            Ok(v) => Ok(!v.is_empty()),
            Err(f) if f.is_negative_answer() => Ok(false),
            Err(f) => Err(f),
        }
    }
}
