//! The audit trail in words: the phrases audit rows store, and the lines
//! `!show` and `!history` print from them.
//!
//! **The convention.** An audit row's `details` is a [`Phrase`] completing
//! "<actor> …" — `took it`, `assigned it to erin`, `moved it from new to in
//! progress: waiting for logs`, `escalated it to Network Support` — built by
//! one function of this module when the action is written (`tx.record`).
//! A history line is then `<when> · <actor name> <phrase>`, the system actor
//! reading `opsdesk`, and nobody parses the words back: a rule that needs to
//! know what happened reads the record's own columns, not its audit text.
//! Phrases speak the reader's words: role and service names (`Service Desk`,
//! `Email`), states as words (`in progress`), durations as people say them,
//! and times as [`when`] writes them (`Tue 2 Dec 09:14 UTC`). User text in a
//! phrase (a reason, a note) is stored as typed and neutralized when shown.
//!
//! Rows written before the convention hold free text (`assignee=sam
//! state=assigned`); they are shown as stored after the actor's name.

use chrono::{DateTime, Datelike, TimeDelta, Utc};

use crate::config::Policy;
use crate::domain::audit::{AuditEntry, Details, Phrase};
use crate::domain::cab::{Board, Choice, Outcome as VoteOutcome, Tally};
use crate::domain::change::{Change, ChangeState, Window};
use crate::domain::incident::{HoldReason, Incident, IncidentId, State};
use crate::domain::outage::{OutageId, OutageImpact, Subscribed};
use crate::domain::priority::Priority;
use crate::domain::sla::{format_duration, ClockKind, Threshold};
use crate::domain::RoleKey;

use super::{board_name, human, neutralize, outcome_text, service_name, truncate, user_label, window_text};

/// The longest a history line's phrase is shown (a long reason is cut).
const PHRASE_SHOWN: usize = 200;

/// `: <reason>` when there is one.
fn because(reason: Option<&str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

/// A change's state in words (`CAB vote`, `implementing`).
fn change_state_words(s: ChangeState) -> String {
    match s {
        ChangeState::CabVote => "CAB vote".to_owned(),
        other => other.as_str().replace('_', " "),
    }
}

/// A moment as a history line shows it: `Tue 2 Dec 09:14 UTC`, with the
/// year when it is not the year of `now`.
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.year() == now.year() {
        at.format("%a %-d %b %H:%M UTC").to_string()
    } else {
        at.format("%a %-d %b %Y %H:%M UTC").to_string()
    }
}

/// One history line: `Tue 2 Dec 09:14 UTC · sam took it`.
pub fn line(entry: &AuditEntry, now: DateTime<Utc>) -> String {
    let who = match entry.actor {
        None => "opsdesk".to_owned(),
        Some(id) => user_label(entry.actor_name.as_deref(), id),
    };
    let what = match &entry.details {
        Details::Phrase(p) => neutralize(&truncate(p.as_str(), PHRASE_SHOWN)),
        Details::Legacy(text) => format!(
            "({}) {}",
            entry.action.replace('_', " "),
            neutralize(&truncate(text, PHRASE_SHOWN))
        ),
    };
    format!("{} · {who} {what}", when(entry.at, now))
}

/// `!history` of one record: a page of its whole trail, oldest first.
pub fn history_page(
    prefix: &str,
    subject: &str,
    entries: &[AuditEntry],
    page: u32,
    page_size: u32,
    total: i64,
    now: DateTime<Utc>,
) -> String {
    let pages = pages(total, page_size);
    let first = i64::from(page.saturating_sub(1)) * i64::from(page_size) + 1;
    let last = first + entries.len() as i64 - 1;
    let mut s =
        format!("History of {subject}, oldest first: entries {first}–{last} of {total} (page {page} of {pages})");
    for e in entries {
        s.push_str(&format!("\n• {}", line(e, now)));
    }
    if page < pages {
        s.push_str(&format!("\nMore: `{prefix}history {subject} page={}`.", page + 1));
    }
    s
}

/// How many pages `total` entries fill (at least one).
pub fn pages(total: i64, page_size: u32) -> u32 {
    let size = i64::from(page_size.max(1));
    u32::try_from(((total + size - 1) / size).max(1)).unwrap_or(u32::MAX)
}

pub fn no_history(subject: &str) -> String {
    format!("{subject} has no history yet.")
}

pub fn history_page_out_of_range(prefix: &str, subject: &str, page: u32, pages: u32) -> String {
    format!(
        "{subject} has {pages} page{} of history; there is no page {page}. Try `{prefix}history {subject} page={pages}`.",
        if pages == 1 { "" } else { "s" }
    )
}

/// The header of the history part of `!show`, saying what it leaves out.
pub fn history_heading(prefix: &str, subject: &str, shown: usize, total: usize) -> String {
    let earlier = total.saturating_sub(shown);
    match earlier {
        0 => "History:".to_owned(),
        1 => format!("History (1 earlier entry left out; `{prefix}history {subject}` shows the whole trail):"),
        n => format!("History ({n} earlier entries left out; `{prefix}history {subject}` shows the whole trail):"),
    }
}

// ── Incidents ──

/// Logging an incident (by command or 🎫 for someone else's message).
pub fn logged(policy: &Policy, inc: &Incident, for_reporter: Option<&str>, outage: Option<OutageId>) -> Phrase {
    let what = if inc.category.as_deref() == Some(policy.security_category.as_str()) {
        "a security incident"
    } else {
        "it"
    };
    let reporter = for_reporter.map(|r| format!(" for {r}")).unwrap_or_default();
    let service = inc
        .service
        .as_deref()
        .map(|s| format!(" on {}", service_name(policy, s)))
        .unwrap_or_default();
    let outage = outage
        .map(|o| format!("; part of known outage {o}"))
        .unwrap_or_default();
    Phrase::new(format!(
        "logged {what}{reporter} as {} (impact {} × urgency {}){service}, for {}{outage}",
        inc.priority,
        inc.impact,
        inc.urgency,
        policy.role_name(&inc.handler_role),
    ))
}

pub fn took_it() -> Phrase {
    Phrase::new("took it")
}

pub fn assigned_to(name: &str) -> Phrase {
    Phrase::new(format!("assigned it to {name}"))
}

/// A lifecycle move: resolving, closing and reopening have their own verbs.
pub fn moved(from: State, to: State, reason: Option<&str>) -> Phrase {
    let words = match (from, to) {
        // Resolved before anyone started: the passage through in progress is recorded.
        (State::New | State::Assigned, State::Resolved) => format!(
            "resolved it straight from {} (passing through in progress){}",
            from.words(),
            because(reason)
        ),
        (_, State::Resolved) => format!("resolved it{}", because(reason)),
        (_, State::Closed) => format!("closed it{}", because(reason)),
        (_, State::Cancelled) => format!("cancelled it{}", because(reason)),
        (State::Resolved, State::InProgress) => format!("reopened it{}", because(reason)),
        _ => format!("moved it from {} to {}{}", from.words(), to.words(), because(reason)),
    };
    Phrase::new(words)
}

pub fn reprioritized(from: Priority, inc: &Incident, reason: Option<&str>) -> Phrase {
    Phrase::new(format!(
        "re-prioritised it from {from} to {} (impact {} × urgency {}){}",
        inc.priority,
        inc.impact,
        inc.urgency,
        because(reason)
    ))
}

/// On hold, with what it waits for.
pub fn held(kind: HoldReason, reason: Option<&str>) -> Phrase {
    Phrase::new(format!("put it on hold, {}{}", kind.words(), because(reason)))
}

/// `!edit`: the corrections, old → new.
pub fn corrected(list: &[super::Correction]) -> Phrase {
    Phrase::new(super::edited_phrase(list))
}

pub fn linked_related(other: IncidentId) -> Phrase {
    Phrase::new(format!("linked it to {other} as related"))
}

pub fn marked_duplicate(of: IncidentId) -> Phrase {
    Phrase::new(format!("marked it a duplicate of {of}"))
}

pub fn made_parent(children: &[IncidentId]) -> Phrase {
    let list: Vec<String> = children.iter().map(ToString::to_string).collect();
    Phrase::new(format!("made it the parent of {}", list.join(", ")))
}

pub fn linked_to_outage(outage: OutageId) -> Phrase {
    Phrase::new(format!("linked it to {outage}"))
}

/// Declaring an outage linked the service's recent open incidents.
pub fn linked_incidents(ids: &[IncidentId]) -> Phrase {
    let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Phrase::new(format!("linked {} to it", list.join(", ")))
}

pub fn noted(body: &str) -> Phrase {
    Phrase::new(format!("added a note: {body}"))
}

pub fn acknowledged(elapsed: TimeDelta, target: TimeDelta) -> Phrase {
    Phrase::new(format!(
        "acknowledged it after {} (response target {})",
        format_duration(elapsed),
        format_duration(target)
    ))
}

/// An SLA threshold reached (the desk's own action).
pub fn sla_threshold(
    kind: ClockKind,
    threshold: Threshold,
    elapsed: TimeDelta,
    target: TimeDelta,
    late_by: Option<TimeDelta>,
) -> Phrase {
    let clock = match kind {
        ClockKind::Response => "response",
        ClockKind::Resolution => "resolution",
    };
    let what = match threshold {
        Threshold::Warning(p) => format!("warned that {}% of the {clock} target was used", p.get()),
        Threshold::Breach => format!("recorded a breach of the {clock} target"),
    };
    let late = late_by
        .map(|l| format!("; {} late", format_duration(l)))
        .unwrap_or_default();
    Phrase::new(format!(
        "{what} ({} of {}{late})",
        format_duration(elapsed),
        format_duration(target)
    ))
}

// ── Escalation ──

pub fn escalated(
    policy: &Policy,
    from: &RoleKey,
    to: &RoleKey,
    tier: i64,
    tiers: usize,
    reason: Option<&str>,
) -> Phrase {
    Phrase::new(format!(
        "escalated it to {} (tier {} of {tiers}, from {}){}",
        policy.role_name(to),
        tier + 1,
        policy.role_name(from),
        because(reason)
    ))
}

pub fn escalated_up(policy: &Policy, to: &RoleKey, reason: Option<&str>) -> Phrase {
    Phrase::new(format!(
        "escalated it up to {}{}",
        policy.role_name(to),
        because(reason)
    ))
}

pub fn asked_for_escalation(policy: &Policy, handler: &RoleKey, reason: Option<&str>) -> Phrase {
    Phrase::new(format!(
        "asked {} to escalate it{}",
        policy.role_name(handler),
        because(reason)
    ))
}

pub fn declared_major(reason: Option<&str>) -> Phrase {
    Phrase::new(format!("declared it a major incident{}", because(reason)))
}

pub fn reverted_major(reason: &str) -> Phrase {
    Phrase::new(format!("reverted it to an ordinary incident: {reason}"))
}

// ── Outages ──

fn impact_words(impact: OutageImpact) -> String {
    impact.to_string().replace('_', " ")
}

pub fn outage_declared(policy: &Policy, service: &str, impact: OutageImpact, summary: &str) -> Phrase {
    Phrase::new(format!(
        "declared an outage of {} ({}): {summary}",
        service_name(policy, service),
        impact_words(impact)
    ))
}

pub fn outage_updated(impact: Option<(OutageImpact, OutageImpact)>, text: &str) -> Phrase {
    let impact = impact
        .map(|(before, after)| format!(" (impact {} → {})", impact_words(before), impact_words(after)))
        .unwrap_or_default();
    Phrase::new(format!("updated it{impact}: {text}"))
}

pub fn outage_resolved(after: &str, text: &str) -> Phrase {
    Phrase::new(format!("resolved it after {after}: {text}"))
}

/// On a linked incident, when its outage is resolved and it stays open.
pub fn outage_over(outage: OutageId, state: State) -> Phrase {
    Phrase::new(format!("resolved {outage}; this incident stays {}", state.words()))
}

pub fn subscribed(policy: &Policy, service: &str, how: Subscribed) -> Phrase {
    let name = service_name(policy, service);
    Phrase::new(match how {
        Subscribed::New => format!("subscribed to {name}"),
        Subscribed::Reenabled => format!("subscribed to {name} again (was unreachable)"),
        Subscribed::Already => format!("was already subscribed to {name}"),
    })
}

pub fn unsubscribed(policy: &Policy, service: &str) -> Phrase {
    Phrase::new(format!("unsubscribed from {}", service_name(policy, service)))
}

// ── Changes and CAB votes ──

pub fn change_filed(policy: &Policy, ch: &Change, clash: Option<&str>) -> Phrase {
    let clash = clash.map(|c| format!(" {c}")).unwrap_or_default();
    Phrase::new(format!(
        "filed it: a {} change, risk {}, on {}, window {}{clash}",
        ch.change_type,
        ch.risk,
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
    ))
}

pub fn change_cancelled(from: ChangeState, reason: Option<&str>) -> Phrase {
    Phrase::new(format!(
        "cancelled it (it was {}){}",
        change_state_words(from),
        because(reason)
    ))
}

pub fn change_moved(from: ChangeState, to: ChangeState, window: Option<&Window>, reason: Option<&str>) -> Phrase {
    let window = window
        .map(|w| format!(", window {}", window_text(Some(w))))
        .unwrap_or_default();
    Phrase::new(format!(
        "moved it from {} to {}{window}{}",
        change_state_words(from),
        change_state_words(to),
        because(reason)
    ))
}

/// `!authorize` / `!reject`.
pub fn change_decided(authorized: bool, from: ChangeState, reason: Option<&str>) -> Phrase {
    let verb = if authorized { "authorized" } else { "rejected" };
    Phrase::new(format!(
        "{verb} it (it was {}){}",
        change_state_words(from),
        because(reason)
    ))
}

pub fn change_auto_authorized() -> Phrase {
    Phrase::new("authorized it after the vote (change.auto_authorize_low_risk)")
}

pub fn implementer_set(name: &str, before: Option<&str>) -> Phrase {
    match before {
        Some(b) => Phrase::new(format!("made {name} its implementer (was {b})")),
        None => Phrase::new(format!("made {name} its implementer")),
    }
}

pub fn review_noted(text: &str) -> Phrase {
    Phrase::new(format!("wrote its post-implementation review: {}", truncate(text, 300)))
}

pub fn window_started() -> Phrase {
    Phrase::new("prompted the implementer as its window started".to_owned())
}

pub fn window_ended(state: ChangeState) -> Phrase {
    match state {
        ChangeState::Implementing => Phrase::new("asked for its review as its window ended".to_owned()),
        _ => Phrase::new("reported its window missed to the change manager".to_owned()),
    }
}

pub fn digest_posted(channel: &str) -> Phrase {
    Phrase::new(format!("posted the scheduled report digest in #{channel}"))
}

pub fn vote_reminded(count: usize) -> Phrase {
    Phrase::new(format!("reminded {count} member(s) who had not voted"))
}

pub fn planned_outage_notice(window: Option<&Window>) -> Phrase {
    Phrase::new(format!("sent the planned outage notice for {}", window_text(window)))
}

pub fn vote_called(board: Board, quorum: u32, eligible: u32, threshold: f64, closes: DateTime<Utc>) -> Phrase {
    Phrase::new(format!(
        "called a {} vote: quorum {quorum} of {eligible}, {}% approval to pass, closes {}",
        board_name(board),
        (threshold * 100.0).round(),
        closes.format("%a %-d %b %H:%M UTC")
    ))
}

fn choice_words(c: Choice) -> String {
    let word = match c {
        Choice::Approve => "approve",
        Choice::Reject => "reject",
        Choice::Abstain => "abstain",
    };
    format!("{} {word}", c.emoji())
}

pub fn voted(choice: Choice) -> Phrase {
    Phrase::new(format!("voted {}", choice_words(choice)))
}

pub fn switched_vote(from: Choice, to: Choice) -> Phrase {
    Phrase::new(format!(
        "changed their vote from {} to {}",
        choice_words(from),
        choice_words(to)
    ))
}

pub fn withdrew_vote(choice: Choice) -> Phrase {
    Phrase::new(format!("withdrew their {} vote", choice_words(choice)))
}

pub fn vote_closed(outcome: VoteOutcome, tally: &Tally, eligible: u32, late: Option<TimeDelta>) -> Phrase {
    let late = late.map(|d| format!(", {} late", human(d))).unwrap_or_default();
    Phrase::new(format!(
        "closed the vote: {}; {} approve, {} reject, {} abstain of {eligible} eligible{late}",
        outcome_text(outcome),
        tally.approve,
        tally.reject,
        tally.abstain
    ))
}

// ── Reactions read back after downtime ──

/// A reaction found by reading the platform back (`desk/act.rs`).
pub fn reaction_read_back(emoji: &str, added: bool, refused: bool) -> Phrase {
    let what = match (added, refused) {
        (true, false) => format!("reacted {emoji}"),
        (true, true) => format!("reacted {emoji}, which was refused and removed"),
        (false, _) => format!("removed their {emoji} reaction"),
    };
    Phrase::new(format!("{what} (read back from Discord after downtime)"))
}

// ── Problems (`!problem`) ──

pub fn problem_logged(policy: &Policy, p: &crate::domain::problem::Problem, from: &[IncidentId]) -> Phrase {
    let service = p
        .service
        .as_deref()
        .map(|s| format!(" on {}", service_name(policy, s)))
        .unwrap_or_default();
    let from = if from.is_empty() {
        String::new()
    } else {
        format!(" from {}", ids_text(from))
    };
    Phrase::new(format!("logged it{service}: {}{from}", p.title))
}

fn ids_text(ids: &[IncidentId]) -> String {
    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn problem_assessed(note: Option<&str>) -> Phrase {
    Phrase::new(format!("assessed it{}", because(note)))
}

pub fn problem_linked(ids: &[IncidentId]) -> Phrase {
    Phrase::new(format!("linked {} to it", ids_text(ids)))
}

/// On the incident's own trail.
pub fn linked_to_problem(p: crate::domain::problem::ProblemId) -> Phrase {
    Phrase::new(format!("linked it to problem {p}"))
}

pub fn root_cause_found(text: &str) -> Phrase {
    Phrase::new(format!("recorded its root cause: {text}"))
}

pub fn workaround_given(text: &str, told: usize) -> Phrase {
    Phrase::new(format!(
        "made it a known error with the workaround: {text} (told {told} open incident{})",
        if told == 1 { "" } else { "s" }
    ))
}

pub fn problem_resolved(how: &str) -> Phrase {
    Phrase::new(format!("resolved it: {how}"))
}

pub fn problem_closed() -> Phrase {
    Phrase::new("closed it")
}

pub fn problem_cancelled(reason: &str) -> Phrase {
    Phrase::new(format!("cancelled it: {reason}"))
}

/// On a new incident's trail: the desk matched it to a known error.
pub fn suggested_known_error(p: crate::domain::problem::ProblemId) -> Phrase {
    Phrase::new(format!("suggested known error {p} for it"))
}

/// On an incident's trail: the problem manager was asked for a problem.
pub fn asked_for_problem(after_major: bool) -> Phrase {
    Phrase::new(if after_major {
        "asked the problem manager to open a problem for it (a major incident, resolved)"
    } else {
        "asked the problem manager to open a problem for it (reopened again and again)"
    })
}

/// On a linked incident's trail: its handlers were told the fix is in place.
pub fn told_of_fix(p: crate::domain::problem::ProblemId) -> Phrase {
    Phrase::new(format!("told its handlers that {p} is fixed"))
}

/// On a change's trail: raised to fix a problem.
pub fn change_fixes_problem(p: crate::domain::problem::ProblemId) -> Phrase {
    Phrase::new(format!("raised it to fix {p}"))
}

/// A monitoring alert reported again while its incident is open.
pub fn alert_repeated(count: i64) -> Phrase {
    Phrase::new(format!("reported it again (seen {count} times)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn entry(actor: Option<(u64, &str)>, details: Details) -> AuditEntry {
        AuditEntry {
            at: at("2026-12-01T09:14:30.123456789Z"),
            actor: actor.map(|(id, _)| UserId::new(id)),
            actor_name: actor.map(|(_, n)| n.to_owned()),
            action: "assign_incident".into(),
            subject: "INC-1".into(),
            details,
        }
    }

    #[test]
    fn a_history_line_says_when_who_and_what_in_words() {
        let now = at("2026-12-02T10:00:00Z");
        let took = entry(Some((7, "sam")), Details::Phrase(took_it()));
        assert_eq!(line(&took, now), "Tue 1 Dec 09:14 UTC · sam took it");
        let system = entry(None, Details::Phrase(moved(State::Resolved, State::Closed, None)));
        assert_eq!(line(&system, now), "Tue 1 Dec 09:14 UTC · opsdesk closed it");
        let legacy = entry(Some((7, "sam")), Details::Legacy("assignee=sam state=assigned".into()));
        assert_eq!(
            line(&legacy, now),
            "Tue 1 Dec 09:14 UTC · sam (assign incident) assignee=sam state=assigned"
        );
        let next_year = at("2027-01-05T00:00:00Z");
        assert_eq!(line(&took, next_year), "Tue 1 Dec 2026 09:14 UTC · sam took it");
    }

    #[test]
    fn phrases_use_words_not_keys() {
        assert_eq!(
            moved(State::New, State::InProgress, Some("waiting for logs")).as_str(),
            "moved it from new to in progress: waiting for logs"
        );
        assert_eq!(moved(State::Resolved, State::InProgress, None).as_str(), "reopened it");
        assert_eq!(voted(Choice::Approve).as_str(), "voted ✅ approve");
        assert_eq!(
            switched_vote(Choice::Reject, Choice::Approve).as_str(),
            "changed their vote from ❌ reject to ✅ approve"
        );
        let policy = Policy::defaults();
        let desk = RoleKey::parse("service_desk").unwrap();
        let systems = RoleKey::parse("systems_support").unwrap();
        assert_eq!(
            escalated(&policy, &desk, &systems, 1, 3, None).as_str(),
            "escalated it to Systems Support (tier 2 of 3, from Service Desk)"
        );
        assert_eq!(
            change_moved(ChangeState::CabVote, ChangeState::Authorized, None, None).as_str(),
            "moved it from CAB vote to authorized"
        );
        let closes = at("2026-12-03T19:33:07.379288811Z");
        assert_eq!(
            vote_called(Board::Cab, 3, 5, 0.6, closes).as_str(),
            "called a CAB vote: quorum 3 of 5, 60% approval to pass, closes Thu 3 Dec 19:33 UTC"
        );
    }

    #[test]
    fn show_says_how_many_entries_it_left_out_and_history_pages_say_what_follows() {
        assert_eq!(history_heading("!", "INC-1", 8, 8), "History:");
        assert_eq!(
            history_heading("!", "INC-1", 8, 23),
            "History (15 earlier entries left out; `!history INC-1` shows the whole trail):"
        );
        assert_eq!((pages(0, 15), pages(15, 15), pages(16, 15)), (1, 1, 2));
        let now = at("2026-12-02T10:00:00Z");
        let e = entry(Some((7, "sam")), Details::Phrase(took_it()));
        let page = history_page("!", "INC-1", &[e.clone(), e], 1, 2, 3, now);
        assert!(
            page.starts_with("History of INC-1, oldest first: entries 1–2 of 3 (page 1 of 2)"),
            "{page}"
        );
        assert!(page.ends_with("More: `!history INC-1 page=2`."), "{page}");
    }
}
