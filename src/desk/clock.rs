//! The desk's clock: real time plus an offset the console can advance
//! (`:clock +90m`), so timers can be tried without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

/// A cheap-to-clone clock shared by the desk and the scheduler.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    fixed_ms: Arc<AtomicI64>,
    #[cfg(test)]
    tick_ms: Arc<AtomicI64>,
}

/// Marks "not fixed" in `fixed_ms`.
const NOT_FIXED: i64 = i64::MIN;

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            fixed_ms: Arc::new(AtomicI64::new(NOT_FIXED)),
            #[cfg(test)]
            tick_ms: Arc::default(),
        }
    }

    /// A clock stopped at `at` that moves only when advanced (tests).
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self {
            offset_ms: Arc::new(AtomicI64::new(0)),
            fixed_ms: Arc::new(AtomicI64::new(at.timestamp_millis())),
            #[cfg(test)]
            tick_ms: Arc::default(),
        }
    }

    /// A fixed clock that moves `step` forward every time it is read, so a
    /// test can tell one reading from two (tests).
    #[cfg(test)]
    pub(crate) fn ticking(at: DateTime<Utc>, step: TimeDelta) -> Self {
        let clock = Self::fixed(at);
        clock.tick_ms.store(step.num_milliseconds(), Ordering::SeqCst);
        clock
    }

    pub fn now(&self) -> DateTime<Utc> {
        #[cfg(test)]
        self.offset_ms
            .fetch_add(self.tick_ms.load(Ordering::SeqCst), Ordering::SeqCst);
        let fixed = self.fixed_ms.load(Ordering::SeqCst);
        let base = if fixed == NOT_FIXED {
            Utc::now()
        } else {
            DateTime::from_timestamp_millis(fixed).unwrap_or_default()
        };
        base + TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: TimeDelta) {
        self.offset_ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_moves_only_when_advanced() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = Clock::fixed(start);
        assert_eq!(c.now(), start);
        c.clone().advance(TimeDelta::minutes(90));
        assert_eq!(c.now(), start + TimeDelta::minutes(90));
    }

    #[test]
    fn the_system_clock_follows_real_time_plus_the_offset() {
        let c = Clock::system();
        c.advance(TimeDelta::hours(2));
        let diff = c.now() - Utc::now();
        assert!(diff > TimeDelta::minutes(119) && diff <= TimeDelta::hours(2), "{diff}");
    }
}
