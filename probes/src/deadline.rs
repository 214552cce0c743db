//! One deadline per probe run, set by the scheduler or by `/probe`, passed down to every
//! network step: a probe ends by its timeout whatever the peer does.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

/// The deadline passed before the step finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline exceeded")]
pub struct Elapsed;

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now() + timeout,
        }
    }

    pub fn at(at: Instant) -> Self {
        Deadline { at }
    }

    pub fn instant(&self) -> Instant {
        self.at
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Runs `fut` until it finishes or the deadline passes.
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout_at(self.at, fut)
            .await
            .map_err(|_| Elapsed)
    }
}
