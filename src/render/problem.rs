//! Problem management in words: the problem card, `!problem` replies and
//! refusals, what linked incidents' threads are told (the problem, its
//! workaround, its fix), the known-error suggestion to a new incident, the
//! prompts to the problem manager, `!show PRB-n`, `!problems` and `!kedb`.

use crate::command::ProblemStep;
use crate::config::Policy;
use crate::domain::change::ChangeId;
use crate::domain::incident::{Incident, IncidentId, State};
use crate::domain::problem::{InvalidProblemMove, Problem, ProblemId, ProblemState};
use crate::domain::search::SearchQuery;
use crate::message::{Card, Tone};

use super::{neutralize, service_name, user_text};

/// The longest a workaround or root cause is shown in a message.
const TEXT_SHOWN: usize = 900;

fn service_of(policy: &Policy, p: &Problem) -> String {
    p.service
        .as_deref()
        .map(|s| format!(" · {}", service_name(policy, s)))
        .unwrap_or_default()
}

/// `PRB-1 «Mail queue stalls»`.
fn named(p: &Problem) -> String {
    format!("{} «{}»", p.id, user_text(&p.title, 120))
}

fn ids(list: &[IncidentId]) -> String {
    list.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn unknown_problem(id: ProblemId) -> String {
    format!("{id} does not exist.")
}

/// The problem card's first line.
pub fn problem_card_text(policy: &Policy, p: &Problem, new: bool) -> String {
    let head = format!("🧩 {}{} · {}", named(p), service_of(policy, p), p.state.words());
    if new {
        format!(
            "{head}\nNew problem: assess it with `{}problem assess {}`.",
            policy.prefix, p.id
        )
    } else {
        head
    }
}

/// The problem card: state, service, root cause, workaround, linked
/// incidents with their states, the fixing change.
pub fn problem_card(
    policy: &Policy,
    p: &Problem,
    linked: &[(IncidentId, State)],
    changes: &[ChangeId],
    owner: &str,
) -> Card {
    let tone = match p.state {
        ProblemState::Resolved | ProblemState::Closed | ProblemState::Cancelled => Tone::Done,
        ProblemState::KnownError => Tone::P3,
        _ => Tone::P2,
    };
    let mut fields = vec![("State".to_owned(), p.state.words().to_owned())];
    if let Some(s) = &p.service {
        fields.push(("Service".to_owned(), service_name(policy, s)));
    }
    if let Some(rc) = &p.root_cause {
        fields.push(("Root cause".to_owned(), user_text(rc, TEXT_SHOWN)));
    }
    if let Some(w) = &p.workaround {
        fields.push(("Workaround".to_owned(), user_text(w, TEXT_SHOWN)));
    }
    fields.push(("Incidents".to_owned(), linked_states(linked)));
    if !changes.is_empty() {
        let list: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        fields.push(("Fix".to_owned(), list.join(", ")));
    }
    if let Some(r) = &p.resolution {
        fields.push(("Resolution".to_owned(), user_text(r, TEXT_SHOWN)));
    }
    fields.push(("Logged by".to_owned(), neutralize(owner)));
    Card {
        title: format!("{} · {}", p.id, user_text(&p.title, 200)),
        tone,
        fields,
        times: vec![
            ("Logged".to_owned(), p.created_at.timestamp()),
            ("Updated".to_owned(), p.updated_at.timestamp()),
        ],
        footer: Some(format!("{}show {} for everything linked", policy.prefix, p.id)),
    }
}

/// `INC-3 (in progress), INC-5 (resolved)`, or `none yet`.
fn linked_states(linked: &[(IncidentId, State)]) -> String {
    if linked.is_empty() {
        return "none yet".to_owned();
    }
    linked
        .iter()
        .map(|(i, s)| format!("{i} ({})", s.words()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn problem_logged_reply(policy: &Policy, p: &Problem, linked: &[IncidentId]) -> String {
    let mut s = format!("{} logged{}.", named(p), service_of(policy, p));
    if !linked.is_empty() {
        s.push_str(&format!(" Linked: {}.", ids(linked)));
    }
    s.push_str(&format!(" Next: `{}problem assess {}`.", policy.prefix, p.id));
    s
}

/// What happened to a problem, for the roles its route tells.
#[derive(Debug, Clone, Copy)]
pub enum ProblemNews<'a> {
    Logged,
    Assessed,
    Linked(&'a [IncidentId]),
    RootCause,
    Workaround(usize),
    Resolved,
    Closed,
    Cancelled,
}

/// What the roles of a problem's route are told of an action on it.
pub fn problem_told(policy: &Policy, p: &Problem, news: ProblemNews<'_>, by: &str) -> String {
    let what = match news {
        ProblemNews::Logged => "logged".to_owned(),
        ProblemNews::Assessed => "assessed".to_owned(),
        ProblemNews::Linked(list) => format!("{} linked", ids(list)),
        ProblemNews::RootCause => format!(
            "root cause found: {}",
            user_text(p.root_cause.as_deref().unwrap_or_default(), 300)
        ),
        ProblemNews::Workaround(told) => format!(
            "now a known error, workaround: {} (told {told} open incident{})",
            user_text(p.workaround.as_deref().unwrap_or_default(), 300),
            if told == 1 { "" } else { "s" }
        ),
        ProblemNews::Resolved => format!(
            "resolved: {}",
            user_text(p.resolution.as_deref().unwrap_or_default(), 300)
        ),
        ProblemNews::Closed => "closed".to_owned(),
        ProblemNews::Cancelled => format!(
            "cancelled: {}",
            user_text(p.resolution.as_deref().unwrap_or_default(), 300)
        ),
    };
    format!(
        "🧩 {}{}: {what} by {}.",
        named(p),
        service_of(policy, p),
        neutralize(by)
    )
}

/// What the consulted roles of a problem's route are asked.
pub fn problem_asked(policy: &Policy, p: &Problem) -> String {
    format!(
        "❓ Your input is asked on {}{}: what do you know of its cause? (`{}show {}`)",
        named(p),
        service_of(policy, p),
        policy.prefix,
        p.id
    )
}

/// The command that moves a problem to `to`.
fn command_for(prefix: &str, id: ProblemId, to: ProblemState) -> String {
    match to {
        ProblemState::New => format!("`{prefix}problem <title>`"),
        ProblemState::Assessed => format!("`{prefix}problem assess {id}`"),
        ProblemState::RootCauseKnown => format!("`{prefix}problem rootcause {id} <text>`"),
        ProblemState::KnownError => format!("`{prefix}problem workaround {id} <text>`"),
        ProblemState::Resolved => {
            format!("`{prefix}problem resolve {id} <fix>` (or close its `change … problem={id}`)")
        }
        ProblemState::Closed => format!("`{prefix}problem close {id}`"),
        ProblemState::Cancelled => format!("`{prefix}problem cancel {id} <reason>`"),
    }
}

/// A refused move, with the command for each move that is allowed.
pub fn invalid_problem_move(prefix: &str, p: &Problem, e: &InvalidProblemMove) -> String {
    let id = p.id;
    match e {
        InvalidProblemMove::OpenIncidents { open } => format!(
            "{id} still has {open} open linked incident{}: resolve or cancel {} first (`{prefix}show {id}` lists them).",
            if *open == 1 { "" } else { "s" },
            if *open == 1 { "it" } else { "them" }
        ),
        InvalidProblemMove::Lifecycle { from, to } => {
            let allowed = from.allowed_next();
            if allowed.is_empty() {
                return format!(
                    "{id} is {}: nothing more changes it. If the defect is back, log a new problem with `{prefix}problem <title>`.",
                    from.words()
                );
            }
            // One step away: say which command comes first.
            if let Some(step) = allowed
                .iter()
                .copied()
                .find(|s| *s != *from && *s != ProblemState::Cancelled && s.allowed_next().contains(to))
            {
                return format!(
                    "{id} is {}: {} first, then {}.",
                    from.words(),
                    command_for(prefix, id, step),
                    command_for(prefix, id, *to)
                );
            }
            let next: Vec<String> = allowed.iter().map(|s| command_for(prefix, id, *s)).collect();
            format!(
                "{id} is {} and cannot become {}: {}.",
                from.words(),
                to.words(),
                next.join(" or ")
            )
        }
    }
}

/// An incident is linked to one problem at most.
pub fn incident_has_problem(prefix: &str, inc: IncidentId, other: ProblemId) -> String {
    format!(
        "{inc} is already linked to {other}: an incident has one underlying problem, so it gets one workaround and one fix. \
         If {other} is the same defect, cancel one problem (`{prefix}problem cancel PRB-n <reason>`) and link to the other."
    )
}

pub fn problem_not_open(p: &Problem) -> String {
    format!(
        "{} is {}: incidents are linked to problems still being worked.",
        p.id,
        p.state.words()
    )
}

pub fn problem_linked_reply(p: &Problem, linked: &[IncidentId]) -> String {
    format!("Linked {} to {}.", ids(linked), named(p))
}

/// Told in a linked incident's thread: the problem, and its workaround when known.
pub fn incident_linked_to_problem(p: &Problem) -> String {
    match &p.workaround {
        Some(w) => format!(
            "🧩 Linked to known error {} — workaround: {}",
            named(p),
            user_text(w, TEXT_SHOWN)
        ),
        None => format!(
            "🧩 Linked to problem {}: its root cause is being investigated.",
            named(p)
        ),
    }
}

/// Posted in every open linked incident's thread when the workaround is given.
pub fn workaround_for_incident(p: &Problem) -> String {
    format!(
        "🩹 Known error {} — workaround: {}",
        named(p),
        user_text(p.workaround.as_deref().unwrap_or_default(), TEXT_SHOWN)
    )
}

pub fn workaround_reply(p: &Problem, told: &[IncidentId]) -> String {
    let mut s = format!(
        "{} is a known error; the workaround is in the known-error database.",
        p.id
    );
    if !told.is_empty() {
        s.push_str(&format!(" Told in the threads of {}.", ids(told)));
    }
    s
}

pub fn root_cause_reply(p: &Problem) -> String {
    format!("Root cause of {} recorded; it is {}.", p.id, p.state.words())
}

pub fn assessed_reply(prefix: &str, p: &Problem) -> String {
    format!(
        "{} assessed. Next: `{prefix}problem rootcause {} <text>` or `{prefix}problem workaround {} <text>`.",
        p.id, p.id, p.id
    )
}

/// Told in a new incident's thread that matches a known error.
pub fn looks_like_known_error(p: &Problem) -> String {
    format!(
        "🔎 This looks like known error {} — workaround: {}",
        named(p),
        user_text(p.workaround.as_deref().unwrap_or_default(), TEXT_SHOWN)
    )
}

/// The incident card's field for its problem: linked, or only suggested.
pub fn incident_problem_field(p: &Problem, linked: bool) -> (String, String) {
    let name = if linked { "Problem" } else { "Looks like known error" };
    let value = match &p.workaround {
        Some(w) => format!("{} · {} — workaround: {}", p.id, p.state.words(), user_text(w, 300)),
        None => format!("{} · {}", p.id, p.state.words()),
    };
    (name.to_owned(), value)
}

/// `!show INC-n`'s line about its problem.
pub fn incident_problem_line(p: &Problem, linked: bool) -> String {
    let (name, value) = incident_problem_field(p, linked);
    format!("{name}: {value}")
}

/// The resolution a linked incident gets when the fixing change closes.
pub fn fixed_by_change(change: ChangeId, p: ProblemId) -> String {
    format!("fixed by {change} ({p})")
}

/// The resolution a linked incident gets when the problem is resolved by hand.
pub fn fixed_by_problem(p: &Problem, how: &str) -> String {
    format!("fixed by {}: {}", p.id, user_text(how, 300))
}

/// Told to a linked incident left open (config `problem.resolve_linked_incidents = false`).
pub fn fix_in_place(prefix: &str, p: &Problem, inc: &Incident, how: &str) -> String {
    format!(
        "✅ {} is fixed ({}): check that {} is solved, then `{prefix}resolve {} <resolution>`.",
        named(p),
        user_text(how, 300),
        inc.id,
        inc.id
    )
}

pub fn problem_resolved_reply(p: &Problem, resolved: &[IncidentId], left: &[IncidentId]) -> String {
    let mut s = format!("{} resolved.", p.id);
    if !resolved.is_empty() {
        s.push_str(&format!(" Resolved with it: {}.", ids(resolved)));
    }
    if !left.is_empty() {
        s.push_str(&format!(" Their handlers were told: {}.", ids(left)));
    }
    s
}

/// The problem manager is told a change fixed a problem.
pub fn problem_fixed_by_change(
    policy: &Policy,
    p: &Problem,
    change: ChangeId,
    resolved: &[IncidentId],
    left: &[IncidentId],
) -> String {
    let mut s = format!("✅ {change} closed: {}{} is resolved.", named(p), service_of(policy, p));
    if !resolved.is_empty() {
        s.push_str(&format!(" Linked incidents resolved: {}.", ids(resolved)));
    }
    if !left.is_empty() {
        s.push_str(&format!(" Left to their handlers: {}.", ids(left)));
    }
    s.push_str(&format!(" Close it with `{}problem close {}`.", policy.prefix, p.id));
    s
}

pub fn closed_problem_reply(p: &Problem) -> String {
    format!("{} closed.", p.id)
}

pub fn cancelled_problem_reply(p: &Problem) -> String {
    format!("{} cancelled.", p.id)
}

/// `!change … problem=PRB-n`'s addition to the change reply.
pub fn change_fixes(p: &Problem) -> String {
    format!("It is raised to fix {}: closing it resolves the problem.", named(p))
}

pub fn change_already_fixes(change: ChangeId, p: ProblemId) -> String {
    format!("{change} is raised to fix {p} already.")
}

/// The copy-ready command that opens a problem from an incident.
fn open_from(prefix: &str, inc: &Incident) -> String {
    let service = inc
        .service
        .as_deref()
        .map(|s| format!(" service={s}"))
        .unwrap_or_default();
    format!(
        "`{prefix}problem {}{service} from={}`",
        user_text(&inc.title, 100).replace('`', "'"),
        inc.id
    )
}

/// Asked of the problem manager once a major incident is resolved.
pub fn prompt_after_major(prefix: &str, inc: &Incident) -> String {
    format!(
        "🧩 Major incident {} «{}» is resolved. Open a problem to find its root cause? {}",
        inc.id,
        user_text(&inc.title, 120),
        open_from(prefix, inc)
    )
}

/// Asked of the problem manager when an incident keeps being reopened.
pub fn prompt_after_reopens(prefix: &str, inc: &Incident, reopens: i64) -> String {
    format!(
        "🧩 {} «{}» has been reopened {reopens} times: it may be a problem. {}",
        inc.id,
        user_text(&inc.title, 120),
        open_from(prefix, inc)
    )
}

/// `!show PRB-n`.
pub fn show_problem(
    policy: &Policy,
    p: &Problem,
    linked: &[(IncidentId, State, String)],
    changes: &[ChangeId],
    owner: &str,
) -> String {
    let mut s = format!(
        "**{}**{} · {}\nLogged by {} · {}",
        named(p),
        service_of(policy, p),
        p.state.words(),
        neutralize(owner),
        p.created_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Some(rc) = &p.root_cause {
        s.push_str(&format!("\nRoot cause: {}", user_text(rc, TEXT_SHOWN)));
    }
    if let Some(w) = &p.workaround {
        s.push_str(&format!("\nWorkaround: {}", user_text(w, TEXT_SHOWN)));
    }
    if let Some(r) = &p.resolution {
        s.push_str(&format!("\nResolution: {}", user_text(r, TEXT_SHOWN)));
    }
    if !changes.is_empty() {
        let list: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        s.push_str(&format!("\nFix: {}", list.join(", ")));
    }
    if linked.is_empty() {
        s.push_str(&format!(
            "\nIncidents: none yet (`{}problem link {} INC-n…`)",
            policy.prefix, p.id
        ));
    } else {
        s.push_str(&format!("\nIncidents ({}):", linked.len()));
        for (id, state, title) in linked {
            s.push_str(&format!("\n• {id} · {} · {}", state.words(), user_text(title, 80)));
        }
    }
    s
}

/// One line of `!problems` or `!kedb`.
fn problem_line(policy: &Policy, p: &Problem, linked: Option<i64>) -> String {
    let mut s = format!("• {}{} · {}", named(p), service_of(policy, p), p.state.words());
    if let Some(n) = linked {
        s.push_str(&format!(" · {n} incident{}", if n == 1 { "" } else { "s" }));
    }
    s
}

/// `!problems`.
pub fn problems_list(policy: &Policy, what: &str, rows: &[(Problem, i64)], total: i64) -> String {
    if rows.is_empty() {
        return format!("No {what} problems.");
    }
    let mut s = format!("**Problems ({what})** · {total}");
    for (p, n) in rows {
        s.push('\n');
        s.push_str(&problem_line(policy, p, Some(*n)));
    }
    if total > rows.len() as i64 {
        s.push_str(&format!("\n… and {} more", total - rows.len() as i64));
    }
    s
}

/// `!kedb`: known errors with their workarounds.
pub fn kedb_list(policy: &Policy, what: &str, rows: &[Problem]) -> String {
    if rows.is_empty() {
        return format!("No known error {what}.");
    }
    let mut s = format!("**Known errors {what}** · {}", rows.len());
    for p in rows {
        s.push('\n');
        s.push_str(&problem_line(policy, p, None));
        if let Some(w) = &p.workaround {
            s.push_str(&format!("\n  workaround: {}", user_text(w, 300)));
        }
    }
    s
}

/// Linking only incidents that are linked to it already.
pub fn problem_linked_already(p: &Problem, list: &[IncidentId]) -> String {
    format!(
        "{} {} linked to {} already.",
        ids(list),
        if list.len() == 1 { "is" } else { "are" },
        p.id
    )
}

/// A step that takes a text, given none.
pub fn problem_step_needs_text(prefix: &str, id: ProblemId, step: ProblemStep) -> String {
    format!(
        "Say the {}: `{prefix}problem {} {id} <{}>`.",
        step.field(),
        step.word(),
        step.field()
    )
}

/// What `!kedb` searched: `on Email matching "outlook crash"`.
pub fn kedb_scope(policy: &Policy, service: Option<&str>, words: Option<&SearchQuery>) -> String {
    let mut s = String::new();
    if let Some(key) = service {
        s.push_str(&format!("on {}", service_name(policy, key)));
    }
    if let Some(w) = words {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&format!("matching \"{}\"", neutralize(&w.to_string())));
    }
    if s.is_empty() {
        s.push_str("(all)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn p(state: ProblemState) -> Problem {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Problem {
            id: ProblemId::from_row(2),
            title: "Queue stalls @everyone".into(),
            service: None,
            state,
            root_cause: None,
            workaround: None,
            resolution: None,
            owner: UserId::new(1),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_refused_move_names_the_command_that_comes_first() {
        let e = InvalidProblemMove::Lifecycle {
            from: ProblemState::New,
            to: ProblemState::KnownError,
        };
        assert_eq!(
            invalid_problem_move("!", &p(ProblemState::New), &e),
            "PRB-2 is new: `!problem assess PRB-2` first, then `!problem workaround PRB-2 <text>`."
        );
        let e = InvalidProblemMove::OpenIncidents { open: 1 };
        assert!(invalid_problem_move("!", &p(ProblemState::Resolved), &e).contains("1 open linked incident:"));
    }

    #[test]
    fn user_text_in_a_problem_never_pings() {
        assert!(workaround_for_incident(&p(ProblemState::KnownError)).contains("@\u{200B}everyone"));
    }
}
