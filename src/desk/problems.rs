//! Problem management: `!problem` (log, link, assess, root cause, workaround,
//! resolve, close, cancel), `!show PRB-n`, `!problems` and `!kedb`, and the
//! hooks other kinds call: a new incident matched to a known error, the
//! incident card and `!show INC-n` naming the problem, a change raised to fix
//! a problem and its closing resolving it, and the prompts to the problem
//! manager after a major incident or repeated reopening.
//!
//! The rules of links live here: an incident is linked to one problem at
//! most (one defect, one workaround, one fix), and only open problems take
//! links. The lifecycle is `domain::problem`.

use super::act::Act;
use super::fanout::{fan_out, Notice};
use super::incidents::{incident, name_of, pinging_workers, Move};
use super::{rejected, Actor, Desk, DeskError, DeskResult, Reply};
use crate::command::{ProblemFilter, ProblemStep};
use crate::domain::change::Change;
use crate::domain::incident::{Incident, IncidentId, State};
use crate::domain::problem::{InvalidProblemMove, NewProblem, Problem, ProblemId, ProblemState};
use crate::domain::raci::{Action, Route, RouteContext};
use crate::domain::search::SearchQuery;
use crate::domain::text::bounded;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render::{self, ProblemNews};
use crate::store::{self, problems::PromptReason};

/// How many problems `!problems` and `!kedb` list.
const LIST_MAX: u32 = 20;

/// A problem's route for one action: its service's owner stands in for `@service_owner`.
fn problem_route(desk: &Desk, action: Action, p: &Problem) -> Route {
    let policy = desk.policy();
    let owner = p.service.as_deref().and_then(|s| policy.service(s)).map(|s| &s.owner);
    let fallback = policy.incident_manager();
    policy.raci.route(
        action,
        RouteContext {
            service_owner: owner,
            assignment_group: None,
            fallback: &fallback,
        },
    )
}

/// The role whose channel holds problem cards: `problem_log`'s responsible.
fn card_role(desk: &Desk, p: &Problem) -> crate::domain::RoleKey {
    problem_route(desk, Action::ProblemLog, p).responsible
}

/// Loads a problem; a refusal naming it when there is none.
pub(crate) async fn load(tx: &mut Act<'_>, id: ProblemId) -> DeskResult<Problem> {
    match store::problems::get(tx, id).await? {
        Some(p) => Ok(p),
        None => rejected(render::unknown_problem(id)),
    }
}

/// The problem card as it is now (posted the first time, edited after).
async fn card(desk: &Desk, tx: &mut Act<'_>, p: &Problem, new: bool) -> DeskResult<Outgoing> {
    let policy = desk.policy();
    let linked = store::problems::incidents(tx, p.id).await?;
    let changes = store::problems::changes(tx, p.id).await?;
    let owner = name_of(tx, p.owner).await?;
    let role = card_role(desk, p);
    let mut msg = OutMessage::text(render::problem_card_text(policy, p, new))
        .with_card(render::problem_card(policy, p, &linked, &changes, &owner));
    if new {
        msg = msg.pinging_roles([role.clone()]);
    }
    Ok(Outgoing::card(p.id.to_string(), Destination::RoleChannel(role), msg))
}

/// The RACI fan-out of one action on a problem; the card's channel has the
/// card already (unless `ping` asks for its role to be pinged).
fn notices(desk: &Desk, action: Action, p: &Problem, text: String, ping: bool) -> Vec<Outgoing> {
    let policy = desk.policy();
    let route = problem_route(desk, action, p);
    let covered = policy
        .role(&card_role(desk, p))
        .map(|r| r.channel.clone())
        .into_iter()
        .collect();
    let ping: &[crate::domain::escalation::Party] = if ping {
        &[crate::domain::escalation::Party::Responsible]
    } else {
        &[]
    };
    fan_out(
        desk,
        Notice {
            route: &route,
            subject: p.id.to_string(),
            ping,
            assignee: None,
            text: text.clone(),
            tell: text,
            ask: render::problem_asked(policy, p),
            covered,
        },
    )
}

fn refused(prefix: &str, p: &Problem) -> impl Fn(InvalidProblemMove) -> DeskError {
    let (prefix, p) = (prefix.to_owned(), p.clone());
    move |e| DeskError::Rejected(render::invalid_problem_move(&prefix, &p, &e))
}

fn checked_text(desk: &Desk, field: &'static str, text: &str) -> DeskResult<String> {
    bounded(field, text, desk.policy().limits.note_max, false).map_err(DeskError::from)
}

/// Checks that every incident exists and may be linked to `p` (not linked to
/// another problem, not named twice); the ones already linked to `p` are left out.
async fn linkable(
    desk: &Desk,
    tx: &mut Act<'_>,
    p: Option<ProblemId>,
    ids: &[IncidentId],
) -> DeskResult<Vec<Incident>> {
    let prefix = &desk.policy().prefix;
    let mut out: Vec<Incident> = Vec::new();
    for &id in ids {
        let inc = incident(tx, id).await?;
        match store::problems::problem_of(tx, id).await? {
            Some(other) if Some(other) == p => continue,
            Some(other) => return rejected(render::incident_has_problem(prefix, id, other)),
            None => {}
        }
        if !out.iter().any(|i| i.id == id) {
            out.push(inc);
        }
    }
    Ok(out)
}

/// Links checked incidents, tells each thread and records it on each incident's trail.
async fn link_checked(tx: &mut Act<'_>, actor: &Actor, p: &Problem, incidents: &[Incident]) -> DeskResult<()> {
    let now = tx.now;
    for inc in incidents {
        store::problems::link_incident(tx, p.id, inc.id, actor.user, now).await?;
        let out = vec![Outgoing::in_thread(
            inc.id,
            OutMessage::text(render::incident_linked_to_problem(p)),
        )];
        tx.record(
            Some(actor.user),
            Action::ProblemUpdate,
            &inc.id.to_string(),
            render::history::linked_to_problem(p.id),
            &out,
        );
    }
    Ok(())
}

/// `!problem <title> [service=] [from=INC-n,…]`.
pub(crate) async fn log_problem(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    title: &str,
    service: Option<&str>,
    from: &[IncidentId],
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let title = bounded("title", title, policy.limits.title_max, false)?;
    let service = match service {
        None => None,
        Some(name) => match policy.service(name) {
            Some(s) => Some(s.key.clone()),
            None => return rejected(render::unknown_service(policy, name)),
        },
    };
    let incidents = linkable(desk, tx, None, from).await?;
    // A problem opened from incidents is about their service unless told otherwise.
    let service = service.or_else(|| incidents.iter().find_map(|i| i.service.clone()));
    let now = tx.now;
    let p = store::problems::insert(
        tx,
        &NewProblem {
            title,
            service,
            owner: actor.user,
        },
        now,
    )
    .await?;
    link_checked(tx, actor, &p, &incidents).await?;
    let by = name_of(tx, actor.user).await?;
    let mut out = vec![card(desk, tx, &p, true).await?];
    out.extend(notices(
        desk,
        Action::ProblemLog,
        &p,
        render::problem_told(policy, &p, ProblemNews::Logged, &by),
        false,
    ));
    let linked: Vec<IncidentId> = incidents.iter().map(|i| i.id).collect();
    tx.record(
        Some(actor.user),
        Action::ProblemLog,
        &p.id.to_string(),
        render::history::problem_logged(policy, &p, &linked),
        &out,
    );
    tracing::info!(problem = %p.id, linked = linked.len(), "problem logged");
    Ok(Reply::public(render::problem_logged_reply(policy, &p, &linked)))
}

/// `!problem link PRB-n INC-m…`.
pub(crate) async fn link(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ProblemId,
    ids: &[IncidentId],
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let p = load(tx, id).await?;
    if !p.takes_links() {
        return rejected(render::problem_not_open(&p));
    }
    let incidents = linkable(desk, tx, Some(id), ids).await?;
    if incidents.is_empty() {
        return rejected(render::problem_linked_already(&p, ids));
    }
    link_checked(tx, actor, &p, &incidents).await?;
    let linked: Vec<IncidentId> = incidents.iter().map(|i| i.id).collect();
    let by = name_of(tx, actor.user).await?;
    let mut out = vec![card(desk, tx, &p, false).await?];
    out.extend(notices(
        desk,
        Action::ProblemUpdate,
        &p,
        render::problem_told(policy, &p, ProblemNews::Linked(&linked), &by),
        false,
    ));
    tx.record(
        Some(actor.user),
        Action::ProblemUpdate,
        &id.to_string(),
        render::history::problem_linked(&linked),
        &out,
    );
    Ok(Reply::public(render::problem_linked_reply(&p, &linked)))
}

/// `!problem assess|rootcause|workaround|resolve|close|cancel PRB-n [text]`.
pub(crate) async fn step(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ProblemId,
    step: ProblemStep,
    text: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let prefix = &policy.prefix;
    let now = tx.now;
    let mut p = load(tx, id).await?;
    let text = match text.as_deref() {
        Some(t) => Some(checked_text(desk, step.field(), t)?),
        None => None,
    };
    let needs = |text: &Option<String>| -> DeskResult<String> {
        match text {
            Some(t) => Ok(t.clone()),
            None => rejected(render::problem_step_needs_text(prefix, id, step)),
        }
    };
    let linked = store::problems::incidents(tx, id).await?;
    let by = name_of(tx, actor.user).await?;
    let mut out = Vec::new();
    let (action, news, details, reply) = match step {
        ProblemStep::Assess => {
            p.assess(now).map_err(refused(prefix, &p))?;
            let reply = render::assessed_reply(prefix, &p);
            (
                Action::ProblemUpdate,
                ProblemNews::Assessed,
                render::history::problem_assessed(text.as_deref()),
                reply,
            )
        }
        ProblemStep::RootCause => {
            let t = needs(&text)?;
            p.set_root_cause(&t, now).map_err(refused(prefix, &p))?;
            (
                Action::ProblemUpdate,
                ProblemNews::RootCause,
                render::history::root_cause_found(&t),
                render::root_cause_reply(&p),
            )
        }
        ProblemStep::Workaround => {
            let t = needs(&text)?;
            p.set_workaround(&t, now).map_err(refused(prefix, &p))?;
            // Every open linked incident's thread gets it, pinging whoever works it.
            let mut told = Vec::new();
            for (inc_id, state) in &linked {
                if !state.is_open() {
                    continue;
                }
                if let Some(inc) = store::incidents::get(tx, *inc_id).await? {
                    let msg = pinging_workers(OutMessage::text(render::workaround_for_incident(&p)), &inc);
                    out.push(Outgoing::in_thread(*inc_id, msg));
                    told.push(*inc_id);
                }
            }
            (
                Action::ProblemUpdate,
                ProblemNews::Workaround(told.len()),
                render::history::workaround_given(&t, told.len()),
                render::workaround_reply(&p, &told),
            )
        }
        ProblemStep::Resolve => {
            let t = needs(&text)?;
            p.resolve(&t, now).map_err(refused(prefix, &p))?;
            store::problems::update(tx, &p).await?;
            let resolution = render::fixed_by_problem(&p, &t);
            let (resolved, left) = settle(desk, tx, actor, &p, &t, &resolution).await?;
            (
                Action::ProblemResolve,
                ProblemNews::Resolved,
                render::history::problem_resolved(&t),
                render::problem_resolved_reply(&p, &resolved, &left),
            )
        }
        ProblemStep::Close => {
            let open = linked.iter().filter(|(_, s)| s.is_open()).count();
            p.close(open, now).map_err(refused(prefix, &p))?;
            (
                Action::ProblemResolve,
                ProblemNews::Closed,
                render::history::problem_closed(),
                render::closed_problem_reply(&p),
            )
        }
        ProblemStep::Cancel => {
            let t = needs(&text)?;
            p.cancel(&t, now).map_err(refused(prefix, &p))?;
            (
                Action::ProblemResolve,
                ProblemNews::Cancelled,
                render::history::problem_cancelled(&t),
                render::cancelled_problem_reply(&p),
            )
        }
    };
    store::problems::update(tx, &p).await?;
    out.insert(0, card(desk, tx, &p, false).await?);
    out.extend(notices(
        desk,
        action,
        &p,
        render::problem_told(policy, &p, news, &by),
        false,
    ));
    tx.record(Some(actor.user), action, &id.to_string(), details, &out);
    tracing::info!(problem = %id, state = %p.state, "problem moved");
    Ok(Reply::public(reply))
}

/// The fix of a resolved problem reaches its linked incidents still open:
/// resolved with `resolution` through the one lifecycle path (their
/// reporters are asked the satisfaction question there), or, with
/// `problem.resolve_linked_incidents` off, their handlers and reporters told.
async fn settle(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    p: &Problem,
    how: &str,
    resolution: &str,
) -> DeskResult<(Vec<IncidentId>, Vec<IncidentId>)> {
    let policy = desk.policy();
    let (mut resolved, mut left) = (Vec::new(), Vec::new());
    for (inc_id, state) in store::problems::incidents(tx, p.id).await? {
        if !state.is_open() {
            continue;
        }
        let Some(inc) = store::incidents::get(tx, inc_id).await? else {
            continue;
        };
        if policy.problem.resolve_linked_incidents {
            super::incidents::move_incident(
                desk,
                tx,
                actor,
                inc,
                Move::to(State::Resolved, Some(resolution.to_owned())),
            )
            .await?;
            resolved.push(inc_id);
        } else {
            let msg = pinging_workers(
                OutMessage::text(render::fix_in_place(&policy.prefix, p, &inc, how)),
                &inc,
            )
            .pinging_users([inc.reporter]);
            let out = vec![Outgoing::in_thread(inc_id, msg)];
            tx.record(
                Some(actor.user),
                Action::ProblemResolve,
                &inc_id.to_string(),
                render::history::told_of_fix(p.id),
                &out,
            );
            left.push(inc_id);
        }
    }
    Ok((resolved, left))
}

/// `!show PRB-n`.
pub(crate) async fn show(desk: &Desk, tx: &mut Act<'_>, id: ProblemId) -> DeskResult<Reply> {
    let p = load(tx, id).await?;
    let mut linked = Vec::new();
    for (inc_id, state) in store::problems::incidents(tx, id).await? {
        let title = store::incidents::get(tx, inc_id)
            .await?
            .map(|i| i.title)
            .unwrap_or_default();
        linked.push((inc_id, state, title));
    }
    let changes = store::problems::changes(tx, id).await?;
    let owner = name_of(tx, p.owner).await?;
    Ok(Reply::public(render::show_problem(
        desk.policy(),
        &p,
        &linked,
        &changes,
        &owner,
    )))
}

/// `!problems [open|known|mine|all] [service=]`.
pub(crate) async fn list(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    filter: ProblemFilter,
    service: Option<&str>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let service = match service {
        None => None,
        Some(name) => match policy.service(name) {
            Some(s) => Some(s.key.clone()),
            None => return rejected(render::unknown_service(policy, name)),
        },
    };
    let open: Vec<ProblemState> = ProblemState::ALL.into_iter().filter(|s| s.is_open()).collect();
    let sel = store::problems::ProblemSelection {
        states: match filter {
            ProblemFilter::Open | ProblemFilter::Mine => open,
            ProblemFilter::Known => vec![ProblemState::KnownError],
            ProblemFilter::All => Vec::new(),
        },
        service,
        owner: (filter == ProblemFilter::Mine).then_some(actor.user),
    };
    let (rows, total) = store::problems::list(tx, &sel, LIST_MAX).await?;
    Ok(Reply::public(render::problems_list(
        policy,
        filter.words(),
        &rows,
        total,
    )))
}

/// `!kedb [service=] [words]`: known errors and their workarounds.
pub(crate) async fn kedb(
    desk: &Desk,
    tx: &mut Act<'_>,
    service: Option<&str>,
    words: Option<&SearchQuery>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let service = match service {
        None => None,
        Some(name) => match policy.service(name) {
            Some(s) => Some(s.key.clone()),
            None => return rejected(render::unknown_service(policy, name)),
        },
    };
    let rows = store::problems::known_errors(tx, service.as_deref(), words, LIST_MAX).await?;
    let what = render::kedb_scope(policy, service.as_deref(), words);
    Ok(Reply::public(render::kedb_list(policy, &what, &rows)))
}

// ── Hooks other kinds call ──

/// A new incident on a service whose words match a known error there: its
/// card (`out[0]`) shows the suggestion and its thread is told the workaround
/// (pushed after the card, so the thread exists first). Returns the reply's
/// added line and the phrase the caller records after its own entry.
pub(crate) async fn suggest_known_error(
    tx: &mut Act<'_>,
    inc: &Incident,
    out: &mut Vec<Outgoing>,
) -> DeskResult<Option<(String, crate::domain::audit::Phrase)>> {
    let (Some(service), Some(words)) = (inc.service.as_deref(), SearchQuery::parse(&inc.title)) else {
        return Ok(None);
    };
    let Some(p) = store::problems::matching_known_error(tx, service, &words).await? else {
        return Ok(None);
    };
    let now = tx.now;
    store::problems::suggest(tx, inc.id, p.id, now).await?;
    if let Some(card) = out.first_mut().and_then(|o| o.message.card.as_mut()) {
        card.fields.push(render::incident_problem_field(&p, false));
    }
    out.push(Outgoing::in_thread(
        inc.id,
        OutMessage::text(render::looks_like_known_error(&p)),
    ));
    Ok(Some((
        render::looks_like_known_error(&p),
        render::history::suggested_known_error(p.id),
    )))
}

/// The problem an incident's card and `!show` name: the linked one, else a
/// known error suggested to it (while it is one); with whether it is linked.
async fn problem_for(tx: &mut Act<'_>, id: IncidentId) -> DeskResult<Option<(Problem, bool)>> {
    if let Some(pid) = store::problems::problem_of(tx, id).await? {
        return Ok(store::problems::get(tx, pid).await?.map(|p| (p, true)));
    }
    if let Some(pid) = store::problems::suggestion(tx, id).await? {
        let p = store::problems::get(tx, pid).await?;
        return Ok(p.filter(|p| p.state == ProblemState::KnownError).map(|p| (p, false)));
    }
    Ok(None)
}

/// Adds the problem field to an incident's card.
pub(crate) async fn decorate_card(tx: &mut Act<'_>, id: IncidentId, card: &mut Outgoing) -> DeskResult<()> {
    if let Some((p, linked)) = problem_for(tx, id).await? {
        if let Some(c) = card.message.card.as_mut() {
            c.fields.push(render::incident_problem_field(&p, linked));
        }
    }
    Ok(())
}

/// `!show INC-n`'s line about its problem and workaround, if it has one.
pub(crate) async fn incident_line(tx: &mut Act<'_>, id: IncidentId) -> DeskResult<Option<String>> {
    Ok(problem_for(tx, id)
        .await?
        .map(|(p, linked)| render::incident_problem_line(&p, linked)))
}

/// `!change … problem=PRB-n`: the change is raised to fix the problem. Returns
/// the reply's added line.
pub(crate) async fn change_filed(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    ch: &Change,
    id: ProblemId,
) -> DeskResult<String> {
    let p = load(tx, id).await?;
    if !p.state.is_open() {
        return rejected(render::problem_not_open(&p));
    }
    let now = tx.now;
    if !store::problems::link_change(tx, ch.id, id, now).await? {
        return rejected(render::change_already_fixes(ch.id, id));
    }
    let out = vec![card(desk, tx, &p, false).await?];
    tx.record(
        Some(actor.user),
        Action::ProblemUpdate,
        &ch.id.to_string(),
        render::history::change_fixes_problem(id),
        &out,
    );
    Ok(render::change_fixes(&p))
}

/// A change moved to closed: the problem it was raised to fix is resolved,
/// the problem manager told, and its linked incidents still open resolved
/// "fixed by CHG-n (PRB-n)" (or their handlers told, per config). Returns the
/// reply's added line when the change fixed a problem.
pub(crate) async fn change_closed(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    ch: &Change,
) -> DeskResult<Option<String>> {
    let policy = desk.policy();
    let Some(id) = store::problems::fixed_by(tx, ch.id).await? else {
        return Ok(None);
    };
    let mut p = load(tx, id).await?;
    if !p.state.is_open() {
        return Ok(None);
    }
    let now = tx.now;
    let how = render::fixed_by_change(ch.id, id);
    // A fix through change implies the problem was assessed.
    if p.state == ProblemState::New {
        p.assess(now).map_err(refused(&policy.prefix, &p))?;
    }
    p.resolve(&how, now).map_err(refused(&policy.prefix, &p))?;
    store::problems::update(tx, &p).await?;
    let (resolved, left) = settle(desk, tx, actor, &p, &how, &how).await?;
    let mut out = vec![card(desk, tx, &p, false).await?];
    let told = render::problem_fixed_by_change(policy, &p, ch.id, &resolved, &left);
    out.extend(notices(desk, Action::ProblemResolve, &p, told.clone(), true));
    tx.record(
        Some(actor.user),
        Action::ProblemResolve,
        &id.to_string(),
        render::history::problem_resolved(&how),
        &out,
    );
    tracing::info!(problem = %id, change = %ch.id, resolved = resolved.len(), "problem fixed by change");
    Ok(Some(render::problem_resolved_reply(&p, &resolved, &left)))
}

/// After an incident moved: a resolved major incident, or one reopened
/// `problem.reopens_suggest` times, asks the problem manager (once per
/// incident and reason) to open a problem, unless it has one.
pub(crate) async fn after_incident_move(
    desk: &Desk,
    tx: &mut Act<'_>,
    inc: &Incident,
    from: State,
    to: State,
) -> DeskResult<()> {
    let policy = desk.policy();
    let reopened = from == State::Resolved && to == State::InProgress;
    if to != State::Resolved && !reopened {
        return Ok(());
    }
    let now = tx.now;
    let reason = if reopened {
        let n = store::problems::count_reopen(tx, inc.id).await?;
        if policy.problem.reopens_suggest == 0 || n < i64::from(policy.problem.reopens_suggest) {
            return Ok(());
        }
        (PromptReason::Reopened, n)
    } else {
        if !store::escalations::get(tx, inc.id).await?.major {
            return Ok(());
        }
        (PromptReason::Major, 0)
    };
    if store::problems::problem_of(tx, inc.id).await?.is_some()
        || !store::problems::prompt_once(tx, inc.id, reason.0, now).await?
    {
        return Ok(());
    }
    let route = policy.raci.route(
        Action::ProblemLog,
        RouteContext {
            service_owner: None,
            assignment_group: None,
            fallback: &policy.incident_manager(),
        },
    );
    let text = match reason {
        (PromptReason::Major, _) => render::prompt_after_major(&policy.prefix, inc),
        (PromptReason::Reopened, n) => render::prompt_after_reopens(&policy.prefix, inc, n),
    };
    let out = vec![Outgoing::post(
        Destination::RoleChannel(route.responsible.clone()),
        OutMessage::text(text).pinging_roles([route.responsible.clone()]),
    )
    .about(inc.id.to_string())];
    tx.record(
        None,
        Action::ProblemLog,
        &inc.id.to_string(),
        render::history::asked_for_problem(reason.0 == PromptReason::Major),
        &out,
    );
    Ok(())
}
