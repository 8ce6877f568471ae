//! Every sentence a user reads, one function each, so wording, platform limits
//! and mention safety are handled in one place.
//!
//! Text that users typed is passed through [`neutralize`] before it is shown:
//! `@everyone`, `@here` and mention syntax are displayed, never fired; any other
//! `@` (an e-mail address, a handle) stays as typed, and bidirectional override
//! characters are shown as U+FFFD.

use chrono::{DateTime, TimeDelta, Utc};

use crate::command::{CommandSpec, UsageError};
use crate::config::Policy;
use crate::domain::cab::{Board, Choice, Ineligible, Outcome as VoteOutcome, Tally};
use crate::domain::change::{
    Change, ChangeId, ChangeState, InvalidTransition as ChangeTransitionError, ParseWindowError, Window,
};
use crate::domain::incident::{Incident, IncidentId, InvalidTransition, State};
use crate::domain::outage::{duration_text, NoticeKind, Outage, OutageError, OutageId, OutageImpact, OutageState};
use crate::domain::priority::Priority;
use crate::domain::raci::{Action, RaciRow};
use crate::domain::sla::{format_duration, ClockKind, ClockState, Remaining, Threshold};
use crate::domain::RoleKey;
use crate::message::{Card, Tone};
use crate::store::audit::AuditRow;
use crate::store::cab::{Vote, VoteStatus};
use crate::store::incidents::Note;
use crate::store::subscriptions::Subscribed;

/// Discord's message limit: adapters [`split`] longer text into several messages.
pub const MESSAGE_LIMIT: usize = 2000;

/// A zero-width space: placed after `@` and `<` so mention syntax shows but cannot fire.
const ZWSP: char = '\u{200B}';

/// What a bidirectional override or isolate is shown as: it can no longer
/// turn the text after it around, and the reader sees something was there.
const BIDI_SHOWN: char = '\u{FFFD}';

/// The bidirectional embedding, override and isolate controls (U+202A–U+202E,
/// U+2066–U+2069), with which a title could display reversed text.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `rest` (the text after an `@`) starts a mass mention.
fn is_mass_mention(rest: &str) -> bool {
    ["everyone", "here"].iter().any(|word| {
        rest.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    })
}

/// Makes user text safe to show, breaking only what Discord parses as a
/// mention: `@everyone` and `@here` (anywhere, in any case), `<@id>`, `<@!id>`,
/// `<@&id>` and `<#id>` get a zero-width space so no client renders them as
/// pings, whatever allowed_mentions says. Any other `@` stays as typed
/// (`bob@example.com`, `@bob`). Bidirectional controls are shown as U+FFFD.
pub fn neutralize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut after_angle = false;
    for (i, c) in text.char_indices() {
        if is_bidi_control(c) {
            out.push(BIDI_SHOWN);
            after_angle = false;
            continue;
        }
        out.push(c);
        let rest = &text[i + c.len_utf8()..];
        match c {
            '@' if after_angle || is_mass_mention(rest) => out.push(ZWSP),
            '<' if rest.starts_with(['@', '#']) => out.push(ZWSP),
            _ => {}
        }
        after_angle = c == '<';
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

/// Ends every part of a split message but the last, so a reader knows more follows.
pub const MORE: &str = "… (more below)";

/// Splits text into messages of at most `max` characters (Discord's
/// [`MESSAGE_LIMIT`]), so nothing is cut: at line breaks, so a line (a quote,
/// a code line, a list item) is never broken when it fits; a single line too
/// long for a message is broken at its last space in reach, else on a
/// character boundary. Every part but the last ends with [`MORE`]; without
/// those markers the parts put together are `text` unchanged.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let marker = MORE.chars().count();
    // Room for the text of one part; a limit too small for the marker gets one char.
    let room = max.saturating_sub(marker).max(1);
    if text.chars().count() <= max {
        return vec![text.to_owned()];
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        if cur_len + len > room && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        if len <= room {
            cur.push_str(line);
            cur_len += len;
            continue;
        }
        // One line longer than a part: cut it, at a space where there is one in reach.
        let mut rest = line;
        while rest.chars().count() > room {
            let cut = cut_point(rest, room);
            parts.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
        cur.push_str(rest);
        cur_len = rest.chars().count();
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    let last = parts.len().saturating_sub(1);
    for part in &mut parts[..last] {
        part.push_str(MORE);
    }
    parts
}

/// Where to cut a line longer than `room` characters: a byte index on a char
/// boundary, after the last whitespace in the second half of the reach, else
/// exactly `room` characters in.
fn cut_point(line: &str, room: usize) -> usize {
    let hard = line.char_indices().nth(room).map_or(line.len(), |(i, _)| i);
    let half = line.char_indices().nth(room / 2).map_or(0, |(i, _)| i);
    match line[..hard].rfind(char::is_whitespace) {
        Some(i) if i >= half => {
            let ws = line[i..].chars().next().map_or(1, char::len_utf8);
            i + ws
        }
        _ => hard,
    }
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

/// The last field of a card whose fields do not all fit Discord's embed
/// limits: where the rest is read (`subject` is the card's record, `INC-3`).
pub fn card_more(prefix: &str, subject: Option<&str>) -> (String, String) {
    let command = match subject {
        Some(s) if s.starts_with("OUT-") => format!(" or `{prefix}outage show {s}`"),
        Some(s) if s.starts_with("INC-") || s.starts_with("CHG-") => format!(" or `{prefix}show {s}`"),
        _ => String::new(),
    };
    ("More".to_owned(), format!("… more in the thread{command}"))
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
    notes_total: usize,
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
    s
}

/// Appends a record's audit history (oldest first) to a `!show` answer.
fn push_history(s: &mut String, history: &[AuditRow]) {
    if history.is_empty() {
        return;
    }
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

/// The command list: one line each (name and the first sentence of its
/// summary), so it fits one Discord message; `!help <command>` gives the usage.
pub fn help_list(prefix: &str, commands: &[&CommandSpec]) -> String {
    let mut s = String::from("Commands you may run:");
    for c in commands {
        let first = c.summary.split_inclusive(". ").next().unwrap_or(c.summary).trim_end();
        s.push_str(&format!("\n`{prefix}{}` — {first}", c.name));
    }
    s.push_str(&format!("\n`{prefix}help <command>` shows how to use one."));
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
    s
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
    format!(
        "{id} is not yours: only its reporter, its assignee, its assignment group, its service's owner and agents may see or change it."
    )
}

pub fn invalid_move(id: crate::domain::incident::IncidentId, e: &InvalidTransition) -> String {
    format!("{id}: {e}.")
}

pub fn text_refused(e: &crate::domain::text::TextError) -> String {
    format!("{}.", capitalize(&e.to_string()))
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

// ── Outages ──────────────────────────────────────────────────────────────

fn impact_badge(o: &Outage) -> &'static str {
    match (o.state, o.impact) {
        (OutageState::Resolved, _) => "✅",
        (_, OutageImpact::Major) => "🔴",
        (_, OutageImpact::Partial) => "🟠",
    }
}

/// The line heading every notice: `🔴 OUT-1 · Email · major outage`.
fn outage_head(policy: &Policy, o: &Outage) -> String {
    format!(
        "{} {} · {} · {} outage",
        impact_badge(o),
        o.id,
        service_name(policy, &o.service),
        o.impact
    )
}

fn user_text(text: &str, max: usize) -> String {
    neutralize(&truncate(text, max))
}

/// The text above the status card.
pub fn outage_card_text(policy: &Policy, o: &Outage) -> String {
    match o.state {
        OutageState::Active => format!("{}: {}", outage_head(policy, o), user_text(&o.summary, 1000)),
        OutageState::Resolved => format!(
            "✅ {} · {} is back (was: {})",
            o.id,
            service_name(policy, &o.service),
            user_text(&o.summary, 1000)
        ),
    }
}

/// The status card: an embed on Discord, edited in place as the outage goes on.
pub fn outage_card(policy: &Policy, o: &Outage, declared_by: &str) -> Card {
    let tone = match (o.state, o.impact) {
        (OutageState::Resolved, _) => Tone::Done,
        (_, OutageImpact::Major) => Tone::P1,
        (_, OutageImpact::Partial) => Tone::P3,
    };
    let mut fields = vec![
        ("Service".to_owned(), service_name(policy, &o.service)),
        ("Impact".to_owned(), o.impact.to_string()),
        ("State".to_owned(), o.state.to_string()),
        ("Summary".to_owned(), user_text(&o.summary, 1000)),
    ];
    if let Some(l) = &o.latest {
        fields.push((
            format!("Latest update ({})", clock_time(l.at)),
            user_text(&l.text, 1000),
        ));
    }
    fields.push(("Declared by".to_owned(), neutralize(declared_by)));
    let mut times = vec![("Started".to_owned(), o.started_at.timestamp())];
    if let Some(at) = o.resolved_at {
        times.push(("Resolved".to_owned(), at.timestamp()));
    } else {
        times.push(("Updated".to_owned(), o.updated_at.timestamp()));
    }
    Card {
        title: format!(
            "{} · {} {}",
            o.id,
            service_name(policy, &o.service),
            if o.is_active() { "outage" } else { "outage (resolved)" }
        ),
        tone,
        fields,
        times,
        footer: Some(format!("{}subscribe {} for direct messages", policy.prefix, o.service)),
    }
}

/// An update, posted in the status channel.
pub fn outage_update_post(policy: &Policy, o: &Outage, text: &str, by: &str) -> String {
    format!(
        "Update on {}: {} — {}",
        outage_head(policy, o),
        user_text(text, 1000),
        neutralize(by)
    )
}

/// The all-clear, posted in the status channel.
pub fn outage_all_clear(policy: &Policy, o: &Outage, text: &str) -> String {
    format!(
        "✅ All clear: {} is back. {} is resolved after {}: {}",
        service_name(policy, &o.service),
        o.id,
        duration_text(o.duration(o.updated_at)),
        user_text(text, 1000)
    )
}

/// The direct message to a subscriber for one notice.
pub fn outage_dm(policy: &Policy, o: &Outage, kind: NoticeKind, text: &str) -> String {
    let body = match kind {
        NoticeKind::Declare => format!(
            "{}: {}\nStarted {}.",
            outage_head(policy, o),
            user_text(text, 1000),
            time(o.started_at)
        ),
        NoticeKind::Update => format!("Update on {}: {}", outage_head(policy, o), user_text(text, 1000)),
        NoticeKind::Resolve => format!(
            "✅ {} is back: {} resolved after {}: {}",
            service_name(policy, &o.service),
            o.id,
            duration_text(o.duration(o.updated_at)),
            user_text(text, 1000)
        ),
    };
    format!(
        "{body}\nYou get this because you subscribed to {}; `{}unsubscribe {}` stops it.",
        service_name(policy, &o.service),
        policy.prefix,
        o.service
    )
}

/// What the roles of the RACI row are told (the responsible one with a ping).
pub fn outage_for_role(policy: &Policy, action: Action, o: &Outage, by: &str, text: &str, responsible: bool) -> String {
    let what = match action {
        Action::OutageUpdate => "updated",
        Action::OutageResolve => "resolved",
        _ => "declared",
    };
    let mut s = format!(
        "{} {what} by {}: {}",
        outage_head(policy, o),
        neutralize(by),
        user_text(text, 1000)
    );
    if responsible && o.is_active() {
        s.push_str(&format!(
            "\nYou keep users informed: `{p}outage update {id} <text>`, and `{p}outage resolve {id} [text]` when it is over.",
            p = policy.prefix,
            id = o.id
        ));
    } else if !responsible {
        s = format!("FYI ({action}): {s}");
    }
    s
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

fn subscribers_phrase(n: usize) -> String {
    match n {
        0 => "no subscribers to message".to_owned(),
        1 => "1 subscriber will be messaged".to_owned(),
        n => format!("{n} subscribers will be messaged"),
    }
}

pub fn outage_declared(policy: &Policy, o: &Outage, subscribers: usize) -> String {
    format!(
        "{} declared: {} {} outage. Posted in #{}; {}.",
        o.id,
        service_name(policy, &o.service),
        o.impact,
        policy.outage.status_channel,
        subscribers_phrase(subscribers)
    )
}

pub fn outage_updated(o: &Outage, subscribers: usize) -> String {
    format!(
        "{} updated ({} impact); {}.",
        o.id,
        o.impact,
        subscribers_phrase(subscribers)
    )
}

/// What became of the incidents linked to a resolved outage.
#[derive(Debug, Clone, Default)]
pub struct LinkedSummary {
    pub resolved: Vec<IncidentId>,
    /// Open incidents left as they were, with their state.
    pub left_open: Vec<(IncidentId, State)>,
    pub already_done: Vec<IncidentId>,
}

impl LinkedSummary {
    fn is_empty(&self) -> bool {
        self.resolved.is_empty() && self.left_open.is_empty() && self.already_done.is_empty()
    }
}

fn linked_phrase(l: &LinkedSummary) -> String {
    if l.is_empty() {
        return String::new();
    }
    let ids = |v: &[IncidentId]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !l.resolved.is_empty() {
        parts.push(format!("{} resolved with it", ids(&l.resolved)));
    }
    if !l.left_open.is_empty() {
        let open: Vec<String> = l.left_open.iter().map(|(id, st)| format!("{id} ({st})")).collect();
        parts.push(format!("{} left open for their handlers", open.join(", ")));
    }
    if !l.already_done.is_empty() {
        parts.push(format!("{} already resolved or closed", ids(&l.already_done)));
    }
    format!(" Linked incidents: {}; their reporters are told.", parts.join("; "))
}

pub fn outage_resolved(o: &Outage, subscribers: usize, linked: &LinkedSummary) -> String {
    format!(
        "{} resolved after {}; {}.{}",
        o.id,
        duration_text(o.duration(o.updated_at)),
        subscribers_phrase(subscribers),
        linked_phrase(linked)
    )
}

/// Told to the roles of the resolve row, so handlers see what is left.
pub fn outage_linked_for_role(linked: &LinkedSummary) -> String {
    let phrase = linked_phrase(linked);
    if phrase.is_empty() {
        phrase
    } else {
        format!("\n{}", phrase.trim_start())
    }
}

/// The resolution given to a linked incident the outage resolves.
pub fn linked_resolution(policy: &Policy, o: &Outage, text: &str, max: usize) -> String {
    truncate(
        &format!(
            "Resolved with outage {} ({}): {}",
            o.id,
            service_name(policy, &o.service),
            text
        ),
        max,
    )
}

/// Said in a linked incident's thread when the outage ends and the incident stays as it is.
pub fn outage_over_for_incident(policy: &Policy, o: &Outage, inc: &Incident, reporter: &str, text: &str) -> String {
    let tail = if inc.state.is_open() {
        format!(
            "{} stays {} until {} confirms it is fixed.",
            inc.id,
            inc.state,
            policy.role_name(&inc.handler_role)
        )
    } else {
        format!("{} is already {}.", inc.id, inc.state)
    };
    format!(
        "{}: outage {} on {} is over: {}\n{tail}",
        neutralize(reporter),
        o.id,
        service_name(policy, &o.service),
        user_text(text, 1000)
    )
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

/// Posted in the incident's thread when it is linked to an outage.
pub fn linked_to_outage(policy: &Policy, o: &Outage, inc: &Incident) -> String {
    format!(
        "{} is part of known outage {} ({}, {}): {}",
        inc.id,
        o.id,
        service_name(policy, &o.service),
        o.impact,
        user_text(&o.summary, 300)
    )
}

pub fn not_outage_role(policy: &Policy) -> String {
    let names: Vec<String> = policy.outage.roles.iter().map(|r| policy.role_name(r)).collect();
    format!(
        "Only {} may declare outages (config `outage.roles`).",
        join_words(&names)
    )
}

pub fn outage_refused(policy: &Policy, e: &OutageError) -> String {
    match e {
        OutageError::AlreadyResolved { id, at } => match at {
            Some(at) => format!("{id} is already resolved (since {}); nothing changed.", time(*at)),
            None => format!("{id} is already resolved; nothing changed."),
        },
        OutageError::NotYours { id } => {
            let names: Vec<String> = policy.outage.roles.iter().map(|r| policy.role_name(r)).collect();
            format!(
                "{id} was declared by someone else: only they and {} may update or resolve it.",
                join_words(&names)
            )
        }
    }
}

pub fn unknown_outage(policy: &Policy, id: OutageId) -> String {
    format!(
        "{id} does not exist. `{}status` shows the current outages.",
        policy.prefix
    )
}

pub fn outage_already_active(policy: &Policy, o: &Outage) -> String {
    format!(
        "{} already has an active outage, {}: {}. Post news with `{}outage update {} <text>`.",
        service_name(policy, &o.service),
        o.id,
        user_text(&o.summary, 200),
        policy.prefix,
        o.id
    )
}

/// `!outage show OUT-n`.
pub fn outage_show(
    policy: &Policy,
    o: &Outage,
    notices: &[(crate::store::outages::Notice, String)],
    linked: &[IncidentId],
    counts: crate::store::outages::DeliveryCounts,
    subscribers: (i64, i64),
    now: DateTime<Utc>,
) -> String {
    let mut s = format!(
        "**{}** · {}\n{}\nStarted {} · {} {}",
        outage_head(policy, o),
        o.state,
        user_text(&o.summary, 300),
        time(o.started_at),
        if o.is_active() { "ongoing for" } else { "lasted" },
        duration_text(o.duration(now))
    );
    if let Some(at) = o.resolved_at {
        s.push_str(&format!(" · resolved {}", time(at)));
    }
    s.push_str("\nNotices:");
    for (n, by) in notices {
        s.push_str(&format!(
            "\n• {} {} by {}: {}",
            time(n.at),
            n.kind.as_str(),
            neutralize(by),
            user_text(&n.body, 200)
        ));
    }
    s.push_str(&format!(
        "\nSubscribers: {} reachable, {} unreachable\nDirect messages: {} queued · {} delivered · {} pending · {} unreachable (DMs closed) · {} lost",
        subscribers.0, subscribers.1, counts.queued, counts.delivered, counts.pending, counts.unreachable, counts.lost
    ));
    if !linked.is_empty() {
        let ids: Vec<String> = linked.iter().map(ToString::to_string).collect();
        s.push_str(&format!("\nLinked incidents: {}", ids.join(", ")));
    }
    s
}

/// `!status`: the current outages with their latest update, one service each.
pub fn status_board(policy: &Policy, outages: &[Outage], now: DateTime<Utc>) -> String {
    if outages.is_empty() {
        return "✅ All services operational.".to_owned();
    }
    let mut s = String::from("Current outages:");
    for o in outages {
        s.push_str(&format!(
            "\n{}: {} (since {}, {})",
            outage_head(policy, o),
            user_text(&o.summary, 300),
            time(o.started_at),
            duration_text(o.duration(now))
        ));
        if let Some(l) = &o.latest {
            s.push_str(&format!(
                "\n   Latest ({}): {}",
                clock_time(l.at),
                user_text(&l.text, 300)
            ));
        }
    }
    let down: Vec<&str> = outages.iter().map(|o| o.service.as_str()).collect();
    let up: Vec<&str> = policy
        .services
        .keys()
        .map(String::as_str)
        .filter(|k| !down.contains(k))
        .collect();
    if !up.is_empty() {
        s.push_str(&format!("\nOperational: {}.", up.join(", ")));
    }
    s
}

/// One service in `!services`.
pub struct ServiceLine<'a> {
    pub service: &'a crate::config::ServiceDef,
    pub outage: Option<&'a Outage>,
    pub subscribed: bool,
}

pub fn services(policy: &Policy, lines: &[ServiceLine<'_>]) -> String {
    let mut s = String::from("Services:");
    for l in lines {
        let status = match l.outage {
            Some(o) => format!("{} {} outage ({})", impact_badge(o), o.impact, o.id),
            None => "✅ operational".to_owned(),
        };
        s.push_str(&format!(
            "\n{} (`{}`) · owner {} · {status}{}",
            l.service.name,
            l.service.key,
            policy.role_name(&l.service.owner),
            if l.subscribed { " · you are subscribed" } else { "" }
        ));
    }
    s.push_str(&format!(
        "\n`{}subscribe <service>` to be told about outages by direct message.",
        policy.prefix
    ));
    s
}

pub fn subscribed(service: &crate::config::ServiceDef, how: Subscribed) -> String {
    let role = service
        .subscriber_role
        .as_deref()
        .map(|r| {
            format!(
                " In the status channel, notices also ping the `{}` role.",
                neutralize(r)
            )
        })
        .unwrap_or_default();
    match how {
        Subscribed::New => format!(
            "Subscribed to {}: you will get its outage notices by direct message.{role}",
            service.name
        ),
        Subscribed::Already => format!("You are already subscribed to {}.", service.name),
        Subscribed::Reenabled => format!(
            "Subscribed to {} again: I could not message you before (direct messages closed); I will try again from the next notice.",
            service.name
        ),
    }
}

pub fn unsubscribed(service: &crate::config::ServiceDef) -> String {
    format!("Unsubscribed from {}: no more outage messages about it.", service.name)
}

pub fn not_subscribed(policy: &Policy, service: &crate::config::ServiceDef) -> String {
    format!(
        "You are not subscribed to {}; `{}subscriptions` lists yours.",
        service.name, policy.prefix
    )
}

pub fn subscriptions(policy: &Policy, subs: &[crate::store::subscriptions::Subscription]) -> String {
    if subs.is_empty() {
        return format!(
            "You have no subscriptions. `{}services` lists the services; `{}subscribe <service>` adds one.",
            policy.prefix, policy.prefix
        );
    }
    let mut s = String::from("Your subscriptions:");
    for sub in subs {
        s.push_str(&format!("\n{} (`{}`)", service_name(policy, &sub.service), sub.service));
        if let Some(at) = sub.unreachable_at {
            s.push_str(&format!(
                " · ⚠ I could not message you since {} (direct messages closed): open them and `{}subscribe {}` again",
                time(at),
                policy.prefix,
                sub.service
            ));
        }
    }
    s
}

pub fn subscribed_audit(service: &str, how: Subscribed) -> String {
    match how {
        Subscribed::New => format!("subscribed to {service}"),
        Subscribed::Reenabled => format!("subscribed to {service} again (was unreachable)"),
        Subscribed::Already => format!("already subscribed to {service}"),
    }
}

fn clock_time(t: DateTime<Utc>) -> String {
    t.format("%H:%M UTC").to_string()
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
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
        format_duration(sla.respond),
        format_duration(sla.resolve)
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

pub fn unexpected() -> String {
    "Something went wrong on my side; nothing was changed. The error is logged.".to_owned()
}

/// The answer to a command the database could not store.
pub fn not_saved(fault: crate::store::WriteFault) -> String {
    use crate::store::WriteFault;
    let why = match fault {
        WriteFault::DiskFull => "disk full",
        WriteFault::Locked => "it is locked by another process",
        WriteFault::Io => "the disk reported an I/O error",
        WriteFault::ReadOnly => "the file is read-only",
    };
    format!("Not saved: the database cannot be written: {why} — nothing was changed. Please try again shortly; the operators can see this in the log.")
}

// ---- Changes and CAB votes ----

/// A window as users read it: `2030-06-01 22:00 → 2030-06-02 01:00 UTC`.
pub fn window_text(w: Option<&Window>) -> String {
    match w {
        Some(w) => format!(
            "{} → {} UTC",
            w.start().format("%Y-%m-%d %H:%M"),
            w.end().format("%Y-%m-%d %H:%M")
        ),
        None => "no window yet".to_owned(),
    }
}

/// What a change clashes with: other changes' windows and freeze periods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clashes {
    pub changes: Vec<ChangeId>,
    pub freeze: Option<String>,
}

impl Clashes {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.freeze.is_none()
    }
}

/// The warning about clashes, or an empty string.
pub fn clash_warning(c: &Clashes) -> String {
    let mut parts = Vec::new();
    if !c.changes.is_empty() {
        let ids: Vec<String> = c.changes.iter().map(ToString::to_string).collect();
        parts.push(format!("its window overlaps {} on the same service", ids.join(", ")));
    }
    if let Some(f) = &c.freeze {
        parts.push(format!("its window falls in the freeze period `{}`", neutralize(f)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("⚠ Check: {}.", parts.join("; "))
    }
}

fn with_warning(mut s: String, c: &Clashes) -> String {
    let w = clash_warning(c);
    if !w.is_empty() {
        s.push(' ');
        s.push_str(&w);
    }
    s
}

fn service_name(policy: &Policy, key: &str) -> String {
    policy
        .service(key)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| key.to_owned())
}

pub fn change_filed(policy: &Policy, ch: &Change, handler: &RoleKey, clashes: &Clashes) -> String {
    let next = if ch.change_type.is_pre_approved() {
        format!("It is a pre-approved standard change, so it is {} now.", ch.state)
    } else {
        format!(
            "The change manager calls the vote with `{}cab {}`.",
            policy.prefix, ch.id
        )
    };
    with_warning(
        format!(
            "{} filed: {} change to {}, risk {}, {}. Reviewed by {}. {next}",
            ch.id,
            ch.change_type,
            service_name(policy, &ch.service),
            ch.risk,
            window_text(ch.window.as_ref()),
            role_label(policy, handler)
        ),
        clashes,
    )
}

pub fn change_request_notice(policy: &Policy, ch: &Change, requester: &str, clashes: &Clashes) -> String {
    let next = if ch.change_type.is_pre_approved() {
        "Pre-approved standard change: scheduled.".to_owned()
    } else {
        format!("Next: `{}cab {}`.", policy.prefix, ch.id)
    };
    with_warning(
        format!(
            "New {} change {} by {} on {} (risk {}, {}): {}. {next}",
            ch.change_type,
            ch.id,
            neutralize(requester),
            service_name(policy, &ch.service),
            ch.risk,
            window_text(ch.window.as_ref()),
            neutralize(&truncate(&ch.title, 200))
        ),
        clashes,
    )
}

pub fn change_fyi(policy: &Policy, action: Action, ch: &Change, what: &str) -> String {
    format!(
        "FYI ({action}): {} on {} — {} ({what}).",
        ch.id,
        service_name(policy, &ch.service),
        neutralize(&truncate(&ch.title, 200))
    )
}

pub fn not_requester(policy: &Policy) -> String {
    let roles: Vec<String> = policy
        .change
        .requester_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!("Filing a change needs one of these roles: {}.", roles.join(", "))
}

pub fn not_authority(policy: &Policy, command: &str) -> String {
    let roles: Vec<String> = policy
        .change
        .authority_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "Only the change authority ({}) may run `{}{command}`.",
        roles.join(", "),
        policy.prefix
    )
}

pub fn bad_window(prefix: &str, e: &ParseWindowError) -> String {
    format!(
        "{}. Write it as `window=2030-06-01T22:00..2030-06-02T01:00` (UTC, no spaces), e.g. `{prefix}change <title> … window=…`.",
        capitalize(&neutralize(&e.to_string()))
    )
}

pub fn not_in_catalogue(policy: &Policy, title: &str, service: &str) -> String {
    let entries: Vec<String> = policy
        .change
        .standard
        .values()
        .map(|s| {
            if s.services.is_empty() {
                format!("`{}`", s.name)
            } else {
                format!("`{}` ({})", s.name, s.services.join(", "))
            }
        })
        .collect();
    format!(
        "`{}` on {} is not in the standard change catalogue, so it is not pre-approved: file it as type=normal. Catalogue: {}.",
        neutralize(&truncate(title, 60)),
        neutralize(service),
        if entries.is_empty() { "empty".to_owned() } else { entries.join(", ") }
    )
}

pub fn standard_not_low_risk() -> String {
    "A standard change is pre-approved only at risk=low; file a riskier one as type=normal.".to_owned()
}

pub fn unknown_change(id: ChangeId) -> String {
    format!("{id} does not exist.")
}

pub fn invalid_change_move(id: ChangeId, e: &ChangeTransitionError) -> String {
    format!("{id}: {e}.")
}

pub fn change_move_not_here(prefix: &str, id: ChangeId, to: ChangeState) -> String {
    let how = match to {
        ChangeState::CabVote => format!("`{prefix}cab {id}`"),
        ChangeState::Authorized => format!("`{prefix}authorize {id}`"),
        ChangeState::Rejected => format!("`{prefix}reject {id} <reason>`"),
        ChangeState::Cancelled => format!("`{prefix}change cancel {id} [reason]`"),
        ChangeState::New => "nothing: a change never goes back to new".to_owned(),
        _ => format!("`{prefix}change status {id} {to}`"),
    };
    format!("To move {id} to {to}, use {how}.")
}

pub fn change_move_not_allowed(policy: &Policy, id: ChangeId, to: ChangeState) -> String {
    let roles: Vec<String> = policy
        .change
        .authority_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "Only the change authority ({}) may move {id} to {to}; its implementer may start it and hand it to review.",
        roles.join(", ")
    )
}

pub fn change_cancel_not_allowed(policy: &Policy, id: ChangeId) -> String {
    let roles: Vec<String> = policy
        .change
        .authority_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "Only its requester or the change authority ({}) may cancel {id}.",
        roles.join(", ")
    )
}

pub fn schedule_needs_window(prefix: &str, id: ChangeId) -> String {
    format!("{id} has no window yet: `{prefix}change status {id} scheduled window=<start>..<end>`.")
}

pub fn window_only_when_scheduling() -> String {
    "A window can be set only when scheduling (`… scheduled window=<start>..<end>`).".to_owned()
}

pub fn change_moved(ch: &Change, by: &str, from: ChangeState, reason: Option<&str>) -> String {
    let mut s = format!("{} moved {} from {from} to {}", neutralize(by), ch.id, ch.state);
    if ch.state == ChangeState::Scheduled {
        s.push_str(&format!(" ({})", window_text(ch.window.as_ref())));
    }
    if let Some(r) = reason {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

pub fn change_done(ch: &Change, clashes: &Clashes) -> String {
    with_warning(format!("{} is now {}.", ch.id, ch.state), clashes)
}

/// One line of a change in a list.
fn change_line(ch: &Change) -> String {
    format!(
        "{} {} {} risk {} [{}] {} — {}",
        ch.id,
        ch.state,
        ch.change_type,
        ch.risk,
        ch.service,
        neutralize(&truncate(&ch.title, 80)),
        window_text(ch.window.as_ref())
    )
}

pub fn change_list(what: &str, changes: &[Change], total: i64) -> String {
    if changes.is_empty() {
        return format!("No {what} changes.");
    }
    let mut s = if total > changes.len() as i64 {
        format!("{what} changes ({} of {total}):", changes.len())
    } else {
        format!("{what} changes ({total}):")
    };
    for ch in changes {
        s.push('\n');
        s.push_str(&change_line(ch));
    }
    s
}

/// What a vote looks like to a reader: its board, rules, count and voters.
pub struct VoteView<'a> {
    pub vote: &'a Vote,
    pub tally: Tally,
    /// Voter names with their choice, in voter order.
    pub voters: Vec<(String, Choice)>,
    pub eligible: u32,
}

fn board_name(b: Board) -> &'static str {
    match b {
        Board::Cab => "CAB",
        Board::Ecab => "ECAB",
    }
}

fn tally_text(t: &Tally) -> String {
    format!(
        "{} {} approve · {} {} reject · {} {} abstain",
        Choice::Approve.emoji(),
        t.approve,
        Choice::Reject.emoji(),
        t.reject,
        Choice::Abstain.emoji(),
        t.abstain
    )
}

fn voters_text(v: &[(String, Choice)]) -> String {
    if v.is_empty() {
        return "nobody yet".to_owned();
    }
    v.iter()
        .map(|(n, c)| format!("{} {}", neutralize(n), c.emoji()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rules_text(policy: &Policy, v: &VoteView<'_>) -> String {
    let roles: Vec<String> = v
        .vote
        .rules
        .eligible_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "{} members ({}) may vote, not the requester or implementer · quorum {} of {} ballots (abstentions count) · passes at {}% approve of approve + reject",
        board_name(v.vote.board),
        roles.join(", "),
        v.vote.rules.required_quorum(v.eligible),
        v.eligible,
        (v.vote.rules.threshold * 100.0).round()
    )
}

fn status_text(status: VoteStatus) -> String {
    match status {
        VoteStatus::Open => "open".to_owned(),
        VoteStatus::Closed(o) => format!("closed: {}", outcome_text(o)),
        VoteStatus::Cancelled => "cancelled with the change".to_owned(),
    }
}

fn outcome_text(o: VoteOutcome) -> &'static str {
    match o {
        VoteOutcome::Approved => "approved",
        VoteOutcome::Rejected => "rejected",
        VoteOutcome::NoQuorum => "no quorum (not approved)",
    }
}

/// The vote message's text: the line above the embed.
pub fn vote_text(ch: &Change, v: &VoteView<'_>) -> String {
    let board = board_name(v.vote.board);
    match v.vote.status {
        VoteStatus::Open => format!(
            "{board} vote on {}: {} — react {} approve, {} reject, {} abstain.",
            ch.id,
            neutralize(&truncate(&ch.title, 200)),
            Choice::Approve.emoji(),
            Choice::Reject.emoji(),
            Choice::Abstain.emoji()
        ),
        status => format!(
            "{board} vote on {} {} — {}. Change is {}.",
            ch.id,
            status_text(status),
            neutralize(&truncate(&ch.title, 200)),
            ch.state
        ),
    }
}

/// The vote embed: the change, the rules, the count and who voted.
pub fn vote_card(policy: &Policy, ch: &Change, names: &ChangeNames, v: &VoteView<'_>, clashes: &Clashes) -> Card {
    let tone = match (v.vote.status, ch.state) {
        (_, ChangeState::Cancelled | ChangeState::Rejected) => Tone::P2,
        (VoteStatus::Open, _) => Tone::P4,
        (VoteStatus::Closed(VoteOutcome::Approved), _) => Tone::Done,
        _ => Tone::P2,
    };
    let mut fields = vec![
        ("Change".to_owned(), format!("{} · risk {}", ch.change_type, ch.risk)),
        ("Service".to_owned(), service_name(policy, &ch.service)),
        ("Window".to_owned(), window_text(ch.window.as_ref())),
        ("Requester".to_owned(), neutralize(&names.requester)),
        (
            "Implementer".to_owned(),
            names
                .implementer
                .as_deref()
                .map(neutralize)
                .unwrap_or_else(|| "—".into()),
        ),
        ("Rules".to_owned(), rules_text(policy, v)),
        ("Tally".to_owned(), tally_text(&v.tally)),
        ("Voters".to_owned(), voters_text(&v.voters)),
        ("Vote".to_owned(), status_text(v.vote.status)),
        ("State".to_owned(), ch.state.to_string()),
    ];
    if !clashes.is_empty() {
        fields.push(("Conflicts".to_owned(), clash_warning(clashes)));
    }
    if let Some(r) = &ch.reason {
        fields.push(("Reason".to_owned(), neutralize(&truncate(r, 500))));
    }
    let time = match (v.vote.status, v.vote.closed_at) {
        (VoteStatus::Open, _) | (_, None) => ("Closes".to_owned(), v.vote.closes_at.timestamp()),
        (_, Some(at)) => ("Closed".to_owned(), at.timestamp()),
    };
    Card {
        title: format!("{} · {}", ch.id, neutralize(&truncate(&ch.title, 200))),
        tone,
        fields,
        times: vec![time],
        footer: Some("A recommendation to the change authority. One ballot each: change your reaction to change it, remove it to withdraw.".to_owned()),
    }
}

/// Names shown on a change.
pub struct ChangeNames {
    pub requester: String,
    pub implementer: Option<String>,
}

pub fn vote_opened(policy: &Policy, ch: &Change, v: &VoteView<'_>, clashes: &Clashes) -> String {
    with_warning(
        format!(
            "{} vote on {} is open until {} ({}).",
            board_name(v.vote.board),
            ch.id,
            time(v.vote.closes_at),
            rules_text(policy, v)
        ),
        clashes,
    )
}

pub fn vote_closed_notice(
    policy: &Policy,
    ch: &Change,
    v: &VoteView<'_>,
    clashes: &Clashes,
    late: Option<TimeDelta>,
) -> String {
    let VoteStatus::Closed(outcome) = v.vote.status else {
        return format!(
            "{} vote on {} {}.",
            board_name(v.vote.board),
            ch.id,
            status_text(v.vote.status)
        );
    };
    let late = late
        .map(|d| format!(" (closed {} late: the bot was not running at the deadline)", human(d)))
        .unwrap_or_default();
    let next = if ch.state == ChangeState::CabVote {
        format!(
            " It is a recommendation: `{p}authorize {id}` or `{p}reject {id} <reason>`.",
            p = policy.prefix,
            id = ch.id
        )
    } else {
        format!(" {} is now {}.", ch.id, ch.state)
    };
    with_warning(
        format!(
            "{} vote on {} closed: {}{late}. {} (quorum {} of {}). Voters: {}.{next}",
            board_name(v.vote.board),
            ch.id,
            outcome_text(outcome),
            tally_text(&v.tally),
            v.vote.rules.required_quorum(v.eligible),
            v.eligible,
            voters_text(&v.voters)
        ),
        clashes,
    )
}

pub fn ballot_counted(ch: &Change, choice: Choice, switched_from: Option<Choice>, v: &VoteView<'_>) -> String {
    let what = match switched_from {
        Some(from) => format!("changed from {from} to {choice}"),
        None => format!("counted: {choice}"),
    };
    let closed = match v.vote.status {
        VoteStatus::Closed(o) => format!(" The vote is now closed: {}.", outcome_text(o)),
        _ => String::new(),
    };
    format!("Your ballot on {} is {what} ({}).{closed}", ch.id, tally_text(&v.tally))
}

pub fn ballot_withdrawn(ch: &Change, v: &VoteView<'_>) -> String {
    format!("Your ballot on {} is withdrawn ({}).", ch.id, tally_text(&v.tally))
}

pub fn vote_is_closed(ch: &Change, status: VoteStatus) -> String {
    format!(
        "The vote on {} is {}; reactions no longer count. Your reaction was removed.",
        ch.id,
        status_text(status)
    )
}

pub fn vote_ineligible(ch: &Change, e: &Ineligible) -> String {
    format!("Your reaction on {} was removed: {e}.", ch.id)
}

pub fn no_vote_for_standard(id: ChangeId) -> String {
    format!("{id} is a standard change: it is pre-approved and needs no vote.")
}

pub fn vote_already(id: ChangeId, status: VoteStatus) -> String {
    format!("{id} already had its vote ({}).", status_text(status))
}

pub fn vote_still_open(id: ChangeId, closes_at: DateTime<Utc>) -> String {
    format!(
        "The vote on {id} is still open (it closes at {}, or earlier once the outcome is certain); decide after it closes.",
        time(closes_at)
    )
}

pub fn vote_needed(prefix: &str, id: ChangeId) -> String {
    format!("{id} has not been voted on: call the vote first with `{prefix}cab {id}`.")
}

pub fn bad_deadline(given: TimeDelta, min: TimeDelta, max: TimeDelta) -> String {
    format!(
        "A vote deadline of {} is out of range: give between {} and {}.",
        human(given),
        human(min),
        human(max)
    )
}

pub fn own_change_authority(id: ChangeId) -> String {
    format!("You requested {id}, so you cannot authorize it (segregation of duties): another change manager must.")
}

pub fn change_decided(ch: &Change, by: &str, authorized: bool) -> String {
    let verb = if authorized { "authorized" } else { "rejected" };
    let mut s = format!("{} {verb} {}", neutralize(by), ch.id);
    if ch.state == ChangeState::Scheduled {
        s.push_str(&format!("; it is scheduled for {}", window_text(ch.window.as_ref())));
    }
    if let Some(r) = ch.reason.as_deref().filter(|_| !authorized) {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

pub fn change_auto_authorized(ch: &Change) -> String {
    format!(
        "{} is a low-risk normal change and its vote passed, so it is authorized by config (change.auto_authorize_low_risk); it is now {}.",
        ch.id, ch.state
    )
}

pub fn planned_outage_notice(policy: &Policy, ch: &Change, late: Option<TimeDelta>) -> String {
    let late = late
        .map(|d| format!(" (This notice is {} late: the bot was not running.)", human(d)))
        .unwrap_or_default();
    format!(
        "Planned outage: {} may be unavailable {} for an authorized change ({}: {}).{late}",
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
        ch.id,
        neutralize(&truncate(&ch.title, 200))
    )
}

pub fn change_show(
    policy: &Policy,
    ch: &Change,
    names: &ChangeNames,
    vote: Option<&VoteView<'_>>,
    history: &[AuditRow],
) -> String {
    let mut s =
        format!(
        "**{}** · {} change · risk {} · {}\n{}\nService {} · {}\nRequester {} · implementer {}\nFiled {} · updated {}",
        ch.id,
        ch.change_type,
        ch.risk,
        ch.state,
        neutralize(&ch.title),
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
        neutralize(&names.requester),
        names.implementer.as_deref().map(neutralize).unwrap_or_else(|| "—".into()),
        time(ch.created_at),
        time(ch.updated_at),
    );
    if let Some(r) = &ch.reason {
        s.push_str(&format!("\nReason: {}", neutralize(r)));
    }
    if let Some(v) = vote {
        s.push_str(&format!(
            "\n{} vote {}: {}; voters: {}",
            board_name(v.vote.board),
            status_text(v.vote.status),
            tally_text(&v.tally),
            voters_text(&v.voters)
        ));
    }
    push_history(&mut s, history);
    s
}

/// A duration as people say it: `2h 5m`, `45s`.
pub fn human(d: TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if mins > 0 {
        parts.push(format!("{mins}m"));
    }
    if parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
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
        for raw in [
            "@everyone",
            "@here",
            "<@1>",
            "<@!1>",
            "<@&1>",
            "@\u{200D}everyone",
            "@EveryOne",
        ] {
            let out = neutralize(raw);
            assert!(
                !out.to_lowercase().contains("@everyone") && !out.contains("@here"),
                "{raw}"
            );
            assert!(!out.contains("<@"), "{raw}");
        }
    }

    #[test]
    fn addresses_and_handles_stay_as_typed() {
        for raw in [
            "bob@example.com",
            "mail bob@example.com or @bob",
            "@alice, @carlos.",
            "a@b",
            "x <= y @ 3",
        ] {
            assert_eq!(neutralize(raw), raw);
        }
        assert_eq!(
            neutralize("ops@here.org"),
            "ops@\u{200B}here.org",
            "Discord pings @here anywhere"
        );
    }

    #[test]
    fn bidirectional_overrides_are_shown_neutralised() {
        let evil = "invoice\u{202E}fdp.exe\u{202C} and \u{2066}x\u{2069} \u{202A}\u{202B}\u{202D}\u{2067}\u{2068}";
        let shown = neutralize(evil);
        assert!(!shown.chars().any(is_bidi_control), "{shown:?}");
        assert_eq!(shown.matches('\u{FFFD}').count(), 9, "{shown:?}");
        assert!(shown.starts_with("invoice\u{FFFD}fdp.exe"), "{shown:?}");
        // Right-to-left text itself is not an override, and stays.
        assert_eq!(neutralize("שלום"), "שלום");
    }

    #[test]
    fn outage_notices_stay_within_the_message_limit_and_never_ping_from_user_text() {
        use crate::domain::outage::{OutageId, OutageState};
        let policy = Policy::defaults();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let long = format!("@everyone <@&1> {}", "é".repeat(1200));
        let mut o = Outage {
            id: OutageId::from_row(1),
            service: "email".into(),
            impact: OutageImpact::Major,
            summary: long.clone(),
            state: OutageState::Active,
            declared_by: crate::domain::UserId::new(1),
            started_at: t0,
            updated_at: t0,
            resolved_at: None,
            latest: None,
        };
        o.resolve(t0 + chrono::TimeDelta::minutes(95)).unwrap();
        let texts = [
            outage_dm(&policy, &o, NoticeKind::Declare, &long),
            outage_dm(&policy, &o, NoticeKind::Update, &long),
            outage_dm(&policy, &o, NoticeKind::Resolve, &long),
            outage_card_text(&policy, &o),
            outage_update_post(&policy, &o, &long, "@here"),
            outage_all_clear(&policy, &o, &long),
            outage_for_role(&policy, Action::OutageResolve, &o, "x", &long, true),
            status_board(&policy, std::slice::from_ref(&o), t0),
        ];
        for t in &texts {
            assert!(t.chars().count() <= MESSAGE_LIMIT, "{}", t.chars().count());
            assert!(
                !t.contains("@everyone") && !t.contains("@here") && !t.contains("<@"),
                "{t}"
            );
        }
        assert!(texts[2].contains("resolved after 1h 35m"), "{}", texts[2]);
        let card = outage_card(&policy, &o, "@everyone");
        assert!(card
            .fields
            .iter()
            .all(|(_, v)| v.chars().count() <= 1024 && !v.contains("@everyone")));
        assert_eq!(card.tone, Tone::Done);
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
    fn the_full_command_list_fits_one_message() {
        let all: Vec<&CommandSpec> = crate::command::COMMANDS.iter().collect();
        let text = help_list("!", &all);
        assert!(text.chars().count() < MESSAGE_LIMIT, "{}", text.chars().count());
        assert!(!text.ends_with('…'));
    }

    /// The parts put together without their markers, and a check that every
    /// part fits and every part but the last is marked.
    fn rejoin(parts: &[String], max: usize) -> String {
        let last = parts.len() - 1;
        let mut whole = String::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.chars().count() <= max, "part {i} has {} chars", p.chars().count());
            if i < last {
                whole.push_str(
                    p.strip_suffix(MORE)
                        .unwrap_or_else(|| panic!("part {i} is not marked: {p:?}")),
                );
            } else {
                assert!(!p.ends_with(MORE), "the last part is marked: {p:?}");
                whole.push_str(p);
            }
        }
        whole
    }

    #[test]
    fn text_within_the_limit_is_one_unmarked_message() {
        assert_eq!(split("", 2000), vec![String::new()]);
        let exact = "é".repeat(2000);
        assert_eq!(split(&exact, 2000), vec![exact.clone()]);
        assert_eq!(truncate(&"x".repeat(4500), 2000).chars().count(), 2000);
    }

    #[test]
    fn long_text_is_split_at_line_breaks_with_nothing_lost() {
        let cases: Vec<(&str, String)> = vec![
            (
                "many short lines",
                (0..300).map(|i| format!("• note {i}: restarted the MTA\n")).collect(),
            ),
            (
                "no final newline",
                (0..100)
                    .map(|i| format!("line {i} {}", "ab".repeat(20)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "multi-byte text and quotes",
                (0..200).map(|i| format!("> {i} ünïcødé 👍🏽 text\n")).collect(),
            ),
            ("blank lines", "a\n\n\n".repeat(900)),
        ];
        for (what, text) in cases {
            let parts = split(&text, MESSAGE_LIMIT);
            assert!(parts.len() > 1, "{what}: {}", parts.len());
            assert_eq!(rejoin(&parts, MESSAGE_LIMIT), text, "{what}");
            // Lines that fit are never broken: each part but the last ends a line.
            for p in &parts[..parts.len() - 1] {
                assert!(p.strip_suffix(MORE).unwrap().ends_with('\n'), "{what}: {p:?}");
            }
        }
    }

    #[test]
    fn a_single_over_long_line_is_cut_safely_on_a_char_boundary() {
        let cases: Vec<(&str, String)> = vec![
            ("one word, ascii", "x".repeat(4500)),
            ("one word, multi-byte", "é👍".repeat(2100)),
            ("prose", "the resolver cache was flushed ".repeat(200)),
            (
                "long line between short ones",
                format!("head\n{}\ntail\n", "ß".repeat(5000)),
            ),
        ];
        for (what, text) in cases {
            let parts = split(&text, MESSAGE_LIMIT);
            assert!(parts.len() >= 2, "{what}");
            assert_eq!(rejoin(&parts, MESSAGE_LIMIT), text, "{what}");
        }
        // Prose is cut after a space, not inside a word.
        let parts = split(&"the resolver cache was flushed ".repeat(200), MESSAGE_LIMIT);
        assert!(
            parts[0].strip_suffix(MORE).unwrap().ends_with("flushed "),
            "{:?}",
            &parts[0]
        );
        // Tiny limits still make progress and lose nothing.
        for max in [0, 1, 5, 15, 16] {
            let text = "ab cd\nef\n";
            let parts = split(text, max);
            let whole: String = parts.iter().map(|p| p.strip_suffix(MORE).unwrap_or(p)).collect();
            assert_eq!(whole, text, "max {max}");
        }
    }
}

pub mod access;
pub mod routing;
pub use access::*;
pub use routing::*;
