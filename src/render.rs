//! Every sentence a user reads, one function each, so wording, platform limits
//! and mention safety are handled in one place.
//!
//! Text that users typed is passed through [`neutralize`] before it is shown:
//! `@everyone`, `@here` and mention syntax are displayed, never fired.

use chrono::{DateTime, TimeDelta, Utc};

use crate::command::{CommandSpec, UsageError};
use crate::config::Policy;
use crate::domain::incident::{Incident, InvalidTransition};
use crate::domain::raci::{Action, RaciRow};
use crate::domain::sla::{format_duration, ClockKind, ClockState, Remaining, Threshold};
use crate::domain::RoleKey;
use crate::message::{Card, Tone};
use crate::store::audit::AuditRow;
use crate::store::incidents::Note;

/// Discord's message limit; transports split or truncate beyond it.
pub const MESSAGE_LIMIT: usize = 2000;

/// A zero-width space: placed after `@` and `<` so mention syntax shows but cannot fire.
const ZWSP: char = '\u{200B}';

/// Makes user text safe to show: `@everyone`, `@here`, `<@id>`, `<@!id>`,
/// `<@&id>` and `<#id>` are broken with a zero-width space so no client renders
/// them as pings, whatever allowed_mentions says.
pub fn neutralize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '@' => out.push(ZWSP),
            '<' if matches!(chars.peek(), Some('@' | '#')) => out.push(ZWSP),
            _ => {}
        }
    }
    out
}

/// Cuts text to `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Splits text into pieces of at most `max` characters, at line breaks where possible.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        if cur_len + len > max && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if len > max {
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(max) {
                parts.push(chunk.iter().collect());
            }
            continue;
        }
        cur.push_str(line);
        cur_len += len;
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    if parts.is_empty() {
        parts.push(String::new());
    }
    parts
}

fn role_label(policy: &Policy, role: &RoleKey) -> String {
    match policy.role(role) {
        Some(r) => format!("{} (#{})", r.name, r.channel),
        None => role.to_string(),
    }
}

/// How a user is named in text: their display name, else their id.
pub fn user_label(name: Option<&str>, id: crate::domain::UserId) -> String {
    match name {
        Some(n) => neutralize(n),
        None => format!("user {id}"),
    }
}

pub fn incident_logged(policy: &Policy, inc: &Incident) -> String {
    format!(
        "{} logged: {} (impact {} × urgency {}). Handled by {}.",
        inc.id,
        inc.priority,
        inc.impact,
        inc.urgency,
        role_label(policy, &inc.handler_role)
    )
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
        ("State".to_owned(), inc.state.to_string()),
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
        "{}, thanks for reporting {}. Updates will be posted here; reply with `!note {} <text>` to add details.",
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
    let mut s = format!("{} moved {} from {} to {}", neutralize(by), inc.id, from, inc.state);
    if let Some(r) = reason {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

pub fn resolved_notice(inc: &Incident, by: &str, reporter: &str) -> String {
    format!(
        "{}: {} was resolved by {}: {}\nIf it is fixed, `!close {}`; if not, `!reopen {} <why>`.",
        neutralize(reporter),
        inc.id,
        neutralize(by),
        neutralize(inc.resolution.as_deref().unwrap_or("")),
        inc.id,
        inc.id
    )
}

pub fn note_added(inc: &Incident, by: &str, body: &str) -> String {
    format!("Note on {} by {}: {}", inc.id, neutralize(by), neutralize(body))
}

pub fn note_reply(inc: &Incident) -> String {
    format!("Note added to {}.", inc.id)
}

pub fn done(inc: &Incident) -> String {
    format!("{} is now {}.", inc.id, inc.state)
}

pub fn show(
    policy: &Policy,
    inc: &Incident,
    names: &Names,
    sla: Option<&SlaView>,
    notes: &[Note],
    history: &[AuditRow],
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
    if let Some(r) = &inc.resolution {
        s.push_str(&format!("\nResolution: {}", neutralize(r)));
    }
    if let Some(sla) = sla {
        s.push_str(&sla_lines(sla));
    }
    if !notes.is_empty() {
        s.push_str("\nNotes:");
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
    if !history.is_empty() {
        s.push_str("\nHistory:");
        for h in history {
            s.push_str(&format!(
                "\n• {} {} {}",
                time(h.at),
                h.action,
                neutralize(&truncate(&h.details, 200))
            ));
        }
    }
    truncate(&s, MESSAGE_LIMIT)
}

/// Names shown on an incident.
pub struct Names {
    pub reporter: String,
    pub assignee: Option<String>,
}

pub fn list(what: &str, incidents: &[Incident], page: u32, page_size: u32, total: i64) -> String {
    if incidents.is_empty() {
        return if page > 1 {
            format!("No {what} incidents on page {page}.")
        } else {
            format!("No {what} incidents.")
        };
    }
    let pages = ((total.max(1) - 1) / i64::from(page_size.max(1))) + 1;
    let mut s = format!("{what} incidents (page {page} of {pages}, {total} in all), newest first:");
    for inc in incidents {
        s.push_str(&format!(
            "\n{} {} {} {}{}",
            inc.id,
            inc.priority,
            inc.state,
            neutralize(&truncate(&inc.title, 80)),
            inc.service.as_deref().map(|sv| format!(" [{sv}]")).unwrap_or_default()
        ));
    }
    if i64::from(page) < pages {
        s.push_str(&format!("\nMore: add page={}", page + 1));
    }
    truncate(&s, MESSAGE_LIMIT)
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn usage(prefix: &str, e: &UsageError) -> String {
    format!(
        "{}. Usage: `{prefix}{}`",
        capitalize(&neutralize(&e.problem)),
        e.command.usage
    )
}

pub fn unknown_command(prefix: &str, name: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!(
            "I don't know `{prefix}{}`. Did you mean `{prefix}{s}`? Try `{prefix}help`.",
            neutralize(name)
        ),
        None => format!("I don't know `{prefix}{}`. Try `{prefix}help`.", neutralize(name)),
    }
}

pub fn help_list(prefix: &str, commands: &[&CommandSpec]) -> String {
    let mut s = String::from("Commands you may run:");
    for c in commands {
        s.push_str(&format!("\n`{prefix}{}` — {}", c.usage, c.summary));
    }
    s.push_str(&format!("\n`{prefix}help <command>` explains one."));
    s
}

pub fn help_one(prefix: &str, c: &CommandSpec) -> String {
    let mut s = format!("`{prefix}{}`\n{}", c.usage, c.summary);
    if !c.aliases.is_empty() {
        let aliases: Vec<String> = c.aliases.iter().map(|a| format!("`{prefix}{a}`")).collect();
        s.push_str(&format!("\nAlso: {}", aliases.join(", ")));
    }
    s
}

fn row_line(policy: &Policy, action: Action, row: &RaciRow) -> String {
    let name = |r: &crate::domain::raci::RoleRef| match r {
        crate::domain::raci::RoleRef::Role(k) => policy.role_name(k),
        other => other.to_string(),
    };
    let list = |v: &[crate::domain::raci::RoleRef]| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.iter().map(name).collect::<Vec<_>>().join(", ")
        }
    };
    format!(
        "{action}: R {} · A {} · C {} · I {}",
        name(&row.responsible),
        name(&row.accountable),
        list(&row.consulted),
        list(&row.informed)
    )
}

pub fn raci_all(policy: &Policy) -> String {
    let mut s = String::from("RACI matrix (Responsible · Accountable · Consulted · Informed):");
    for (a, row) in policy.raci.rows() {
        s.push('\n');
        s.push_str(&row_line(policy, a, row));
    }
    truncate(&s, MESSAGE_LIMIT)
}

pub fn raci_one(policy: &Policy, action: Action) -> String {
    row_line(policy, action, policy.raci.row(action))
}

pub fn unknown_action(name: &str, suggestion: Option<&str>) -> String {
    let hint = suggestion.map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
    format!(
        "`{}` is not an action in the RACI matrix.{hint}",
        neutralize(&truncate(name, 40))
    )
}

pub fn whois(policy: &Policy, role: &crate::config::RoleDef) -> String {
    let mut r_for = Vec::new();
    let mut a_for = Vec::new();
    for (action, row) in policy.raci.rows() {
        if row.responsible == crate::domain::raci::RoleRef::Role(role.key.clone()) {
            r_for.push(action.as_str());
        }
        if row.accountable == crate::domain::raci::RoleRef::Role(role.key.clone()) {
            a_for.push(action.as_str());
        }
    }
    let list = |v: &[&str]| if v.is_empty() { "—".to_owned() } else { v.join(", ") };
    let agent = if policy.agents.contains(&role.key) {
        " Agents may triage any incident."
    } else {
        ""
    };
    format!(
        "{} (`{}`) is held by chat role `{}` and works in #{}.{agent}\nResponsible for: {}\nAccountable for: {}",
        role.name,
        role.key,
        role.chat_role,
        role.channel,
        list(&r_for),
        list(&a_for)
    )
}

pub fn unknown_role(name: &str, suggestion: Option<&str>) -> String {
    let hint = suggestion.map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default();
    format!(
        "`{}` is not an ITIL role here.{hint} `!raci` lists the roles in use.",
        neutralize(&truncate(name, 40))
    )
}

pub fn unknown_incident(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} does not exist.")
}

pub fn unknown_service(policy: &Policy, name: &str) -> String {
    let hint = policy
        .nearest_service(name)
        .map(|s| format!(" Did you mean `{s}`?"))
        .unwrap_or_default();
    let known: Vec<&str> = policy.services.keys().map(String::as_str).collect();
    format!(
        "`{}` is not a service.{hint} Services: {}.",
        neutralize(&truncate(name, 40)),
        known.join(", ")
    )
}

pub fn unknown_user(name: &str) -> String {
    format!(
        "I don't know `{}` yet: mention them, or have them say something first.",
        neutralize(&truncate(name, 40))
    )
}

pub fn not_agent(prefix: &str, command: &str) -> String {
    format!("Only agents (service desk, support groups, incident manager) may run `{prefix}{command}`.")
}

pub fn not_yours(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} is not yours: only its reporter and agents may see or change it.")
}

pub fn invalid_move(id: crate::domain::incident::IncidentId, e: &InvalidTransition) -> String {
    format!("{id}: {e}.")
}

pub fn text_refused(e: &crate::domain::text::TextError) -> String {
    format!("{}.", capitalize(&e.to_string()))
}

pub fn already_ticketed(id: crate::domain::incident::IncidentId) -> String {
    format!("That message is already logged as {id}.")
}

pub fn claim_refused() -> String {
    "Only agents may claim incidents with ✋; your reaction was removed.".to_owned()
}

// ----- SLA clocks and escalation -----

/// One SLA clock as `!show` and the card present it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockView {
    pub kind: ClockKind,
    pub state: ClockState,
    pub target: TimeDelta,
    pub elapsed: TimeDelta,
    pub remaining: Remaining,
    /// When the target is (or was) reached, for a running clock.
    pub due: Option<DateTime<Utc>>,
    /// When a stopped clock stopped.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The SLA and escalation state of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaView {
    /// Which SLA row applies: the priority (`P1`) or `major`.
    pub row: String,
    /// When SLA time counts (`24×7`, or business hours).
    pub calendar: String,
    pub clocks: Vec<ClockView>,
    /// The support tier (0 = first line) and how many tiers the chain has.
    pub tier: i64,
    pub tiers: usize,
    /// The role of the hierarchical rung reached, if escalated up.
    pub escalated_to: Option<String>,
    pub major_since: Option<DateTime<Utc>>,
}

fn clock_name(kind: ClockKind) -> &'static str {
    match kind {
        ClockKind::Response => "response",
        ClockKind::Resolution => "resolution",
    }
}

fn clock_title(kind: ClockKind) -> &'static str {
    match kind {
        ClockKind::Response => "Response",
        ClockKind::Resolution => "Resolution",
    }
}

fn clock_line(c: &ClockView) -> String {
    let state = match (c.state, c.kind, c.stopped_at) {
        (ClockState::Running, _, _) => "running".to_owned(),
        (ClockState::Paused, _, _) => "paused (on hold)".to_owned(),
        (ClockState::Stopped, ClockKind::Response, Some(at)) => format!("acknowledged {}", time(at)),
        (ClockState::Stopped, ClockKind::Resolution, Some(at)) => format!("stopped {}", time(at)),
        (ClockState::Stopped, _, None) => "stopped".to_owned(),
    };
    let left = match (c.remaining, c.state) {
        (Remaining::Breached { by }, _) => format!("breached by {}", format_duration(by)),
        (Remaining::Left(left), ClockState::Stopped) => format!("met with {} to spare", format_duration(left)),
        (Remaining::Left(left), _) => format!("{} left", format_duration(left)),
    };
    let due = match (c.state, c.due) {
        (ClockState::Running, Some(at)) => format!(" (due {})", time(at)),
        _ => String::new(),
    };
    format!(
        "\n• {}: target {} · elapsed {} · {state} · {left}{due}",
        clock_title(c.kind),
        format_duration(c.target),
        format_duration(c.elapsed),
    )
}

fn sla_lines(sla: &SlaView) -> String {
    let mut s = format!("\nSLA ({}, {}):", sla.row, sla.calendar);
    for c in &sla.clocks {
        s.push_str(&clock_line(c));
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
}

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

pub fn not_open(inc: &Incident, what: &str) -> String {
    format!("{} is {}: only open incidents can be {what}.", inc.id, inc.state)
}

pub fn no_clocks(id: crate::domain::incident::IncidentId) -> String {
    format!("{id} has no SLA clocks (it was logged before SLA tracking began).")
}

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

/// ` Reason: <reason>.` (ending the sentence unless the reason already does).
fn reason_suffix(reason: Option<&str>) -> String {
    reason
        .map(|r| {
            let stop = if r.ends_with(['.', '!', '?']) { "" } else { "." };
            format!(" Reason: {}{stop}", neutralize(r))
        })
        .unwrap_or_default()
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

pub fn escalate_reaction_refused(prefix: &str, id: crate::domain::incident::IncidentId) -> String {
    format!(
        "Only agents may escalate incidents with ⬆️; your reaction was removed. To ask for escalation, use `{prefix}escalate {id} <why>`."
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

pub fn unexpected() -> String {
    "Something went wrong on my side; nothing was changed. The error is logged.".to_owned()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_in_user_text_are_shown_but_cannot_fire() {
        let cases = [
            ("@everyone", "@\u{200B}everyone"),
            ("hi @here!", "hi @\u{200B}here!"),
            ("<@123>", "<\u{200B}@\u{200B}123>"),
            ("<@!123>", "<\u{200B}@\u{200B}!123>"),
            ("<@&55>", "<\u{200B}@\u{200B}&55>"),
            ("<#9>", "<\u{200B}#9>"),
            ("a < b", "a < b"),
        ];
        for (raw, shown) in cases {
            assert_eq!(neutralize(raw), shown, "{raw}");
        }
        for raw in ["@everyone", "@here", "<@1>", "<@!1>", "<@&1>", "@\u{200D}everyone"] {
            let out = neutralize(raw);
            assert!(!out.contains("@everyone") && !out.contains("@here"), "{raw}");
            assert!(!out.contains("<@"), "{raw}");
        }
    }

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
                ("Escalated to".to_owned(), "Incident Manager".to_owned())
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

    #[test]
    fn long_text_is_truncated_or_split_within_the_limit() {
        let long = "x".repeat(4500);
        assert_eq!(truncate(&long, 2000).chars().count(), 2000);
        let parts = split(&format!("{long}\nshort line\n"), 2000);
        assert!(parts.iter().all(|p| p.chars().count() <= 2000));
        assert_eq!(parts.concat(), format!("{long}\nshort line\n"));
        assert_eq!(split("", 10), vec![String::new()]);
    }
}
