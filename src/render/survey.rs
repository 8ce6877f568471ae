//! Sentences of the satisfaction survey: the question asked of the reporter
//! when an incident is resolved, the answers to 👍 / 👎, and the time-out.
//!
//! Shared helpers come from the parent module.

use crate::config::Policy;
use crate::domain::incident::{Incident, IncidentId, State};

use super::neutralize;

/// The satisfaction question: asked of the reporter in the thread on resolve.
pub fn resolved_notice(inc: &Incident, by: &str, reporter: &str, timeout: chrono::TimeDelta) -> String {
    format!(
        "{}: {} was resolved by {}: {}\nIs it fixed? React 👍 if it is (it closes) or 👎 if not (it reopens); \
         with no answer it closes in {}.",
        neutralize(reporter),
        inc.id,
        neutralize(by),
        neutralize(inc.resolution.as_deref().unwrap_or("")),
        crate::domain::sla::format_duration(timeout)
    )
}

pub fn survey_answered(policy: &Policy, inc: &Incident) -> String {
    match inc.state {
        State::Closed => format!("Thanks! {} is closed.", inc.id),
        _ => format!(
            "Sorry it is not fixed: {} is reopened and back with {}.",
            inc.id,
            policy.role_name(&inc.handler_role)
        ),
    }
}

pub fn survey_not_yours(id: IncidentId) -> String {
    format!("Only the reporter of {id} answers whether it is fixed; your reaction was removed.")
}

pub fn survey_moot(inc: &Incident) -> String {
    format!("{} is {} now; there is nothing to answer.", inc.id, inc.state)
}

pub fn survey_timed_out(timeout: chrono::TimeDelta) -> String {
    format!(
        "no answer to the satisfaction question within {}",
        crate::domain::sla::format_duration(timeout)
    )
}
