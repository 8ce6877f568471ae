//! The service report (`!report`, `opsdesk report`): as a card (an embed
//! within Discord's limits: 25 fields, 1024 characters a field, 6000 in all),
//! as plain text and as CSV. The figures are `domain::report`'s; this module
//! only words them.

use std::fmt::Write as _;

use chrono::TimeDelta;

use super::{human, neutralize, report_period, truncate};
use crate::domain::report::{Report, SlaTally, Spread};
use crate::message::{Card, Tone};

/// Discord's embed limits, which [`report_card`] keeps to.
pub const CARD_MAX_FIELDS: usize = 25;
pub const CARD_MAX_FIELD: usize = 1024;
pub const CARD_MAX_TOTAL: usize = 6000;

/// The reaction that answers `!report` once its card is queued.
pub const REPORT_POSTED: &str = "📊";

/// The line above a scheduled digest's card (`[reports.digest]`).
pub fn digest_heading(schedule: &crate::domain::digest::DigestSchedule) -> String {
    format!("📅 Scheduled report digest ({}).", schedule.describe())
}

/// The most breaches the card lists by name.
const BREACHES_LISTED: usize = 15;

fn spread(s: Option<Spread>) -> String {
    s.map_or("—".to_owned(), |s| {
        format!(
            "median {}, p90 {} (n={})",
            human(TimeDelta::seconds(s.median_secs)),
            human(TimeDelta::seconds(s.p90_secs)),
            s.count
        )
    })
}

fn pct(p: Option<u32>) -> String {
    p.map_or("—".to_owned(), |p| format!("{p}%"))
}

fn tally(t: &SlaTally) -> String {
    format!(
        "{} met, {} breached, {} running ({} met)",
        t.met,
        t.breached,
        t.running,
        pct(t.percent_met())
    )
}

/// The report's title line.
pub fn report_title(r: &Report) -> String {
    let mut t = format!("Service report {}", report_period(&r.query.period));
    if let Some(s) = &r.query.service {
        let _ = write!(t, " · service {}", neutralize(s));
    }
    if let Some(p) = r.query.priority {
        let _ = write!(t, " · {p}");
    }
    t
}

/// `(name, value)` pairs in order, shared by the card and the text.
fn sections(r: &Report) -> Vec<(String, String)> {
    let mut out = Vec::new();
    out.push((
        "Volume".to_owned(),
        format!(
            "{} logged, {} resolved, {} still open at the end, {} cancelled",
            r.logged, r.resolved, r.open, r.cancelled
        ),
    ));
    out.push(("MTTA (logged → first response)".to_owned(), spread(r.mtta)));
    out.push(("MTTR (logged → resolved)".to_owned(), spread(r.mttr)));
    out.push(("Response SLA".to_owned(), tally(&r.response)));
    out.push(("Resolution SLA".to_owned(), tally(&r.resolution)));
    for (level, f) in &r.by_priority {
        out.push((
            format!("P{level}"),
            format!(
                "{} logged, {} resolved, {} open\nMTTA {}\nMTTR {}\nresponse {}\nresolution {}",
                f.logged,
                f.resolved,
                f.open,
                spread(f.mtta),
                spread(f.mttr),
                tally(&f.response),
                tally(&f.resolution)
            ),
        ));
    }
    if !r.by_service.is_empty() {
        let v: Vec<String> = r
            .by_service
            .iter()
            .map(|(s, n)| format!("{}: {n}", neutralize(s)))
            .collect();
        out.push(("By service".to_owned(), v.join(", ")));
    }
    let breaches = if r.breaches.is_empty() {
        "none".to_owned()
    } else {
        let mut v: Vec<String> = r
            .breaches
            .iter()
            .take(BREACHES_LISTED)
            .map(|b| format!("{} (P{}, {})", b.incident, b.priority, b.clock))
            .collect();
        if r.breaches.len() > BREACHES_LISTED {
            v.push(format!("and {} more", r.breaches.len() - BREACHES_LISTED));
        }
        v.join(", ")
    };
    out.push(("Breaches".to_owned(), breaches));
    out.push((
        "Reopened".to_owned(),
        format!(
            "{} of {} resolved ({})",
            r.reopened,
            r.ever_resolved,
            pct(r.reopen_percent())
        ),
    ));
    out.push((
        "Satisfaction".to_owned(),
        format!(
            "👍 {} · 👎 {} · no answer {} ({} satisfied)",
            r.fixed,
            r.not_fixed,
            r.no_answer,
            pct(r.satisfied_percent())
        ),
    ));
    out.push((
        "Escalations".to_owned(),
        format!(
            "{} functional, {} hierarchical, {} major",
            r.functional_escalations, r.hierarchical_escalations, r.major_incidents
        ),
    ));
    let c = &r.changes;
    out.push((
        "Changes".to_owned(),
        format!(
            "{} filed, {} authorized, {} rejected, {} no quorum, {} cancelled; median to decision {}; emergency {}",
            c.filed,
            c.authorized,
            c.rejected,
            c.no_quorum,
            c.cancelled,
            c.median_decision_secs
                .map_or("—".to_owned(), |s| human(TimeDelta::seconds(s))),
            pct(c.emergency_percent())
        ),
    ));
    let outages = if r.outages.is_empty() {
        "none".to_owned()
    } else {
        r.outages
            .iter()
            .map(|(s, o)| {
                format!(
                    "{}: {} for {} in all, longest {}",
                    neutralize(s),
                    o.count,
                    human(TimeDelta::seconds(o.total_secs)),
                    human(TimeDelta::seconds(o.longest_secs))
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    out.push(("Outages".to_owned(), outages));
    let p = &r.problems;
    out.push((
        "Problems".to_owned(),
        format!(
            "{} logged; {} open, {} of them known errors; {} incidents linked to a problem",
            p.logged, p.open, p.known_errors, p.incidents_linked
        ),
    ));
    out
}

/// The report as one card within the embed limits: every field cut to 1024
/// characters, at most 25 fields, and fields dropped from the end (with a
/// footer saying so) before the total passes 6000.
pub fn report_card(r: &Report) -> Card {
    let title = truncate(&report_title(r), 256);
    let mut total = title.chars().count();
    let mut fields = Vec::new();
    let all = sections(r);
    let mut dropped = 0;
    for (name, value) in all {
        let name = truncate(&name, 256);
        let value = truncate(&value, CARD_MAX_FIELD);
        let size = name.chars().count() + value.chars().count();
        if fields.len() == CARD_MAX_FIELDS - 1 || total + size > CARD_MAX_TOTAL - 100 {
            dropped += 1;
            continue;
        }
        total += size;
        fields.push((name, value));
    }
    let footer = (dropped > 0).then(|| format!("{dropped} sections left out to fit; `opsdesk report` has them all"));
    Card {
        title,
        tone: if r.breaches.is_empty() { Tone::Done } else { Tone::P2 },
        fields,
        times: Vec::new(),
        footer,
    }
}

/// The report as plain text (the console's answer and `--format text`).
pub fn report_text(r: &Report) -> String {
    let mut t = format!("**{}**", report_title(r));
    for (name, value) in sections(r) {
        let _ = write!(t, "\n**{name}**: {}", value.replace('\n', "; "));
    }
    t
}

/// The report as CSV: one row per figure (`section,key,value`), durations in seconds.
pub fn report_csv(r: &Report) -> String {
    let mut t = String::from("section,key,value\n");
    let mut row = |section: &str, key: &str, value: String| {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let _ = writeln!(t, "{},{},{}", q(section), q(key), q(&value));
    };
    let opt = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
    row("period", "from", r.query.period.from.to_rfc3339());
    row("period", "to", r.query.period.to.to_rfc3339());
    row("volume", "logged", r.logged.to_string());
    row("volume", "resolved", r.resolved.to_string());
    row("volume", "open", r.open.to_string());
    row("volume", "cancelled", r.cancelled.to_string());
    row("mtta", "median_secs", opt(r.mtta.map(|s| s.median_secs)));
    row("mtta", "p90_secs", opt(r.mtta.map(|s| s.p90_secs)));
    row("mttr", "median_secs", opt(r.mttr.map(|s| s.median_secs)));
    row("mttr", "p90_secs", opt(r.mttr.map(|s| s.p90_secs)));
    for (name, t) in [("response", &r.response), ("resolution", &r.resolution)] {
        row(name, "met", t.met.to_string());
        row(name, "breached", t.breached.to_string());
        row(name, "running", t.running.to_string());
    }
    for (level, f) in &r.by_priority {
        let s = format!("P{level}");
        row(&s, "logged", f.logged.to_string());
        row(&s, "resolved", f.resolved.to_string());
        row(&s, "open", f.open.to_string());
        row(&s, "mtta_median_secs", opt(f.mtta.map(|s| s.median_secs)));
        row(&s, "mttr_median_secs", opt(f.mttr.map(|s| s.median_secs)));
    }
    for (service, n) in &r.by_service {
        row("service", service, n.to_string());
    }
    for b in &r.breaches {
        row("breach", &b.incident, b.clock.to_owned());
    }
    row("reopened", "count", r.reopened.to_string());
    row("satisfaction", "fixed", r.fixed.to_string());
    row("satisfaction", "not_fixed", r.not_fixed.to_string());
    row("satisfaction", "no_answer", r.no_answer.to_string());
    row("escalations", "functional", r.functional_escalations.to_string());
    row("escalations", "hierarchical", r.hierarchical_escalations.to_string());
    row("escalations", "major", r.major_incidents.to_string());
    let c = &r.changes;
    row("changes", "filed", c.filed.to_string());
    row("changes", "authorized", c.authorized.to_string());
    row("changes", "rejected", c.rejected.to_string());
    row("changes", "no_quorum", c.no_quorum.to_string());
    row("changes", "cancelled", c.cancelled.to_string());
    row("changes", "emergency", c.emergency.to_string());
    row("changes", "median_decision_secs", opt(c.median_decision_secs));
    for (service, o) in &r.outages {
        row(
            "outages",
            service,
            format!("{} {} {}", o.count, o.total_secs, o.longest_secs),
        );
    }
    t
}

/// A period or filter `!report` did not understand.
pub fn report_bad_option(problem: &str) -> String {
    format!("I can't make that report: {problem}. Try `!report 7d`, `!report 2026-11 service=mail` or `!report 2026-11-01..2026-11-15 priority=P1`.")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::incident::IncidentId;
    use crate::domain::priority::Priority;
    use crate::domain::report::{IncidentFacts, ReportQuery, SlaResult};

    fn card_size(c: &Card) -> usize {
        c.title.chars().count()
            + c.fields
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum::<usize>()
            + c.footer.as_ref().map_or(0, |f| f.chars().count())
    }

    #[test]
    fn a_report_with_many_breaches_and_services_stays_within_embed_limits() {
        let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let facts: Vec<IncidentFacts> = (1..=500)
            .map(|i| IncidentFacts {
                id: IncidentId::from_row(i),
                priority: Priority::from_level(1 + i % 5).unwrap(),
                service: Some(format!("service-with-a-long-name-{i}")),
                logged_at: from,
                first_response_at: None,
                resolved_at: None,
                reopened_at: None,
                cancelled: false,
                response: Some(SlaResult::Breached),
                resolution: Some(SlaResult::Breached),
                satisfaction: None,
                functional_escalations: 0,
                hierarchical_escalations: 0,
                major: false,
            })
            .collect();
        let q = ReportQuery {
            period: crate::domain::report::Period {
                from,
                to: from + TimeDelta::days(30),
            },
            service: None,
            priority: None,
        };
        let r = Report::build(q, &facts, &[], &[]);
        assert_eq!(r.breaches.len(), 1000);
        let card = report_card(&r);
        assert!(card.fields.len() <= CARD_MAX_FIELDS);
        assert!(card.fields.iter().all(|(_, v)| v.chars().count() <= CARD_MAX_FIELD));
        assert!(card_size(&card) <= CARD_MAX_TOTAL, "{}", card_size(&card));
        let breaches = &card.fields.iter().find(|(n, _)| n == "Breaches").unwrap().1;
        assert!(breaches.ends_with("and 985 more"), "{breaches}");
    }
}
