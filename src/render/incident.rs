//! Sentences about incidents: logging one and its card and thread, taking,
//! assigning and moving it, notes, `!show`, re-prioritising, the
//! note on an incident logged during a known outage, and the refusals of
//! incident commands and of the 🎫 ✋ ⬆️ reactions.
//!
//! Shared helpers come from the parent module.

use chrono::{DateTime, Utc};

use crate::config::Policy;
use crate::domain::incident::{Incident, Note};
use crate::domain::outage::Outage;
use crate::domain::priority::Priority;
use crate::domain::raci::Action;
use crate::domain::sla::{ClockKind, ClockState, Remaining, TimeBasis};
use crate::message::{Card, Tone};

use super::{
    clock_name, due_time, neutralize, push_history, reason_suffix, role_label, service_name, sla_span, sla_target,
    time, truncate, user_label, user_text, ClockView, SlaView, Trail,
};

/// The reporter's answer when an incident is logged: its priority, who
/// handles it and, from its response clock, when to expect a first response.
pub fn incident_logged(policy: &Policy, inc: &Incident, sla: Option<&SlaView>) -> String {
    let mut s = format!(
        "{} logged: {} (impact {} × urgency {}). Handled by {}.",
        inc.id,
        inc.priority,
        inc.impact,
        inc.urgency,
        role_label(policy, &inc.handler_role)
    );
    let response = sla.and_then(|v| {
        v.clocks
            .iter()
            .find(|c| c.kind == ClockKind::Response && c.state == ClockState::Running)
            .and_then(|c| c.due.map(|at| (at, c.target, v.basis)))
    });
    if let Some((at, target, basis)) = response {
        s.push_str(&format!(
            " Expect a first response within {}, by {}.",
            sla_target(target, basis),
            due_time(at)
        ));
    }
    s
}

pub fn card_text(policy: &Policy, inc: &Incident, new: bool) -> String {
    let verb = if new { "New incident" } else { "Incident" };
    format!(
        "{verb} {} ({}) for {}: {}",
        inc.id,
        inc.priority,
        policy.role_name(&inc.handler_role),
        neutralize(&truncate(&inc.title, 200))
    )
}

/// The incident card: an embed on Discord, a block on the console.
pub fn incident_card(policy: &Policy, inc: &Incident, reporter: &str, assignee: Option<&str>) -> Card {
    let tone = if inc.state.is_open() {
        match inc.priority.level() {
            1 => Tone::P1,
            2 => Tone::P2,
            3 => Tone::P3,
            4 => Tone::P4,
            _ => Tone::P5,
        }
    } else {
        Tone::Done
    };
    let mut fields = vec![
        ("Priority".to_owned(), inc.priority.to_string()),
        (
            "State".to_owned(),
            match inc.hold {
                Some(h) => format!("{} ({})", inc.state.words(), h.words()),
                None => inc.state.words().to_owned(),
            },
        ),
        ("Service".to_owned(), inc.service.clone().unwrap_or_else(|| "—".into())),
        ("Handled by".to_owned(), policy.role_name(&inc.handler_role)),
        ("Reporter".to_owned(), neutralize(reporter)),
        (
            "Assignee".to_owned(),
            assignee.map(neutralize).unwrap_or_else(|| "unassigned".into()),
        ),
    ];
    if let Some(c) = &inc.category {
        fields.push(("Category".to_owned(), neutralize(c)));
    }
    if let Some(r) = &inc.resolution {
        fields.push(("Resolution".to_owned(), neutralize(&truncate(r, 1000))));
    }
    Card {
        title: format!("{} · {}", inc.id, neutralize(&truncate(&inc.title, 200))),
        tone,
        fields,
        times: vec![
            ("Opened".to_owned(), inc.created_at.timestamp()),
            ("Updated".to_owned(), inc.updated_at.timestamp()),
        ],
        footer: inc.source_link.clone(),
    }
}

pub fn thread_welcome(inc: &Incident, reporter: &str) -> String {
    format!(
        "{}, thanks for reporting {}. Updates will be posted here; reply here to add details (or `!note {} <text>` anywhere).",
        neutralize(reporter),
        inc.id,
        inc.id
    )
}

pub fn informed(policy: &Policy, action: Action, inc: &Incident) -> String {
    format!(
        "FYI ({}): {} {} — {} (handled by {}).",
        action,
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200)),
        policy.role_name(&inc.handler_role)
    )
}

pub fn taken(inc: &Incident, by: &str, assignee: &str) -> String {
    if by == assignee {
        format!("{} took {}.", neutralize(by), inc.id)
    } else {
        format!("{} assigned {} to {}.", neutralize(by), inc.id, neutralize(assignee))
    }
}

pub fn assigned_reply(inc: &Incident, assignee: &str) -> String {
    format!("{} is assigned to {} ({}).", inc.id, neutralize(assignee), inc.state)
}

pub fn state_changed(inc: &Incident, by: &str, from: &str, reason: Option<&str>) -> String {
    let mut s = format!(
        "{} moved {} from {} to {}",
        neutralize(by),
        inc.id,
        from,
        inc.state.words()
    );
    if let Some(r) = reason {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

pub fn note_added(inc: &Incident, by: &str, body: &str) -> String {
    format!("Note on {} by {}: {}", inc.id, neutralize(by), neutralize(body))
}

pub fn note_reply(inc: &Incident) -> String {
    format!("Note added to {}.", inc.id)
}

pub fn done(inc: &Incident) -> String {
    format!("{} is now {}.", inc.id, inc.state.words())
}

pub fn show(
    policy: &Policy,
    inc: &Incident,
    names: &Names,
    sla: Option<&SlaView>,
    notes: Latest<'_, Note>,
    history: &Trail<'_>,
    links: &[(
        crate::domain::incident::IncidentId,
        crate::domain::incident::LinkKind,
        bool,
        crate::domain::incident::State,
    )],
) -> String {
    let mut s = format!(
        "**{}** · {} · {}\n{}\nImpact {} × urgency {} · service {} · handled by {}\nReporter {} · assignee {}\nOpened {} · updated {}",
        inc.id,
        inc.priority,
        inc.state,
        neutralize(&inc.title),
        inc.impact,
        inc.urgency,
        inc.service.as_deref().unwrap_or("—"),
        role_label(policy, &inc.handler_role),
        names.reporter,
        names.assignee.as_deref().unwrap_or("unassigned"),
        time(inc.created_at),
        time(inc.updated_at),
    );
    if let Some(c) = &inc.category {
        s.push_str(&format!("\nCategory {}", neutralize(c)));
    }
    if let Some(h) = inc.hold {
        s.push_str(&format!("\nOn hold, {}", h.words()));
    }
    if let Some(r) = &inc.resolution {
        s.push_str(&format!("\nResolution: {}", neutralize(r)));
    }
    if !links.is_empty() {
        s.push_str(&format!("\n{}", super::links_line(links)));
    }
    if let Some(sla) = sla {
        if inc.state == crate::domain::incident::State::Cancelled {
            s.push_str("\nSLA: not counted (cancelled).");
        } else {
            s.push_str(&sla_lines(sla));
        }
    }
    let Latest {
        items: notes,
        total: notes_total,
    } = notes;
    if !notes.is_empty() {
        if notes.len() < notes_total {
            s.push_str(&format!("\nNotes (the latest {} of {notes_total}):", notes.len()));
        } else {
            s.push_str("\nNotes:");
        }
        for n in notes {
            let who = user_label(n.author_name.as_deref(), n.author);
            s.push_str(&format!(
                "\n• {} {}: {}",
                time(n.at),
                who,
                neutralize(&truncate(&n.body, 300))
            ));
        }
    }
    push_history(&mut s, history);
    s
}

/// The latest of a record's entries shown, and how many there are in all.
pub struct Latest<'a, T> {
    pub items: &'a [T],
    pub total: usize,
}

/// Names shown on an incident.
pub struct Names {
    pub reporter: String,
    pub assignee: Option<String>,
}

pub fn unknown_incident(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} does not exist.")
}

pub fn not_agent(prefix: &str, command: &str) -> String {
    format!("Only agents (service desk, support groups, incident manager) may run `{prefix}{command}`.")
}

pub fn say_how_resolved(prefix: &str, id: crate::domain::incident::IncidentId) -> String {
    format!("Say how {id} was resolved: `{prefix}resolve {id} <resolution>`.")
}

pub fn ticket_on_bot_message(prefix: &str) -> String {
    format!("That message was written by a bot, so there is nobody to log it for: react 🎫 on the original message, or use `{prefix}incident`.")
}

pub fn already_ticketed(id: crate::domain::incident::IncidentId) -> String {
    format!("That message is already logged as {id}.")
}

pub fn claim_refused() -> String {
    "Only agents may claim incidents with ✋; your reaction was removed.".to_owned()
}

fn clock_title(kind: ClockKind) -> &'static str {
    match kind {
        ClockKind::Response => "Response",
        ClockKind::Resolution => "Resolution",
    }
}

fn clock_line(c: &ClockView, basis: TimeBasis) -> String {
    let state = match (c.state, c.kind, c.stopped_at) {
        (ClockState::Running, _, _) => "running".to_owned(),
        (ClockState::Paused, _, _) => "paused (on hold)".to_owned(),
        (ClockState::Stopped, ClockKind::Response, Some(at)) => format!("acknowledged {}", time(at)),
        (ClockState::Stopped, ClockKind::Resolution, Some(at)) => format!("stopped {}", time(at)),
        (ClockState::Stopped, _, None) => "stopped".to_owned(),
    };
    let left = match (c.remaining, c.state) {
        (Remaining::Breached { by }, _) => format!("breached by {}", sla_span(by, basis)),
        (Remaining::Left(left), ClockState::Stopped) => format!("met with {} to spare", sla_span(left, basis)),
        (Remaining::Left(left), _) => format!("{} left", sla_span(left, basis)),
    };
    let due = match (c.state, c.due, c.remaining) {
        (ClockState::Running, Some(at), Remaining::Breached { .. }) => format!(" · was due {}", due_time(at)),
        (ClockState::Running, Some(at), Remaining::Left(_)) => format!(" · due {}", due_time(at)),
        _ => String::new(),
    };
    format!(
        "\n• {}: target {} · elapsed {} · {state} · {left}{due}",
        clock_title(c.kind),
        sla_target(c.target, basis),
        sla_span(c.elapsed, basis),
    )
}

fn sla_lines(sla: &SlaView) -> String {
    let mut s = format!("\nSLA ({}, {}):", sla.row, sla.calendar);
    for c in &sla.clocks {
        s.push_str(&clock_line(c, sla.basis));
    }
    let mut escalation = Vec::new();
    if sla.tiers > 1 {
        escalation.push(format!("tier {} of {}", sla.tier + 1, sla.tiers));
    }
    if let Some(role) = &sla.escalated_to {
        escalation.push(format!("escalated up to {role}"));
    }
    if let Some(since) = sla.major_since {
        escalation.push(format!("MAJOR incident since {}", time(since)));
    }
    if !escalation.is_empty() {
        s.push_str(&format!("\nEscalation: {}", escalation.join(" · ")));
    }
    s
}

/// Appended to the reply of an incident logged during a known outage.
pub fn known_outage(policy: &Policy, o: &Outage) -> String {
    format!(
        "This is a known outage: {} ({}, {}): {}. You will be told in the incident's thread when it is over.",
        o.id,
        service_name(policy, &o.service),
        o.impact,
        user_text(&o.summary, 300)
    )
}

/// Adds the SLA and escalation state to an incident card: the major flag, the
/// tier, the rung reached, and the nearest deadline as a time (relative on Discord).
pub fn card_sla(card: &mut Card, sla: &SlaView) {
    if let Some(since) = sla.major_since {
        card.fields
            .push(("Major incident".to_owned(), format!("since {}", time(since))));
    }
    if sla.tier > 0 {
        card.fields
            .push(("Tier".to_owned(), format!("{} of {}", sla.tier + 1, sla.tiers.max(1))));
    }
    if let Some(role) = &sla.escalated_to {
        card.fields.push(("Escalated to".to_owned(), role.clone()));
    }
    let running = sla.clocks.iter().filter(|c| c.state == ClockState::Running);
    let mut upcoming: Option<(&ClockView, DateTime<Utc>)> = None;
    let mut breached = Vec::new();
    for c in running {
        if c.remaining.is_breached() {
            breached.push(clock_name(c.kind));
            if let Some(due) = c.due {
                card.times
                    .push((format!("{} breached", clock_title(c.kind)), due.timestamp()));
            }
        } else if let Some(due) = c.due {
            if upcoming.map_or(true, |(_, at)| due < at) {
                upcoming = Some((c, due));
            }
        }
    }
    if !breached.is_empty() {
        card.fields.push(("SLA breached".to_owned(), breached.join(", ")));
    }
    if let Some((c, due)) = upcoming {
        let label = match c.kind {
            ClockKind::Response => "Respond by",
            ClockKind::Resolution => "Resolve by",
        };
        card.times.push((label.to_owned(), due.timestamp()));
    }
    if sla.clocks.iter().any(|c| c.state == ClockState::Paused) {
        card.fields
            .push(("SLA".to_owned(), "resolution clock paused".to_owned()));
    }
    // The targets, not the time left: a card is edited only when something
    // happens, so a countdown on it would go stale (the due time above does not).
    let targets: Vec<String> = sla
        .clocks
        .iter()
        .filter(|c| c.state != ClockState::Stopped)
        .map(|c| {
            let verb = match c.kind {
                ClockKind::Response => "respond within",
                ClockKind::Resolution => "resolve within",
            };
            format!("{verb} {}", sla_target(c.target, sla.basis))
        })
        .collect();
    if !targets.is_empty() {
        card.fields.push(("SLA targets".to_owned(), targets.join(" · ")));
    }
}

pub fn escalate_reaction_refused(prefix: &str, id: crate::domain::incident::IncidentId) -> String {
    format!(
        "Only agents may escalate incidents with ⬆️; your reaction was removed. To ask for escalation, use `{prefix}escalate {id} <why>`."
    )
}

/// Posted in the incident's thread when its priority changes.
pub fn reprioritized(
    policy: &Policy,
    inc: &Incident,
    by: &str,
    from: Priority,
    reason: Option<&str>,
    major: bool,
) -> String {
    let sla = policy.sla.policy(inc.priority, major);
    format!(
        "{} re-prioritised {} from {from} to {} (impact {} × urgency {}).{} SLA targets{} are respond {} / resolve {}.",
        neutralize(by),
        inc.id,
        inc.priority,
        inc.impact,
        inc.urgency,
        reason_suffix(reason),
        if major { " (major incident)" } else { "" },
        sla_target(sla.respond, sla.calendar.basis()),
        sla_target(sla.resolve, sla.calendar.basis())
    )
}

pub fn reprioritized_reply(inc: &Incident, from: Priority, major: bool) -> String {
    let clocks = if from == inc.priority {
        "its SLA targets are unchanged"
    } else if major {
        "it keeps the major-incident SLA targets while it is major"
    } else {
        "its SLA clocks moved to the new targets"
    };
    format!(
        "{} is now {} (impact {} × urgency {}, was {from}); {clocks}.",
        inc.id, inc.priority, inc.impact, inc.urgency
    )
}

pub fn same_priority(inc: &Incident) -> String {
    format!(
        "{} already has impact {} × urgency {} ({}): nothing to change.",
        inc.id, inc.impact, inc.urgency, inc.priority
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    use crate::render::{ClockView, SlaView};

    #[test]
    fn the_card_shows_the_nearest_upcoming_deadline_and_what_is_breached() {
        let at = |h: i64| DateTime::from_timestamp(1_700_000_000 + h * 3600, 0).unwrap();
        let clock = |kind, state, remaining, due| ClockView {
            kind,
            state,
            target: TimeDelta::hours(4),
            elapsed: TimeDelta::hours(1),
            remaining,
            due,
            stopped_at: None,
        };
        let left = Remaining::Left(TimeDelta::hours(1));
        let mut sla = SlaView {
            row: "P1".into(),
            calendar: "24×7".into(),
            basis: TimeBasis::Calendar,
            clocks: vec![
                clock(ClockKind::Response, ClockState::Running, left, Some(at(1))),
                clock(ClockKind::Resolution, ClockState::Running, left, Some(at(4))),
            ],
            tier: 1,
            tiers: 3,
            escalated_to: Some("Incident Manager".into()),
            major_since: None,
        };
        let blank = || Card {
            title: "INC-1".into(),
            tone: Tone::P1,
            fields: vec![],
            times: vec![],
            footer: None,
        };
        let mut card = blank();
        card_sla(&mut card, &sla);
        assert_eq!(card.times, [("Respond by".to_owned(), at(1).timestamp())]);
        assert_eq!(
            card.fields,
            [
                ("Tier".to_owned(), "2 of 3".to_owned()),
                ("Escalated to".to_owned(), "Incident Manager".to_owned()),
                (
                    "SLA targets".to_owned(),
                    "respond within 4h · resolve within 4h".to_owned()
                ),
            ]
        );

        sla.clocks[0].remaining = Remaining::Breached {
            by: TimeDelta::minutes(5),
        };
        sla.clocks[1].state = ClockState::Paused;
        sla.clocks[1].due = None;
        let mut card = blank();
        card_sla(&mut card, &sla);
        assert_eq!(card.times, [("Response breached".to_owned(), at(1).timestamp())]);
        assert!(card
            .fields
            .contains(&("SLA breached".to_owned(), "response".to_owned())));
        assert!(card
            .fields
            .contains(&("SLA".to_owned(), "resolution clock paused".to_owned())));
    }
}
