//! The incident queues: `!incidents` (its heading in words, its lines with
//! assignee, age and the next SLA deadline or breach) and `!search` (its
//! matches with the excerpt that matched).
//!
//! Shared helpers (and the SLA wording) come from the parent module.

use chrono::{DateTime, TimeDelta, Utc};

use crate::command::{ListFilter, ListState};
use crate::config::Policy;
use crate::domain::incident::Incident;
use crate::domain::search::{SearchHit, SearchQuery, HIT_END, HIT_START};
use crate::domain::sla::{ClockKind, ClockState, Remaining};

use super::{capitalize, clock_name, due_time, neutralize, sla_span, truncate, SlaView};

/// What a queue lists, in the words its heading and its empty answer use.
pub struct QueueWhat<'a> {
    pub filter: &'a ListFilter,
    /// The service's display name, for `service=`.
    pub service: Option<&'a str>,
    /// The tier `tier=` named.
    pub tier: Option<QueueTier>,
    /// The caller is not an agent: only what they may see is listed.
    pub narrowed: bool,
}

/// The support tier a queue is narrowed to.
pub enum QueueTier {
    /// Its number from 1, and its role when the service says which it is.
    Level { n: u32, role: Option<String> },
    /// The role holding the incidents.
    HeldBy(String),
}

/// One incident of a queue and what the desk knows around it.
pub struct QueueLine<'a> {
    pub incident: &'a Incident,
    pub assignee: Option<String>,
    pub sla: Option<SlaView>,
}

/// The noun phrase for a queue: `open unassigned P1 incidents breaching an SLA
/// target on Payroll assigned to you or reported by you`.
fn queue_phrase(w: &QueueWhat<'_>) -> String {
    let f = w.filter;
    let mut words: Vec<String> = Vec::new();
    match f.state {
        ListState::Open => words.push("open".into()),
        ListState::Resolved => words.push("resolved".into()),
        ListState::Closed => words.push("closed".into()),
        ListState::Cancelled => words.push("cancelled".into()),
        ListState::Any => {}
    }
    if f.unassigned {
        words.push("unassigned".into());
    }
    if let Some(p) = f.priority {
        words.push(p.to_string());
    }
    words.push("incidents".into());
    if f.breaching {
        words.push("breaching an SLA target".into());
    }
    if let Some(s) = w.service {
        words.push(format!("on {}", neutralize(s)));
    }
    match &w.tier {
        Some(QueueTier::Level { n, role: Some(r) }) => words.push(format!("at tier {n} ({r})")),
        Some(QueueTier::Level { n, role: None }) => words.push(format!("at tier {n}")),
        Some(QueueTier::HeldBy(r)) => words.push(format!("held by {r}")),
        None => {}
    }
    if f.mine {
        words.push("assigned to you or reported by you".into());
    } else if w.narrowed {
        words.push("you can see".into());
    }
    words.join(" ")
}

/// How old an incident is, to the two largest units: `3d 4h`, `2h 5m`, `5m`.
fn age(d: TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
    match (days, hours, mins) {
        (0, 0, 0) => "under a minute".to_owned(),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A queue speaks in whole minutes: `3h left`, not `2h 59m 59s left`.
fn to_minute(d: TimeDelta) -> TimeDelta {
    let secs = d.num_seconds();
    if secs < 60 {
        return d;
    }
    TimeDelta::minutes((secs + 30) / 60)
}

/// The next SLA deadline of an open incident, or what is breached.
fn next_due(sla: &SlaView) -> Option<String> {
    let live = || sla.clocks.iter().filter(|c| c.state != ClockState::Stopped);
    let breached: Vec<String> = live()
        .filter_map(|c| match c.remaining {
            Remaining::Breached { by } => Some(format!(
                "{} breached by {}",
                clock_name(c.kind),
                sla_span(to_minute(by), sla.basis)
            )),
            Remaining::Left(_) => None,
        })
        .collect();
    if !breached.is_empty() {
        return Some(format!("⚠ {}", breached.join(", ")));
    }
    let next = live()
        .filter(|c| c.state == ClockState::Running)
        .filter_map(|c| c.due.map(|at| (c, at)))
        .min_by_key(|(_, at)| *at);
    if let Some((c, at)) = next {
        let verb = match c.kind {
            ClockKind::Response => "respond",
            ClockKind::Resolution => "resolve",
        };
        let left = match c.remaining {
            Remaining::Left(left) => format!(" ({} left)", sla_span(to_minute(left), sla.basis)),
            Remaining::Breached { .. } => String::new(),
        };
        return Some(format!("{verb} by {}{left}", due_time(at)));
    }
    live()
        .any(|c| c.state == ClockState::Paused)
        .then(|| "resolution paused (on hold)".to_owned())
}

fn queue_line(l: &QueueLine<'_>, now: DateTime<Utc>) -> String {
    let inc = l.incident;
    let mut s = format!(
        "{} {} {} · {}{} · {} · opened {} ago",
        inc.id,
        inc.priority,
        inc.state,
        neutralize(&truncate(&inc.title, 80)),
        inc.service.as_deref().map(|sv| format!(" [{sv}]")).unwrap_or_default(),
        l.assignee
            .as_deref()
            .map(neutralize)
            .unwrap_or_else(|| "unassigned".to_owned()),
        age(now - inc.created_at),
    );
    if inc.state.is_open() {
        if let Some(due) = l.sla.as_ref().and_then(next_due) {
            s.push_str(&format!(" · {due}"));
        }
    }
    s
}

fn pages(total: i64, page_size: u32) -> i64 {
    ((total.max(1) - 1) / i64::from(page_size.max(1))) + 1
}

/// `there is 1 page`, `there are 3 pages`.
fn there_are(pages: i64) -> String {
    if pages == 1 {
        "there is 1 page".to_owned()
    } else {
        format!("there are {pages} pages")
    }
}

/// `tier=` named a role that holds no support tier.
pub fn not_a_tier(policy: &Policy, name: &str) -> String {
    let mut tiers: Vec<&str> = Vec::new();
    for t in policy
        .services
        .values()
        .flat_map(|s| s.tiers.iter())
        .chain(policy.escalation.default_tiers.iter())
    {
        if !tiers.contains(&t.as_str()) {
            tiers.push(t.as_str());
        }
    }
    format!(
        "`{}` is not a support tier: give its number from 1 (first line) or one of {}.",
        neutralize(&truncate(name, 40)),
        tiers.join(", ")
    )
}

/// Said before the list when someone who is not an agent asks for `all`.
pub fn sees_only_their_own() -> String {
    "Only agents see every incident; you see the ones you reported, are assigned, or that your support group or service holds.".to_owned()
}

/// A page of a queue, newest first.
pub fn queue(
    what: &QueueWhat<'_>,
    lines: &[QueueLine<'_>],
    now: DateTime<Utc>,
    page: u32,
    page_size: u32,
    total: i64,
) -> String {
    let phrase = queue_phrase(what);
    let mut s = String::new();
    if what.narrowed && what.filter.all {
        s.push_str(&sees_only_their_own());
        s.push('\n');
    }
    if lines.is_empty() {
        if page > 1 && total > 0 {
            s.push_str(&format!(
                "No {phrase} on page {page}: {}.",
                there_are(pages(total, page_size))
            ));
        } else {
            s.push_str(&format!("No {phrase}."));
        }
        return s;
    }
    let pages = pages(total, page_size);
    s.push_str(&format!(
        "{} (page {page} of {pages}, {total} in all), newest first:",
        capitalize(&phrase)
    ));
    for l in lines {
        s.push('\n');
        s.push_str(&queue_line(l, now));
    }
    if i64::from(page) < pages {
        s.push_str(&format!("\nMore: add page={}", page + 1));
    }
    s
}

/// An excerpt as shown: safe, on one line, the matched words in bold.
fn excerpt(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    neutralize(&truncate(&flat, 200)).replace([HIT_START, HIT_END], "**")
}

/// A page of `!search` matches, best first.
pub fn search_results(
    query: &SearchQuery,
    hits: &[SearchHit],
    narrowed: bool,
    page: u32,
    page_size: u32,
    total: i64,
) -> String {
    let words = neutralize(&query.to_string());
    let scope = if narrowed { " you can see" } else { "" };
    if hits.is_empty() {
        return if page > 1 && total > 0 {
            format!(
                "No more incidents{scope} match `{words}` on page {page}: {}.",
                there_are(pages(total, page_size))
            )
        } else {
            format!("No incidents{scope} match `{words}` in their titles, notes or resolutions.")
        };
    }
    let pages = pages(total, page_size);
    let (noun, verb) = if total == 1 {
        ("incident", "matches")
    } else {
        ("incidents", "match")
    };
    let mut s = format!("{total} {noun}{scope} {verb} `{words}` (page {page} of {pages}), best match first:");
    for h in hits {
        let inc = &h.incident;
        s.push_str(&format!(
            "\n{} {} {} · {}{}",
            inc.id,
            inc.priority,
            inc.state,
            neutralize(&truncate(&inc.title, 80)),
            inc.service.as_deref().map(|sv| format!(" [{sv}]")).unwrap_or_default(),
        ));
        if let Some(n) = &h.note {
            s.push_str(&format!("\n  ↳ note: {}", excerpt(n)));
        }
        if let Some(r) = &h.resolution {
            s.push_str(&format!("\n  ↳ resolution: {}", excerpt(r)));
        }
    }
    if i64::from(page) < pages {
        s.push_str(&format!("\nMore: add page={}", page + 1));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::TierFilter;
    use crate::domain::priority::Priority;

    fn what(filter: &ListFilter, narrowed: bool) -> String {
        queue(
            &QueueWhat {
                filter,
                service: None,
                tier: None,
                narrowed,
            },
            &[],
            DateTime::from_timestamp(0, 0).unwrap(),
            1,
            10,
            0,
        )
    }

    #[test]
    fn an_empty_queue_says_what_it_looked_for_in_plain_words() {
        let open = ListFilter::default();
        let cases = [
            ("the default", open.clone(), false, "No open incidents."),
            (
                "mine open",
                ListFilter { mine: true, ..open.clone() },
                false,
                "No open incidents assigned to you or reported by you.",
            ),
            ("a reporter's default", open.clone(), true, "No open incidents you can see."),
            (
                "unassigned breaching P1",
                ListFilter {
                    unassigned: true,
                    breaching: true,
                    priority: Priority::parse("P1"),
                    ..open.clone()
                },
                false,
                "No open unassigned P1 incidents breaching an SLA target.",
            ),
            (
                "all, for an agent",
                ListFilter { state: ListState::Any, all: true, ..open.clone() },
                false,
                "No incidents.",
            ),
            (
                "all, for a reporter",
                ListFilter { state: ListState::Any, all: true, ..open.clone() },
                true,
                "Only agents see every incident; you see the ones you reported, are assigned, or that your support group or service holds.\nNo incidents you can see.",
            ),
            (
                "closed",
                ListFilter { state: ListState::Closed, tier: Some(TierFilter::Level(2)), ..open.clone() },
                false,
                "No closed incidents.",
            ),
        ];
        for (case, filter, narrowed, expected) in cases {
            assert_eq!(what(&filter, narrowed), expected, "{case}");
            assert!(!what(&filter, narrowed).contains("Your"), "{case}");
        }
        let named = queue(
            &QueueWhat {
                filter: &open,
                service: Some("Payroll"),
                tier: Some(QueueTier::Level {
                    n: 2,
                    role: Some("Systems Support".into()),
                }),
                narrowed: false,
            },
            &[],
            DateTime::from_timestamp(0, 0).unwrap(),
            3,
            10,
            4,
        );
        assert_eq!(
            named,
            "No open incidents on Payroll at tier 2 (Systems Support) on page 3: there is 1 page."
        );
    }

    #[test]
    fn queue_time_is_rounded_to_the_minute() {
        let s = TimeDelta::seconds;
        assert_eq!(to_minute(s(3 * 3_600 - 1)), TimeDelta::hours(3));
        assert_eq!(to_minute(s(30 * 60 + 1)), TimeDelta::minutes(30));
        assert_eq!(to_minute(s(45)), s(45));
    }

    #[test]
    fn ages_read_to_two_units() {
        let cases = [
            (0, "under a minute"),
            (59, "under a minute"),
            (300, "5m"),
            (7_200, "2h"),
            (7_500, "2h 5m"),
            (86_400, "1d"),
            (3 * 86_400 + 4 * 3_600 + 120, "3d 4h"),
        ];
        for (secs, expected) in cases {
            assert_eq!(age(TimeDelta::seconds(secs)), expected, "{secs}s");
        }
    }

    #[test]
    fn an_excerpt_is_safe_on_one_line_with_the_words_in_bold() {
        let raw = format!("asked @everyone\nthen {HIT_START}restarted{HIT_END} it");
        assert_eq!(excerpt(&raw), "asked @\u{200B}everyone then **restarted** it");
    }
}
