//! Sentences about escalation: functional (to the next support tier) and
//! hierarchical (up the ladder), a reporter's request for it, and declaring or
//! reverting a major incident.
//!
//! Shared helpers come from the parent module.

use crate::config::Policy;
use crate::domain::incident::Incident;
use crate::domain::sla::format_duration;
use crate::domain::RoleKey;

use super::{neutralize, reason_suffix, role_label, truncate};

pub fn last_tier(policy: &Policy, inc: &Incident, last: &RoleKey) -> String {
    let service = inc
        .service
        .as_deref()
        .and_then(|s| policy.service(s))
        .map(|s| format!(" for {}", s.name))
        .unwrap_or_default();
    format!(
        "{} is already with {}, the last support tier{service}. To escalate further, use `{}escalate {} up [reason]` (the incident manager, then the service owner).",
        inc.id,
        role_label(policy, last),
        policy.prefix,
        inc.id
    )
}

pub fn escalated_functional(
    policy: &Policy,
    inc: &Incident,
    by: &str,
    from: &RoleKey,
    tiers: usize,
    reason: Option<&str>,
) -> String {
    let reason = match reason {
        Some(_) => format!(".{}", reason_suffix(reason)),
        None => ".".to_owned(),
    };
    format!(
        "⬆️ {} escalated {} ({}) from {} to {} (tier {} of {}): {}{}",
        neutralize(by),
        inc.id,
        inc.priority,
        policy.role_name(from),
        policy.role_name(&inc.handler_role),
        inc.tier + 1,
        tiers,
        neutralize(&truncate(&inc.title, 200)),
        reason
    )
}

pub fn escalated_functional_reply(policy: &Policy, inc: &Incident, tiers: usize) -> String {
    format!(
        "{} escalated to {}, tier {} of {}.",
        inc.id,
        role_label(policy, &inc.handler_role),
        inc.tier + 1,
        tiers
    )
}

pub fn top_of_ladder(policy: &Policy, inc: &Incident, top: Option<&RoleKey>) -> String {
    match top {
        Some(role) => format!(
            "{} is already escalated to {}, the top of the escalation ladder.",
            inc.id,
            role_label(policy, role)
        ),
        None => format!("{} cannot be escalated further.", inc.id),
    }
}

pub fn escalated_up(policy: &Policy, inc: &Incident, by: &str, to: &RoleKey, reason: Option<&str>) -> String {
    format!(
        "⏫ {} escalated {} ({}) to {}: {} (handled by {}).{}",
        neutralize(by),
        inc.id,
        inc.priority,
        policy.role_name(to),
        neutralize(&truncate(&inc.title, 200)),
        policy.role_name(&inc.handler_role),
        reason_suffix(reason)
    )
}

pub fn escalated_up_reply(policy: &Policy, inc: &Incident, to: &RoleKey) -> String {
    format!(
        "{} escalated to {}; it stays with {}.",
        inc.id,
        role_label(policy, to),
        policy.role_name(&inc.handler_role)
    )
}

pub fn escalation_requested(policy: &Policy, inc: &Incident, by: &str, reason: Option<&str>) -> String {
    format!(
        "{}, who reported {} ({}), asks for it to be escalated: {}.{} Escalate with `{}escalate {}` or ⬆️ on the card if it needs it.",
        neutralize(by),
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200)),
        reason_suffix(reason),
        policy.prefix,
        inc.id
    )
}

pub fn escalation_requested_reply(policy: &Policy, inc: &Incident) -> String {
    format!(
        "I've asked {} to consider escalating {}; they decide whether it goes further.",
        role_label(policy, &inc.handler_role),
        inc.id
    )
}

pub fn major_declared(policy: &Policy, inc: &Incident, by: &str, reason: Option<&str>) -> String {
    let sla = &policy.sla.major;
    format!(
        "🚨 MAJOR INCIDENT: {} declared {} ({}) a major incident: {} (handled by {}).{} SLA targets are now respond {} / resolve {}.",
        neutralize(by),
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200)),
        policy.role_name(&inc.handler_role),
        reason_suffix(reason),
        format_duration(sla.respond),
        format_duration(sla.resolve)
    )
}

pub fn major_reply(inc: &Incident) -> String {
    format!("{} is now a major incident.", inc.id)
}

pub fn major_reverted(policy: &Policy, inc: &Incident, by: &str, reason: &str) -> String {
    let sla = policy.sla.policy(inc.priority, false);
    format!(
        "{} reverted {} to an ordinary {} incident: {}.{} SLA targets are back to respond {} / resolve {}.",
        neutralize(by),
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200)),
        reason_suffix(Some(reason)),
        format_duration(sla.respond),
        format_duration(sla.resolve)
    )
}

pub fn major_reverted_reply(inc: &Incident) -> String {
    format!("{} is no longer a major incident.", inc.id)
}

pub fn already_major(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} is already a major incident.")
}

pub fn not_major(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} is not a major incident.")
}

pub fn major_off_needs_reason(prefix: &str, id: crate::domain::incident::IncidentId) -> String {
    format!("Say why {id} is no longer major: `{prefix}major {id} off <reason>`.")
}

/// What the post an escalated incident's card left behind says once the
/// card is re-posted in the new tier's channel.
pub fn card_escalated_away(policy: &Policy, inc: &Incident) -> String {
    let channel = policy
        .role(&inc.handler_role)
        .map(|r| format!(" — see #{}", r.channel))
        .unwrap_or_default();
    format!(
        "⬆️ Escalated to {}{channel}. {} ({}): {}",
        policy.role_name(&inc.handler_role),
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200))
    )
}

/// The line a card re-posted in another channel carries: its record's thread
/// stays where it was started (`thread` as the platform mentions it).
pub fn card_thread_elsewhere(thread: &str) -> String {
    format!("Updates and replies stay in the incident's thread: {thread}")
}
