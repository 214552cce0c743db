//! Per-destination concurrency limits: at most N runs talk to the same DNSBL zone (or MX host)
//! at once, whatever the number of targets, so a probe suite with many targets never floods a
//! list operator (who would then refuse us) or a receiver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct Limits {
    per_destination: usize,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Limits {
    /// `per_destination` concurrent users of one destination (at least 1).
    pub fn new(per_destination: usize) -> Self {
        Limits {
            per_destination: per_destination.max(1),
            semaphores: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot for `destination` (e.g. `dnsbl:zen.spamhaus.org`). Callers bound the
    /// wait with their [`crate::Deadline`].
    pub async fn acquire(&self, destination: &str) -> OwnedSemaphorePermit {
        let sem = {
            let mut map = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(destination.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
                .clone()
        };
        sem.acquire_owned()
            .await
            .expect("limit semaphores are never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_destination_is_limited_others_are_not() {
        let limits = Limits::new(1);
        let _a = limits.acquire("dnsbl:a").await;
        // Another destination is free.
        let _b = limits.acquire("dnsbl:b").await;
        // The same destination is not, until the first permit is dropped.
        let again = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            limits.acquire("dnsbl:a"),
        )
        .await;
        assert!(again.is_err());
        drop(_a);
        let again = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            limits.acquire("dnsbl:a"),
        )
        .await;
        assert!(again.is_ok());
    }
}
