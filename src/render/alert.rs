//! What monitoring alerts say: the lines an alert adds to its incident's
//! card, the notes a recovery or a re-fire leaves in the thread, the hook's
//! answer to its sender and `!alerts`.

use std::collections::BTreeMap;

use crate::domain::alert::{AlertKey, Hook};
use crate::domain::incident::IncidentId;
use crate::message::OutMessage;

use super::{neutralize, truncate};

/// The labels as `name=value`, sorted, cut to fit a card field.
pub fn alert_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "(none)".to_owned();
    }
    let text = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    truncate(&neutralize(&text), 1000)
}

fn hook_name(hook: &str) -> &'static str {
    Hook::parse(hook).map_or("a monitoring hook", Hook::reporter_name)
}

/// Adds what raised the incident to its card: source and key, how often and
/// when it was last seen, its labels, the alerts of a group and its links.
pub fn card_fields(msg: &mut OutMessage, alert: &AlertKey) {
    let Some(card) = msg.card.as_mut() else {
        return;
    };
    let state = if alert.firing { "firing" } else { "resolved" };
    card.fields.push((
        "Alert".to_owned(),
        format!(
            "{} `{}`: {state}, seen {} time{}",
            hook_name(&alert.hook),
            truncate(&neutralize(&alert.key), 120),
            alert.count,
            if alert.count == 1 { "" } else { "s" }
        ),
    ));
    card.fields.push(("Labels".to_owned(), alert_labels(&alert.labels)));
    if alert.alerts.len() > 1 {
        let list = alert
            .alerts
            .iter()
            .take(10)
            .map(|a| format!("• {}", truncate(&neutralize(a), 100)))
            .collect::<Vec<_>>()
            .join("\n");
        let more = alert.alerts.len().saturating_sub(10);
        let list = if more > 0 {
            format!("{list}\n… and {more} more")
        } else {
            list
        };
        card.fields.push((format!("Alerts ({})", alert.alerts.len()), list));
    }
    if let Some(url) = &alert.generator_url {
        card.fields
            .push(("Generator".to_owned(), truncate(&neutralize(url), 500)));
    }
    if let Some(url) = &alert.link {
        card.fields
            .push(("Source link".to_owned(), truncate(&neutralize(url), 500)));
    }
    card.times
        .push(("Alert last seen".to_owned(), alert.last_seen.timestamp()));
}

/// The note a recovered alert leaves in its incident.
pub fn alert_recovered(alert: &AlertKey) -> String {
    format!(
        "{} reports the alert `{}` recovered.",
        hook_name(&alert.hook),
        truncate(&neutralize(&alert.key), 120)
    )
}

/// The note when a recovered alert is left to those working the incident.
pub fn alert_recovered_left_to_assignee(alert: &AlertKey) -> String {
    format!(
        "{} It was taken, so it stays open: resolve it when you have checked.",
        alert_recovered(alert)
    )
}

/// The resolution of an incident its alert resolved.
pub fn alert_auto_resolved(alert: &AlertKey) -> String {
    format!(
        "resolved on recovery: {} reports the alert cleared",
        hook_name(&alert.hook)
    )
}

/// Why an incident reopens when its alert fires again.
pub fn alert_refired(alert: &AlertKey) -> String {
    format!("{} reports the alert firing again", hook_name(&alert.hook))
}

/// What became of one problem of a delivery, for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEffect {
    Logged,
    Updated,
    Reopened,
    Resolved,
    Noted,
    /// A recovery for a problem never seen firing.
    Unknown,
}

/// The hook's 2xx body: one line per problem.
pub fn hook_answer(effects: &[(String, Option<IncidentId>, HookEffect)]) -> String {
    if effects.is_empty() {
        return "stored: the notification held no alerts\n".to_owned();
    }
    let mut s = String::new();
    for (key, inc, effect) in effects {
        let what = match effect {
            HookEffect::Logged => "logged",
            HookEffect::Updated => "updated",
            HookEffect::Reopened => "reopened",
            HookEffect::Resolved => "resolved",
            HookEffect::Noted => "told of the recovery",
            HookEffect::Unknown => "not open: nothing to resolve",
        };
        match inc {
            Some(id) => s.push_str(&format!("{key}: {id} {what}\n")),
            None => s.push_str(&format!("{key}: {what}\n")),
        }
    }
    s
}

/// `!alerts`: open incidents raised by alerts, with their keys and counts.
pub fn alerts_list(rows: &[(AlertKey, String)]) -> String {
    if rows.is_empty() {
        return "No open incidents raised by alerts.".to_owned();
    }
    let mut s = format!("Open alert incidents ({}):", rows.len());
    for (a, title) in rows {
        s.push_str(&format!(
            "\n{} {} — {} `{}`, {}, seen {}×, last {}",
            a.incident,
            truncate(&neutralize(title), 80),
            hook_name(&a.hook),
            truncate(&neutralize(&a.key), 60),
            if a.firing { "firing" } else { "resolved" },
            a.count,
            a.last_seen.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    s
}
