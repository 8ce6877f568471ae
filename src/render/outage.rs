//! Sentences about outages and the subscriptions that carry them: the status
//! card and channel posts, the direct messages to subscribers, what the RACI
//! roles are told, `!outage show`, `!status`, `!services`, and subscribing.
//!
//! Shared helpers come from the parent module.

use chrono::{DateTime, Utc};

use crate::config::Policy;
use crate::domain::incident::{Incident, IncidentId, State};
use crate::domain::outage::{
    duration_text, DeliveryCounts, Notice, NoticeKind, Outage, OutageError, OutageId, OutageImpact, OutageState,
    Subscribed, Subscription, Tally,
};
use crate::domain::raci::Action;
use crate::message::{Card, Tone};

use super::{neutralize, service_name, time, truncate, user_text};

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

/// How many of the latest reports a grouped card lists.
pub const STORM_CARD_LATEST: u32 = 5;

/// The grouped card's count: `12 reports linked to OUT-1`, the words the
/// storm bench looks for (one report reads `1 report so far; reports linked
/// to OUT-1 are counted here`, so even the first version carries them).
fn reports_linked(o: &Outage, count: i64) -> String {
    match count {
        1 => format!("1 report so far; reports linked to {} are counted here", o.id),
        n => format!("{n} reports linked to {}", o.id),
    }
}

/// The text above an outage's grouped card in the handler's channel.
pub fn storm_card_text(policy: &Policy, o: &Outage, tally: &Tally) -> String {
    match o.state {
        OutageState::Active => format!(
            "{}: {}. Each gets its own card and thread once someone works it.",
            outage_head(policy, o),
            reports_linked(o, tally.count)
        ),
        OutageState::Resolved => format!(
            "✅ {} · {} is back: {}, settled with it.",
            o.id,
            service_name(policy, &o.service),
            reports_linked(o, tally.count)
        ),
    }
}

/// An outage's grouped card: the reports linked to it as they were logged,
/// with the latest reporters (names, never pings) and the services.
pub fn storm_card(policy: &Policy, o: &Outage, tally: &Tally, every: chrono::TimeDelta) -> Card {
    let tone = match (o.state, o.impact) {
        (OutageState::Resolved, _) => Tone::Done,
        (_, OutageImpact::Major) => Tone::P1,
        (_, OutageImpact::Partial) => Tone::P3,
    };
    let latest = tally
        .latest
        .iter()
        .map(|r| {
            format!(
                "{} · {}",
                r.incident,
                super::user_label(r.reporter_name.as_deref(), r.reporter)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let services = tally
        .services
        .iter()
        .map(|s| service_name(policy, s))
        .collect::<Vec<_>>()
        .join(", ");
    let mut fields = vec![
        ("Reports".to_owned(), tally.count.to_string()),
        (
            "Latest reporters".to_owned(),
            if latest.is_empty() { "—".to_owned() } else { latest },
        ),
        (
            "Services".to_owned(),
            if services.is_empty() {
                service_name(policy, &o.service)
            } else {
                services
            },
        ),
        ("Outage".to_owned(), user_text(&o.summary, 1000)),
    ];
    if o.is_active() {
        fields.push((
            "Working one".to_owned(),
            format!(
                "`{p}take INC-n` (or any command on it) gives it its card and thread",
                p = policy.prefix
            ),
        ));
    }
    Card {
        title: format!(
            "{} · {} · {}",
            o.id,
            service_name(policy, &o.service),
            if o.is_active() {
                "reports"
            } else {
                "reports (outage resolved)"
            }
        ),
        tone,
        fields,
        times: vec![("Started".to_owned(), o.started_at.timestamp())],
        footer: Some(format!(
            "Updated at most every {}",
            crate::domain::sla::format_duration(every)
        )),
    }
}

/// The reply to a report linked to an outage's grouped card: it has no card
/// or thread yet, so the reporter is told where they will hear of it.
pub fn known_outage_grouped(policy: &Policy, o: &Outage) -> String {
    format!(
        "This is a known outage: {} ({}, {}): {}. Your report is counted with the others; you will be told when it is over (in the incident's thread once someone works it, else by direct message).",
        o.id,
        service_name(policy, &o.service),
        o.impact,
        user_text(&o.summary, 300)
    )
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
    notices: &[(Notice, String)],
    linked: &[IncidentId],
    counts: DeliveryCounts,
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

pub fn subscriptions(policy: &Policy, subs: &[Subscription]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::MESSAGE_LIMIT;

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
}
