//! Sentences about SLA clocks: the warning and breach notices, the answers to
//! `!ack`, and its refusals.
//!
//! Shared helpers (the [`SlaView`](super::SlaView) that `!show` and the
//! card read, and the wording of SLA time: [`sla_span`](super::sla_span),
//! [`sla_target`](super::sla_target), [`due_time`](super::due_time)) come
//! from the parent module.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Policy;
use crate::domain::incident::Incident;
use crate::domain::sla::{format_duration, ClockKind, Remaining, Threshold, TimeBasis};
use crate::domain::RoleKey;

use super::{clock_name, due_time, neutralize, sla_span, sla_target, standing, time, truncate};

fn late_note(late_by: Option<TimeDelta>) -> String {
    match late_by {
        Some(late) => format!(
            " (late: this fell due {} ago, while the desk was not running)",
            format_duration(late)
        ),
        None => String::new(),
    }
}

/// One threshold of one clock, as a notice reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaNotice {
    pub kind: ClockKind,
    pub threshold: Threshold,
    pub target: TimeDelta,
    /// Whether the target counts calendar or business time.
    pub basis: TimeBasis,
    /// Where the clock stands as the notice goes out.
    pub remaining: Remaining,
    /// When the target is (or was) reached, if known.
    pub due: Option<DateTime<Utc>>,
    /// Set when the notice is late (it fell due while the desk was not running).
    pub late_by: Option<TimeDelta>,
}

/// An SLA warning or breach, as the routed roles (and the assignee) read it;
/// `escalated_to` names the role a breach goes to.
pub fn sla_notice(policy: &Policy, inc: &Incident, n: &SlaNotice, escalated_to: &RoleKey) -> String {
    let title = neutralize(&truncate(&inc.title, 200));
    let handler = policy.role_name(&inc.handler_role);
    let standing = match (n.remaining, n.due) {
        (Remaining::Breached { by }, Some(at)) if by < TimeDelta::seconds(1) => format!("due {}", due_time(at)),
        (Remaining::Breached { by }, None) if by < TimeDelta::seconds(1) => "due now".to_owned(),
        (remaining, due) => standing(remaining, due, n.basis),
    };
    match n.threshold {
        Threshold::Breach => format!(
            "🚨 SLA breached: {} ({}) missed its {} {} target ({standing}); escalated to {}. Handled by {handler}: {title}{}",
            inc.id,
            inc.priority,
            sla_target(n.target, n.basis),
            clock_name(n.kind),
            policy.role_name(escalated_to),
            late_note(n.late_by),
        ),
        Threshold::Warning(_) => format!(
            "⚠️ SLA warning: {} ({}) has used {}% of its {} {} target ({standing}). Handled by {handler}: {title}{}",
            inc.id,
            inc.priority,
            n.threshold.percent(),
            sla_target(n.target, n.basis),
            clock_name(n.kind),
            late_note(n.late_by),
        ),
    }
}

pub fn acknowledged_reply(inc: &Incident, elapsed: TimeDelta, target: TimeDelta, basis: TimeBasis) -> String {
    if elapsed >= target {
        format!(
            "{} acknowledged after {}: the {} response target was missed by {}.",
            inc.id,
            sla_span(elapsed, basis),
            sla_target(target, basis),
            sla_span(elapsed - target, basis)
        )
    } else {
        format!(
            "{} acknowledged after {}, within the {} response target.",
            inc.id,
            sla_span(elapsed, basis),
            sla_target(target, basis)
        )
    }
}

pub fn acknowledged_notice(
    inc: &Incident,
    by: &str,
    elapsed: TimeDelta,
    target: TimeDelta,
    basis: TimeBasis,
) -> String {
    format!(
        "{} acknowledged {} after {} (response target {}).",
        neutralize(by),
        inc.id,
        sla_span(elapsed, basis),
        sla_target(target, basis)
    )
}

pub fn already_acknowledged(id: crate::domain::incident::IncidentId, at: DateTime<Utc>, by: Option<&str>) -> String {
    match by {
        Some(by) => format!(
            "{id} was already acknowledged at {} by {}: its response clock is stopped.",
            time(at),
            neutralize(by)
        ),
        None => format!(
            "{id} was already acknowledged at {}: its response clock is stopped.",
            time(at)
        ),
    }
}

pub fn no_clocks(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} has no SLA clocks (it was logged before SLA tracking began).")
}
