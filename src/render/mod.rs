//! Every sentence a user reads, one function each, so wording, platform limits
//! and mention safety are handled in one place.
//!
//! Text that users typed is passed through [`neutralize`] before it is shown:
//! `@everyone`, `@here` and mention syntax are displayed, never fired; any other
//! `@` (an e-mail address, a handle) stays as typed, and bidirectional override
//! characters are shown as U+FFFD.
//!
//! The sentences live in one module per record kind, named for the desk file
//! that says them: `incident`, `lifecycle` (corrections, links, holds and
//! cancels), `sla`, `escalation`, `survey`, `outage`, `change`, `cab` and
//! `info`; `queue` holds the incident queues (`!incidents`) and `!search`;
//! `access` holds who-may sentences (refusals by
//! party, `!whoami`) and `routing` the RACI fan-out's questions and `!whois`.
//! This module keeps what several kinds (or the
//! adapters) share: mention safety, cutting and splitting to the platform's
//! limits, labels for users, roles, services, times and durations, the answers
//! any command may get (usage, unknown command, not saved, unexpected), the
//! SLA view, and the vote, window and clash wording that change requests and
//! CAB votes both show. Every kind's public items are re-exported here, so
//! callers write `render::foo` whichever module holds it. The kind modules
//! import from this module and the layers below it, never from each other.
//!
//! Render reads domain, config, command and message types only: never the
//! store (its rows become domain types there) or the desk.

use chrono::{DateTime, TimeDelta, Utc};

use crate::command::UsageError;
use crate::config::Policy;
use crate::domain::audit::AuditEntry;
use crate::domain::cab::{Board, Choice, Outcome as VoteOutcome, Tally, Vote, VoteStatus};
use crate::domain::change::{ChangeId, InvalidTransition as ChangeTransitionError, Window};
use crate::domain::fault::WriteFault;
use crate::domain::incident::Incident;
use crate::domain::sla::{format_duration, ClockKind, ClockState, Remaining, TimeBasis};
use crate::domain::RoleKey;

mod access;
mod alert;
mod cab;
mod change;
mod chart;
mod controls;
mod delivery;
mod escalation;
pub mod history;
mod incident;
mod info;
mod lifecycle;
mod outage;
mod problem;
mod queue;
mod report;
mod routing;
mod sla;
mod survey;

pub use access::*;
pub use alert::*;
pub use cab::*;
pub use change::*;
pub use chart::*;
pub use controls::*;
pub use delivery::*;
pub use escalation::*;
pub use incident::*;
pub use info::*;
pub use lifecycle::*;
pub use outage::*;
pub use problem::*;
pub use queue::*;
pub use report::*;
pub use routing::*;
pub use sla::*;
pub use survey::*;

// ── Mention safety and the platform's limits ──

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

// ── Labels and phrases every kind uses ──

/// How a user is named in text: their display name, else their id.
pub fn user_label(name: Option<&str>, id: crate::domain::UserId) -> String {
    match name {
        Some(n) => neutralize(n),
        None => format!("user {id}"),
    }
}

fn role_label(policy: &Policy, role: &RoleKey) -> String {
    match policy.role(role) {
        Some(r) => format!("{} (#{})", r.name, r.channel),
        None => role.to_string(),
    }
}

pub fn service_name(policy: &Policy, key: &str) -> String {
    policy
        .service(key)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| key.to_owned())
}

fn user_text(text: &str, max: usize) -> String {
    neutralize(&truncate(text, max))
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A report's period as its title and its chart show it: both ends, UTC.
pub fn report_period(p: &crate::domain::report::Period) -> String {
    format!(
        "{} – {}",
        p.from.format("%Y-%m-%d %H:%M"),
        p.to.format("%Y-%m-%d %H:%M UTC")
    )
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

/// ` Reason: <reason>.` (ending the sentence unless the reason already does).
fn reason_suffix(reason: Option<&str>) -> String {
    reason
        .map(|r| {
            let stop = if r.ends_with(['.', '!', '?']) { "" } else { "." };
            format!(" Reason: {}{stop}", neutralize(r))
        })
        .unwrap_or_default()
}

/// Appends the latest of a record's audit history (oldest first) to a
/// `!show` answer, saying how many earlier entries it leaves out.
fn push_history(s: &mut String, trail: &Trail<'_>) {
    if trail.entries.is_empty() {
        return;
    }
    s.push('\n');
    s.push_str(&history::history_heading(
        trail.prefix,
        trail.subject,
        trail.entries.len(),
        trail.total,
    ));
    for h in trail.entries {
        s.push_str(&format!("\n• {}", history::line(h, trail.now)));
    }
}

/// The latest entries of a record's audit trail, as `!show` prints them.
pub struct Trail<'a> {
    pub prefix: &'a str,
    /// The record, as its id reads (`INC-3`).
    pub subject: &'a str,
    /// The latest entries, oldest first.
    pub entries: &'a [AuditEntry],
    /// How many entries the record has in all.
    pub total: usize,
    /// The moment of the answer (dates in another year show it).
    pub now: DateTime<Utc>,
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

// ── Answers any command may get ──

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

pub fn text_refused(e: &crate::domain::text::TextError) -> String {
    format!("{}.", capitalize(&e.to_string()))
}

pub fn not_open(inc: &Incident, what: &str) -> String {
    format!("{} is {}: only open incidents can be {what}.", inc.id, inc.state)
}

pub fn unexpected() -> String {
    "Something went wrong on my side; nothing was changed. The error is logged.".to_owned()
}

/// The answer to a command the database could not store.
pub fn not_saved(fault: WriteFault) -> String {
    let why = match fault {
        WriteFault::DiskFull => "disk full",
        WriteFault::Locked => "it is locked by another process",
        WriteFault::Io => "the disk reported an I/O error",
        WriteFault::ReadOnly => "the file is read-only",
    };
    format!("Not saved: the database cannot be written: {why} — nothing was changed. Please try again shortly; the operators can see this in the log.")
}

// ── The SLA view: filled by the SLA clocks, shown on the incident card and `!show` ──

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
    /// Whether the clocks count calendar or business time (how they are worded).
    pub basis: TimeBasis,
    pub clocks: Vec<ClockView>,
    /// The support tier (0 = first line) and how many tiers the chain has.
    pub tier: i64,
    pub tiers: usize,
    /// The role of the hierarchical rung reached, if escalated up.
    pub escalated_to: Option<String>,
    pub major_since: Option<DateTime<Utc>>,
}

// ── How SLA time is worded wherever it is shown (card, `!show`, the queue,
// notices, the intake reply): a 24×7 target in calendar time (`4h`), a
// business-hours one in business time (`24 business hours (3 business days)`).

/// A span of SLA time: calendar wording for 24×7 (`7h 30m`), business time
/// for business hours (`7 business hours 30m`, `45 business minutes`).
pub fn sla_span(d: TimeDelta, basis: TimeBasis) -> String {
    if basis == TimeBasis::Calendar {
        return format_duration(d);
    }
    let secs = d.num_seconds().max(0);
    let (hours, mins, rest) = (secs / 3_600, secs / 60 % 60, secs % 60);
    let plural = |n: i64, unit: &str| format!("{n} business {unit}{}", if n == 1 { "" } else { "s" });
    match (hours, mins) {
        (0, 0) if rest > 0 => plural(rest, "second"),
        (0, 0) => plural(0, "hour"),
        (0, m) => plural(m, "minute"),
        (h, 0) => plural(h, "hour"),
        (h, m) => format!("{} {m}m", plural(h, "hour")),
    }
}

/// A target: [`sla_span`], and for business time that is whole business days
/// the days as well (`24 business hours (3 business days)`).
pub fn sla_target(d: TimeDelta, basis: TimeBasis) -> String {
    let span = sla_span(d, basis);
    match basis {
        TimeBasis::Business { day } if day > TimeDelta::zero() && d >= day => {
            let (secs, day_secs) = (d.num_seconds(), day.num_seconds());
            if secs % day_secs == 0 {
                let days = secs / day_secs;
                format!("{span} ({days} business day{})", if days == 1 { "" } else { "s" })
            } else {
                span
            }
        }
        _ => span,
    }
}

/// When something falls due, as people read it: `Thu 4 Dec 17:00 UTC`.
pub fn due_time(at: DateTime<Utc>) -> String {
    at.format("%a %-d %b %H:%M UTC").to_string()
}

/// Where a live clock stands: `3 business hours left · due Thu 4 Dec 17:00 UTC`,
/// or `breached by 20m · was due …`.
fn standing(remaining: Remaining, due: Option<DateTime<Utc>>, basis: TimeBasis) -> String {
    match (remaining, due) {
        (Remaining::Left(left), Some(at)) => format!("{} left · due {}", sla_span(left, basis), due_time(at)),
        (Remaining::Left(left), None) => format!("{} left", sla_span(left, basis)),
        (Remaining::Breached { by }, Some(at)) => {
            format!("breached by {} · was due {}", sla_span(by, basis), due_time(at))
        }
        (Remaining::Breached { by }, None) => format!("breached by {}", sla_span(by, basis)),
    }
}

fn clock_name(kind: ClockKind) -> &'static str {
    match kind {
        ClockKind::Response => "response",
        ClockKind::Resolution => "resolution",
    }
}

// ── Shared by change requests and CAB votes ──

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

/// Names shown on a change.
pub struct ChangeNames {
    pub requester: String,
    pub implementer: Option<String>,
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

pub fn invalid_change_move(id: ChangeId, e: &ChangeTransitionError) -> String {
    format!("{id}: {e}.")
}

pub fn no_vote_for_standard(id: ChangeId) -> String {
    format!("{id} is a standard change: it is pre-approved and needs no vote.")
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

    // ----- SLA time -----

    const OFFICE: TimeBasis = TimeBasis::Business {
        day: TimeDelta::hours(8),
    };

    #[test]
    fn business_time_is_worded_as_business_time_and_calendar_time_as_calendar_time() {
        let h = TimeDelta::hours;
        let cases = [
            (
                "a P3 resolution target",
                h(24),
                OFFICE,
                "24 business hours (3 business days)",
            ),
            (
                "a P5 resolution target",
                h(80),
                OFFICE,
                "80 business hours (10 business days)",
            ),
            (
                "a P4 response target",
                h(8),
                OFFICE,
                "8 business hours (1 business day)",
            ),
            ("a P3 response target", h(4), OFFICE, "4 business hours"),
            ("part of a day more than a day", h(12), OFFICE, "12 business hours"),
            ("one hour", h(1), OFFICE, "1 business hour"),
            (
                "hours and minutes",
                h(7) + TimeDelta::minutes(30),
                OFFICE,
                "7 business hours 30m",
            ),
            ("minutes only", TimeDelta::minutes(45), OFFICE, "45 business minutes"),
            ("seconds only", TimeDelta::seconds(5), OFFICE, "5 business seconds"),
            ("nothing yet", TimeDelta::zero(), OFFICE, "0 business hours"),
            ("a 24×7 day", h(24), TimeBasis::Calendar, "1d"),
            ("a 24×7 target", h(4), TimeBasis::Calendar, "4h"),
            ("a 24×7 P5 would read", h(80), TimeBasis::Calendar, "3d 8h"),
        ];
        for (what, d, basis, expected) in cases {
            assert_eq!(sla_target(d, basis), expected, "{what}");
        }
        assert_eq!(sla_span(h(24), OFFICE), "24 business hours", "a span never adds days");
    }

    #[test]
    fn a_due_time_names_the_weekday_and_the_date() {
        let at: DateTime<Utc> = "2026-12-04T17:00:00Z".parse().unwrap();
        assert_eq!(due_time(at), "Fri 4 Dec 17:00 UTC");
        assert_eq!(
            standing(Remaining::Left(TimeDelta::hours(24)), Some(at), OFFICE),
            "24 business hours left · due Fri 4 Dec 17:00 UTC"
        );
        assert_eq!(
            standing(
                Remaining::Breached {
                    by: TimeDelta::minutes(20)
                },
                Some(at),
                TimeBasis::Calendar
            ),
            "breached by 20m · was due Fri 4 Dec 17:00 UTC"
        );
    }
}
