//! Stored timers falling due: each fires once, in due order, in the same kind
//! of single transaction as any action (mark fired + records + audit + outbox).
//! After downtime the scheduler catches up, and notices say they are late.

use chrono::TimeDelta;

use super::act::{Act, Body, Claim};
use super::{Desk, DeskError, DeskResult, Outcome};
use crate::domain::timer::TimerKind;
use crate::store::{self, timers::Timer};

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
                match fire(self, firing).await {
                    Ok(true) => fired += 1,
                    Ok(false) => {}
                    Err(DeskError::Store(e)) => return Err(e),
                    // The spine logs a refusing timer and marks it done.
                    Err(DeskError::Rejected(_) | DeskError::RejectedReaction(_)) => fired += 1,
                }
            }
        }
    }
}

/// Fires one timer through the action spine: its fired mark is its
/// identity, so a timer fires once even if two schedulers race.
pub(crate) async fn fire(desk: &Desk, firing: Firing) -> DeskResult<bool> {
    let claim = Claim::Timer {
        id: firing.timer.id,
        kind: firing.timer.kind.clone(),
        key: firing.timer.key.clone(),
    };
    let owned = desk.clone();
    let body: Body = Box::new(move |act| {
        let (desk, firing) = (owned.clone(), firing.clone());
        Box::pin(async move {
            on_timer(&desk, act, &firing).await?;
            Ok(Outcome::Ignored)
        })
    });
    Ok(desk.transact(claim, body).await? != Outcome::Duplicate)
}

/// Dispatches a timer to the rule that owns its kind.
pub(crate) async fn on_timer(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    match TimerKind::parse(&firing.timer.kind) {
        Some(TimerKind::CabClose) => super::cab::vote_deadline(desk, tx, firing).await,
        Some(TimerKind::ChangeNotice) => super::changes::planned_outage_notice(desk, tx, firing).await,
        Some(TimerKind::ChangeWindowStart) => super::changes::window_started(desk, tx, firing).await,
        Some(TimerKind::ChangeWindowEnd) => super::changes::window_ended(desk, tx, firing).await,
        Some(TimerKind::CabRemind) => super::cab::vote_reminder(desk, tx, firing).await,
        Some(TimerKind::Sla) => super::sla::on_sla_timer(desk, tx, firing).await,
        Some(TimerKind::Survey) => super::survey::on_survey_timer(desk, tx, firing).await,
        Some(TimerKind::ReportDigest) => super::reports::digest_due(desk, tx, firing).await,
        Some(TimerKind::StormCard) => super::storm::on_storm_timer(desk, tx, firing).await,
        None => {
            tracing::warn!(kind = %firing.timer.kind, key = %firing.timer.key, "no rule owns this timer kind; dropped");
            Ok(())
        }
    }
}
