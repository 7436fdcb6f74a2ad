//! Time, injectable. Everything time-dependent asks a [`Clock`] rather than the system, so
//! tests can run a billing year in a second with [`ManualClock`].

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The clock every component holds.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock, truncated to microseconds (what both databases store).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        now.duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::days(365));
        assert_eq!(clock.now() - start, Duration::days(365));
    }
}

/// The test clock (`MSINGI_TEST_CLOCK=true`, never in production): a base clock moved
/// forward by an offset that `advanceClock` changes. The offset lives in the database
/// (`test_clock`), so every process on it (API nodes, `msingi worker`s) lives at the same
/// time: each reads it at start and again every [`TestClock::REFRESH`].
#[derive(Debug)]
pub struct TestClock {
    base: SharedClock,
    offset_micros: std::sync::atomic::AtomicI64,
}

impl TestClock {
    /// How often a process re-reads the shared offset.
    pub const REFRESH: std::time::Duration = std::time::Duration::from_millis(200);

    /// `base` with no offset yet.
    pub fn new(base: SharedClock) -> Self {
        Self {
            base,
            offset_micros: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Sets the offset (as read from, or just written to, the database).
    pub fn set_offset(&self, offset: Duration) {
        self.offset_micros.store(
            offset.num_microseconds().unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The offset now applied.
    pub fn offset(&self) -> Duration {
        Duration::microseconds(self.offset_micros.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.base.now() + self.offset()
    }
}
