//! Stored timers falling due: each fires once, in due order, in the same kind
//! of single transaction as any action (mark fired + records + audit + outbox).
//! After downtime the scheduler catches up, and notices say they are late.

use chrono::TimeDelta;

use super::{Desk, DeskError, DeskResult};
use crate::store::{self, timers::Timer, Conn};

/// A timer that fires this long after its due time is reported as late.
pub const LATE_AFTER: TimeDelta = TimeDelta::minutes(1);

/// A timer being fired, with how late it is.
#[derive(Debug, Clone)]
pub struct Firing {
    pub timer: Timer,
    /// Set when the timer fell due while the desk was not running (or busy).
    pub late_by: Option<TimeDelta>,
}

impl Desk {
    /// Fires every timer due now, oldest first; returns how many fired.
    pub async fn fire_due_timers(&self) -> Result<usize, store::StoreError> {
        let mut fired = 0;
        loop {
            let now = self.clock().now();
            let batch = {
                let mut conn = self.store().write().await?;
                store::timers::due(&mut conn, now, 32).await?
            };
            if batch.is_empty() {
                return Ok(fired);
            }
            for timer in batch {
                let late = now - timer.due_at;
                let firing = Firing {
                    late_by: (late > LATE_AFTER).then_some(late),
                    timer,
                };
                match self.fire(firing).await {
                    Ok(true) => fired += 1,
                    Ok(false) => {}
                    Err(DeskError::Store(e)) => return Err(e),
                    Err(e) => tracing::warn!(error = %e, "timer refused"),
                }
            }
        }
    }

    async fn fire(&self, firing: Firing) -> DeskResult<bool> {
        let now = self.clock().now();
        let mut tx = self.store().begin().await?;
        if !store::timers::mark_fired(&mut tx, firing.timer.id, now).await? {
            store::rollback(tx).await?;
            return Ok(false);
        }
        self.on_timer(&mut tx, &firing).await?;
        store::commit(tx).await?;
        self.store().note_written();
        self.outbox_ready().notify_one();
        Ok(true)
    }

    /// Dispatches a timer to the rule that owns its kind.
    async fn on_timer(&self, tx: &mut Conn, firing: &Firing) -> DeskResult<()> {
        match firing.timer.kind.as_str() {
            super::cab::CLOSE_TIMER => self.vote_deadline(tx, firing).await,
            super::changes::NOTICE_TIMER => self.planned_outage_notice(tx, firing).await,
            super::SLA_TIMER => self.on_sla_timer(tx, firing).await,
            super::SURVEY_TIMER => self.on_survey_timer(tx, firing).await,
            other => {
                tracing::warn!(kind = other, key = %firing.timer.key, "no rule owns this timer kind; dropped");
                Ok(())
            }
        }
    }
}
