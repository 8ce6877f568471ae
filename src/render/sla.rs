//! Sentences about SLA clocks: the warning and breach notices, the answers to
//! `!ack`, and its refusals.
//!
//! Shared helpers (and the [`SlaView`](super::SlaView) that `!show` and the
//! card read) come from the parent module.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Policy;
use crate::domain::incident::Incident;
use crate::domain::sla::{format_duration, ClockKind, Remaining, Threshold};
use crate::domain::RoleKey;

use super::{clock_name, neutralize, time, truncate};

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
    let due = n.due.map(|at| format!(", due {}", time(at))).unwrap_or_default();
    let standing = match n.remaining {
        Remaining::Left(left) => format!("{} left{due}", format_duration(left)),
        Remaining::Breached { by } if by < TimeDelta::seconds(1) => due.trim_start_matches(", ").to_owned(),
        Remaining::Breached { by } => format!("breached by {}{due}", format_duration(by)),
    };
    match n.threshold {
        Threshold::Breach => format!(
            "🚨 SLA breached: {} ({}) missed its {} {} target ({standing}); escalated to {}. Handled by {handler}: {title}{}",
            inc.id,
            inc.priority,
            format_duration(n.target),
            clock_name(n.kind),
            policy.role_name(escalated_to),
            late_note(n.late_by),
        ),
        Threshold::Warning(_) => format!(
            "⚠️ SLA warning: {} ({}) has used {}% of its {} {} target ({standing}). Handled by {handler}: {title}{}",
            inc.id,
            inc.priority,
            n.threshold.percent(),
            format_duration(n.target),
            clock_name(n.kind),
            late_note(n.late_by),
        ),
    }
}

pub fn acknowledged_reply(inc: &Incident, elapsed: TimeDelta, target: TimeDelta) -> String {
    if elapsed >= target {
        format!(
            "{} acknowledged after {}: the {} response target was missed by {}.",
            inc.id,
            format_duration(elapsed),
            format_duration(target),
            format_duration(elapsed - target)
        )
    } else {
        format!(
            "{} acknowledged after {}, within the {} response target.",
            inc.id,
            format_duration(elapsed),
            format_duration(target)
        )
    }
}

pub fn acknowledged_notice(inc: &Incident, by: &str, elapsed: TimeDelta, target: TimeDelta) -> String {
    format!(
        "{} acknowledged {} after {} (response target {}).",
        neutralize(by),
        inc.id,
        format_duration(elapsed),
        format_duration(target)
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
