//! SLA clocks of incidents: started when an incident is logged, moved by the
//! lifecycle, `!ack` and major declarations, stored as columns, with one stored
//! timer per threshold (kind [`TimerKind::Sla`]). Firing a threshold sends its notice
//! once, through the `sla_warning` or `sla_breach` RACI row.
//!
//! Every change here happens inside the caller's transaction, so a clock, its
//! timers, the audit row and the notices commit together.

use super::act::Act;
use crate::domain::audit::AuditAction;
use crate::domain::subject::Subject;
use crate::domain::timer::TimerKind;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{rejected, Actor, Desk, DeskError, DeskResult, Firing, Reply};
use crate::domain::escalation::{clock_moves, ClockMove, Escalation, Party};
use crate::domain::incident::{Incident, IncidentId, State};
use crate::domain::raci::Action;
use crate::domain::sla::{
    due_thresholds, threshold_instant, Calendar, ClockKind, ReopenPolicy, SlaError, SlaPolicy, StoredClock, Threshold,
};
use crate::domain::UserId;
use crate::message::{OutMessage, Outgoing};
use crate::render::{self, ClockView, SlaView};
use crate::store::{self, StoreError};

/// What an SLA timer row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SlaTimer {
    clock: ClockKind,
    run: i64,
    threshold: Threshold,
}

/// A clock the configuration should never let go wrong (a target under 1s).
fn clock_fault(e: SlaError) -> DeskError {
    DeskError::Store(StoreError::Corrupt {
        table: "incident_clocks",
        detail: e.to_string(),
    })
}

/// The key prefix of every timer of one clock: `INC-3:resolution:`.
fn timer_prefix(id: IncidentId, kind: ClockKind) -> String {
    format!("{id}:{}:", kind.key())
}

/// When a running clock reaches (or reached) its target, if that happens in its
/// current run; a target used up in an earlier run has no exact instant to show.
fn breach_instant(stored: &StoredClock, calendar: &Calendar) -> Option<DateTime<Utc>> {
    if stored.clock.accumulated() >= stored.clock.target() {
        return None;
    }
    threshold_instant(&stored.clock, calendar, Threshold::Breach)
}

/// The SLA row of an incident: the major row, or its priority's.
pub(crate) fn sla_policy<'a>(desk: &'a Desk, inc: &Incident, major: bool) -> &'a SlaPolicy {
    desk.policy().sla.policy(inc.priority, major)
}

/// Starts both clocks of a newly logged incident and schedules their
/// thresholds; returns the clocks (for the incident's first card).
pub(crate) async fn start_clocks(desk: &Desk, tx: &mut Act<'_>, inc: &Incident) -> DeskResult<Vec<StoredClock>> {
    let sla = sla_policy(desk, inc, false);
    let mut clocks = Vec::with_capacity(2);
    let mut timers = Vec::new();
    // Stored in the order `clocks::for_incident` reads them back.
    for kind in [ClockKind::Response, ClockKind::Resolution] {
        let clock = sla.start_clock(kind, inc.created_at).map_err(clock_fault)?;
        let stored = StoredClock {
            incident: inc.id,
            kind,
            run: 0,
            clock,
            stopped_by: None,
            fired: Default::default(),
        };
        // A new incident has no timers yet: nothing to cancel first.
        timers.extend(clock_timers(desk, &stored, &sla.calendar, inc.created_at)?);
        clocks.push(stored);
    }
    store::clocks::insert(tx, &clocks).await?;
    store::timers::schedule_many(tx, TimerKind::Sla.as_str(), &timers).await?;
    Ok(clocks)
}

/// Replaces the stored timers of one clock: one per threshold not yet announced,
/// at the instant the clock reaches it.
pub(crate) async fn schedule_clock(
    desk: &Desk,
    tx: &mut Act<'_>,
    stored: &StoredClock,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> DeskResult<()> {
    store::timers::cancel(tx, TimerKind::Sla.as_str(), &timer_prefix(stored.incident, stored.kind)).await?;
    let timers = clock_timers(desk, stored, calendar, now)?;
    store::timers::schedule_many(tx, TimerKind::Sla.as_str(), &timers).await?;
    Ok(())
}

/// The timers a clock needs: one per threshold not yet announced. A paused
/// clock keeps only thresholds it already reached (they fire at once); a
/// stopped clock keeps none.
pub(crate) fn clock_timers(
    desk: &Desk,
    stored: &StoredClock,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> DeskResult<Vec<store::timers::NewTimer>> {
    let mut timers = Vec::new();
    if stored.clock.is_stopped() {
        return Ok(timers);
    }
    let prefix = timer_prefix(stored.incident, stored.kind);
    let elapsed = stored.clock.elapsed(now, calendar);
    for &threshold in desk.policy().sla.schedule.thresholds() {
        if stored.fired.contains(&threshold) {
            continue;
        }
        let at = if stored.clock.is_running() {
            threshold_instant(&stored.clock, calendar, threshold)
        } else if threshold.is_due(elapsed, stored.clock.target()) {
            Some(now)
        } else {
            None
        };
        let Some(at) = at else { continue };
        let payload = serde_json::to_string(&SlaTimer {
            clock: stored.kind,
            run: stored.run,
            threshold,
        })
        .map_err(|e| {
            DeskError::Store(StoreError::Corrupt {
                table: "timers",
                detail: e.to_string(),
            })
        })?;
        timers.push(store::timers::NewTimer {
            // The due time is part of the key: a moved threshold is a new row, so a
            // timer that already fired can never swallow its replacement.
            key: format!("{prefix}{}:{}@{}", stored.run, threshold.key(), at.timestamp()),
            subject: stored.incident.to_string(),
            due_at: at,
            payload,
        });
    }
    Ok(timers)
}

/// Moves the clocks as a lifecycle move says (acknowledge, pause, resume,
/// stop, reopen) and reschedules their timers. `actor` is who stopped a clock.
pub(crate) async fn clocks_follow(
    desk: &Desk,
    tx: &mut Act<'_>,
    inc: &Incident,
    from: State,
    to: State,
    actor: UserId,
) -> DeskResult<()> {
    move_clocks(desk, tx, inc, &clock_moves(from, to), actor).await
}

pub(crate) async fn move_clocks(
    desk: &Desk,
    tx: &mut Act<'_>,
    inc: &Incident,
    moves: &[(ClockKind, ClockMove)],
    actor: UserId,
) -> DeskResult<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let now = tx.now;
    let major = store::escalations::get(tx, inc.id).await?.major;
    let calendar = &sla_policy(desk, inc, major).calendar;
    for mut stored in store::clocks::for_incident(tx, inc.id).await? {
        let mut changed = false;
        for (_, change) in moves.iter().filter(|(kind, _)| *kind == stored.kind) {
            // A move the clock is already past (stopping a stopped clock,
            // pausing a paused one) changes nothing and is not an error.
            let done = match change {
                ClockMove::Stop => stored
                    .clock
                    .stop(now, calendar)
                    .map(|()| stored.stopped_by = Some(actor)),
                ClockMove::Pause => stored.clock.pause(now, calendar),
                ClockMove::Resume => stored.clock.resume(now),
                ClockMove::Reopen => match desk.policy().sla.reopen {
                    ReopenPolicy::Restart if stored.clock.is_stopped() => {
                        stored.clock.restart(now);
                        stored.run += 1;
                        stored.fired.clear();
                        stored.stopped_by = None;
                        Ok(())
                    }
                    ReopenPolicy::Restart => Err(SlaError::NotStopped),
                    ReopenPolicy::Continue => stored
                        .clock
                        .continue_after_reopen(now)
                        .map(|()| stored.stopped_by = None),
                },
            };
            changed |= done.is_ok();
        }
        if changed {
            store::clocks::save(tx, &stored).await?;
            schedule_clock(desk, tx, &stored, calendar, now).await?;
        }
    }
    Ok(())
}

/// Moves an incident's running and paused clocks from one SLA row to another
/// (major on or off, a priority change), keeping the time already counted, and
/// reschedules them. Stopped clocks keep the target they were measured against.
pub(crate) async fn retarget_clocks(
    desk: &Desk,
    tx: &mut Act<'_>,
    id: IncidentId,
    from: &SlaPolicy,
    to: &SlaPolicy,
) -> DeskResult<()> {
    let now = tx.now;
    for mut stored in store::clocks::for_incident(tx, id).await? {
        // A stopped clock is measured against the target it ran under.
        if stored.clock.is_stopped() {
            continue;
        }
        if stored.clock.is_running() {
            // Bank the time counted on the old calendar before the new one applies.
            stored.clock.pause(now, &from.calendar).map_err(clock_fault)?;
            stored.clock.resume(now).map_err(clock_fault)?;
        }
        stored.clock.set_target(to.target(stored.kind)).map_err(clock_fault)?;
        store::clocks::save(tx, &stored).await?;
        schedule_clock(desk, tx, &stored, &to.calendar, now).await?;
    }
    Ok(())
}

/// `!ack INC-n`: an agent acknowledges, which stops the response clock.
pub(crate) async fn acknowledge(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, id: IncidentId) -> DeskResult<Reply> {
    let now = tx.now;
    let inc = super::incidents::incident(tx, id).await?;
    if !inc.state.is_open() {
        return rejected(render::not_open(&inc, "acknowledged"));
    }
    let Some(mut stored) = store::clocks::get(tx, id, ClockKind::Response).await? else {
        return rejected(render::no_clocks(id));
    };
    if let Some(at) = stored.clock.stopped_at() {
        let by = match stored.stopped_by {
            Some(u) => Some(super::incidents::name_of(tx, u).await?),
            None => None,
        };
        return rejected(render::already_acknowledged(id, at, by.as_deref()));
    }
    let major = store::escalations::get(tx, id).await?.major;
    let calendar = &sla_policy(desk, &inc, major).calendar;
    stored.clock.stop(now, calendar).map_err(clock_fault)?;
    stored.stopped_by = Some(actor.user);
    store::clocks::save(tx, &stored).await?;
    schedule_clock(desk, tx, &stored, calendar, now).await?;

    let elapsed = stored.clock.elapsed(now, calendar);
    let target = stored.clock.target();
    let by = super::incidents::name_of(tx, actor.user).await?;
    let out = vec![
        super::incidents::card(desk, tx, &inc, false).await?,
        Outgoing::in_thread(
            id,
            OutMessage::text(render::acknowledged_notice(
                &inc,
                &by,
                elapsed,
                target,
                calendar.basis(),
            )),
        ),
    ];
    let details = render::history::acknowledged(elapsed, target);
    tx.record(
        Some(actor.user),
        AuditAction::Acknowledge,
        &id.to_string(),
        details,
        &out,
    );
    Ok(Reply::public(render::acknowledged_reply(
        &inc,
        elapsed,
        target,
        calendar.basis(),
    )))
}

/// Fires an SLA threshold timer: announces the threshold (and any earlier one of
/// the same clock that is due and not yet announced), each exactly once.
pub(crate) async fn on_sla_timer(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let timer = &firing.timer;
    let Ok(t) = serde_json::from_str::<SlaTimer>(&timer.payload) else {
        tracing::warn!(key = %timer.key, "unreadable SLA timer; dropped");
        return Ok(());
    };
    let Some(id) = Subject::parse(&timer.subject).and_then(|s| s.incident()) else {
        tracing::warn!(key = %timer.key, "SLA timer without an incident; dropped");
        return Ok(());
    };
    let Some(inc) = store::incidents::get(tx, id).await? else {
        return Ok(());
    };
    let Some(stored) = store::clocks::get(tx, id, t.clock).await? else {
        return Ok(());
    };
    if stored.run != t.run || stored.fired.contains(&t.threshold) || stored.clock.is_stopped() {
        return Ok(());
    }
    let now = tx.now;
    let mut esc = store::escalations::get(tx, id).await?;
    let calendar = sla_policy(desk, &inc, esc.major).calendar.clone();
    let schedule = desk.policy().sla.schedule.clone();
    let due = due_thresholds(&stored.clock, &calendar, &schedule, &stored.fired, now);
    if !due.contains(&t.threshold) {
        // Not reached after all (the clock changed without moving this timer):
        // put the timers back where the clock says.
        schedule_clock(desk, tx, &stored, &calendar, now).await?;
        return Ok(());
    }
    for threshold in due.into_iter().filter(|th| *th <= t.threshold) {
        let late_by = if threshold == t.threshold {
            firing.late_by
        } else {
            threshold_instant(&stored.clock, &calendar, threshold)
                .map(|at| now - at)
                .filter(|late| *late > super::LATE_AFTER)
        };
        announce(desk, tx, &inc, &mut esc, &stored, threshold, late_by, &calendar).await?;
    }
    Ok(())
}

/// Sends one threshold's notice through its RACI row, once.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn announce(
    desk: &Desk,
    tx: &mut Act<'_>,
    inc: &Incident,
    esc: &mut Escalation,
    stored: &StoredClock,
    threshold: Threshold,
    late_by: Option<TimeDelta>,
    calendar: &Calendar,
) -> DeskResult<()> {
    let now = tx.now;
    if !store::clocks::mark_fired(tx, stored, threshold, now, late_by).await? {
        return Ok(());
    }
    let elapsed = stored.clock.elapsed(now, calendar);
    let target = stored.clock.target();
    let (action, ping) = match threshold {
        Threshold::Breach => (Action::SlaBreach, vec![Party::Responsible]),
        Threshold::Warning(_) => (Action::SlaWarning, desk.policy().sla.warning_ping(threshold)),
    };
    let route = super::incidents::route_for(desk, action, inc);
    let notice = render::SlaNotice {
        kind: stored.kind,
        threshold,
        target,
        basis: calendar.basis(),
        remaining: stored.clock.remaining(now, calendar),
        due: breach_instant(stored, calendar),
        late_by,
    };
    let text = render::sla_notice(desk.policy(), inc, &notice, &route.responsible);
    let mut out = super::escalation::notify(desk, action, inc, &route, &ping, &text);
    if threshold == Threshold::Breach {
        // A breach is a hierarchical escalation: the incident is up with the
        // first rung (the incident manager) from now on.
        esc.level = esc.level.max(1);
        store::escalations::set(tx, inc.id, esc, now).await?;
        out.push(super::incidents::card(desk, tx, inc, false).await?);
    }
    let details = render::history::sla_threshold(stored.kind, threshold, elapsed, target, late_by);
    tracing::info!(incident = %inc.id, clock = stored.kind.key(), %threshold, late = late_by.is_some(), "SLA threshold");
    tx.record(None, action, &inc.id.to_string(), details, &out);
    Ok(())
}

/// The SLA and escalation state of an incident, for `!show` and its card.
pub(crate) async fn sla_view(desk: &Desk, tx: &mut Act<'_>, inc: &Incident) -> DeskResult<Option<SlaView>> {
    let clocks = store::clocks::for_incident(tx, inc.id).await?;
    let esc = store::escalations::get(tx, inc.id).await?;
    Ok(sla_view_of(desk, inc, &clocks, &esc, tx.now))
}

/// [`sla_view`] from clocks and an escalation state already at hand.
pub(crate) fn sla_view_of(
    desk: &Desk,
    inc: &Incident,
    clocks: &[StoredClock],
    esc: &Escalation,
    now: DateTime<Utc>,
) -> Option<SlaView> {
    let tiers = desk.policy().tiers_for(inc.service.as_deref()).len();
    if clocks.is_empty() && *esc == Escalation::default() && inc.tier == 0 {
        return None;
    }
    let sla = sla_policy(desk, inc, esc.major);
    let views = clocks
        .iter()
        .map(|s| ClockView {
            kind: s.kind,
            state: s.clock.state(),
            target: s.clock.target(),
            elapsed: s.clock.elapsed(now, &sla.calendar),
            remaining: s.clock.remaining(now, &sla.calendar),
            due: breach_instant(s, &sla.calendar),
            stopped_at: s.clock.stopped_at(),
        })
        .collect();
    let escalated_to = if esc.level > 0 {
        let route = super::incidents::route_for(desk, Action::EscalateHierarchical, inc);
        let ladder = crate::domain::escalation::ladder(&route);
        let index = usize::try_from(esc.level - 1)
            .unwrap_or(0)
            .min(ladder.len().saturating_sub(1));
        ladder.get(index).map(|r| desk.policy().role_name(r))
    } else {
        None
    };
    Some(SlaView {
        row: if esc.major {
            "major incident".to_owned()
        } else {
            inc.priority.to_string()
        },
        calendar: sla.calendar.to_string(),
        basis: sla.calendar.basis(),
        clocks: views,
        tier: inc.tier,
        tiers,
        escalated_to,
        major_since: if esc.major {
            esc.major_since.or(Some(inc.updated_at))
        } else {
            None
        },
    })
}
