//! Incident actions: log, show, list (the queues and `!search`), assign, move through the lifecycle, note,
//! and the 🎫 / ✋ / ⬆️ reactions.

use super::act::Act;
use super::emoji::Emoji;
use super::fanout::Notice;
use super::{rejected, Actor, Desk, DeskError, DeskResult, Inbound, Outcome, ReactedMessage, Reply};
use crate::command::{ListFilter, ListState, TierFilter, UserRef};
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::incident::{HoldReason, Incident, IncidentId, LinkKind, NewIncident, State};
use crate::domain::party::Party;
use crate::domain::priority::{Impact, Urgency};
use crate::domain::raci::{Action, Route, RouteContext};
use crate::domain::search::SearchQuery;
use crate::domain::subject::Subject;
use crate::domain::text::bounded;
use crate::domain::UserId;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render;
use crate::store::{
    self,
    incidents::{Selection, TierSelection, Visibility},
};

/// A request to log an incident, from a command or a 🎫 reaction.
pub(crate) struct LogRequest {
    pub title: String,
    pub impact: Option<Impact>,
    pub urgency: Option<Urgency>,
    pub service: Option<String>,
    pub category: Option<String>,
    /// The reacted message: its author becomes the reporter.
    pub source: Option<(String, ReactedMessage)>,
    /// The monitoring alert that raised it (RACI row `alert_incident`); its
    /// card shows the alert.
    pub alert: Option<crate::domain::alert::AlertKey>,
}

/// The most notes `!show` lists (the latest): about eight messages at most.
const SHOW_NOTES: usize = 50;

/// How many history entries `!show` lists (the latest); `!history` has the rest.
const SHOW_HISTORY: u32 = 8;

/// History entries per `!history` page: lines are cut at 200 characters, so
/// a page fits two Discord messages at most.
pub(crate) const HISTORY_PAGE: u32 = 15;

pub(crate) fn route_for(desk: &Desk, action: Action, inc: &Incident) -> Route {
    let policy = desk.policy();
    let owner = inc.service.as_deref().and_then(|s| policy.service(s)).map(|s| &s.owner);
    let fallback = policy.incident_manager();
    policy.raci.route(
        action,
        RouteContext {
            service_owner: owner,
            assignment_group: Some(&inc.handler_role),
            fallback: &fallback,
        },
    )
}

/// Where an incident of this service and category goes when it is logged
/// (and when a correction re-routes it): the security row for the security
/// category, the alert row for a monitoring alert, the log row otherwise,
/// with the service's owner.
pub(crate) fn intake_route(
    desk: &Desk,
    service: Option<&str>,
    category: Option<&str>,
    alerted: bool,
) -> (Action, Route) {
    let policy = desk.policy();
    let action = if category == Some(policy.security_category.as_str()) {
        Action::SecurityIncident
    } else if alerted {
        Action::AlertIncident
    } else {
        Action::LogIncident
    };
    let fallback = policy.incident_manager();
    let route = policy.raci.route(
        action,
        RouteContext {
            service_owner: service.and_then(|s| policy.service(s)).map(|s| &s.owner),
            assignment_group: None,
            fallback: &fallback,
        },
    );
    (action, route)
}

/// The card of an incident as it is now, to (re)post in its handler's channel.
pub(crate) async fn card(desk: &Desk, tx: &mut Act<'_>, inc: &Incident, new: bool) -> DeskResult<Outgoing> {
    let reporter = name_of(tx, inc.reporter).await?;
    let assignee = match inc.assignee {
        Some(a) => Some(name_of(tx, a).await?),
        None => None,
    };
    let sla = super::sla::sla_view(desk, tx, inc).await?;
    let mut card = card_of(desk, inc, new, &reporter, assignee.as_deref(), sla.as_ref());
    // Its problem (or a known error it looks like) shows on the card.
    super::problems::decorate_card(tx, inc.id, &mut card).await?;
    if let Some(alert) = store::alerts::by_incident(tx, inc.id).await? {
        render::card_fields(&mut card.message, &alert);
    }
    Ok(card)
}

/// [`card`] from names and SLA state already at hand.
pub(crate) fn card_of(
    desk: &Desk,
    inc: &Incident,
    new: bool,
    reporter: &str,
    assignee: Option<&str>,
    sla: Option<&crate::render::SlaView>,
) -> Outgoing {
    let policy = desk.policy();
    let mut card = render::incident_card(policy, inc, reporter, assignee);
    if let Some(sla) = sla {
        render::card_sla(&mut card, sla);
    }
    // The card's buttons follow its state: an edit after a move changes them.
    let mut msg = OutMessage::text(render::card_text(policy, inc, new))
        .with_card(card)
        .with_buttons(render::incident_buttons(inc));
    if new {
        msg = msg.pinging_roles([inc.handler_role.clone()]);
    }
    Outgoing::card(
        inc.id.to_string(),
        Destination::RoleChannel(inc.handler_role.clone()),
        msg,
    )
}

pub(crate) async fn name_of(tx: &mut Act<'_>, user: UserId) -> DeskResult<String> {
    if user == super::SYSTEM {
        return Ok("opsdesk".to_owned());
    }
    let name = store::users::name(tx, user).await?;
    Ok(render::user_label(name.as_deref(), user))
}

/// Tells an incident's route of an action whose card goes to the
/// handler's channel (`fanout`): nobody is pinged beyond the card, the
/// consulted roles are asked, the accountable and informed roles told.
pub(crate) fn inform(
    desk: &Desk,
    route: &Route,
    action: Action,
    inc: &Incident,
    card_role: &crate::domain::RoleKey,
) -> Vec<Outgoing> {
    let policy = desk.policy();
    let covered = policy.role(card_role).map(|r| r.channel.clone()).into_iter().collect();
    super::fanout::fan_out(
        desk,
        Notice {
            route,
            subject: inc.id.to_string(),
            ping: &[],
            assignee: inc.assignee,
            text: render::informed(policy, action, inc),
            tell: render::informed(policy, action, inc),
            ask: render::consulted_incident(policy, action, inc),
            covered,
        },
    )
}

pub(crate) async fn log_incident(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    _channel: Option<&str>,
    req: LogRequest,
) -> DeskResult<Reply> {
    log(desk, tx, actor, req).await.map(|(_, reply)| reply)
}

/// Logs an incident; returns it with the reply (an alert needs its id).
pub(crate) async fn log(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    req: LogRequest,
) -> DeskResult<(Incident, Reply)> {
    let policy = desk.policy();
    let now = tx.now;
    let title = bounded("title", &req.title, policy.limits.title_max, false)?;
    let service = match req.service.as_deref() {
        None => None,
        Some(name) => match policy.service(name) {
            Some(s) => Some(s),
            None => return rejected(render::unknown_service(policy, name)),
        },
    };
    let category = match req.category {
        Some(c) => Some(bounded("category", &c, 40, false)?),
        None => None,
    };
    let impact = req.impact.unwrap_or(policy.default_impact);
    let urgency = req.urgency.unwrap_or(policy.default_urgency);
    let (action, route) = intake_route(
        desk,
        service.map(|s| s.key.as_str()),
        category.as_deref(),
        req.alert.is_some(),
    );
    let (reporter, reporter_name, source_link, source_message) = match &req.source {
        Some((message_id, m)) => (
            m.author,
            m.author_name.clone(),
            m.link.clone(),
            Some(message_id.clone()),
        ),
        None => (actor.user, actor.name.clone(), None, None),
    };
    if reporter != actor.user {
        store::users::upsert(tx, reporter, &reporter_name, now).await?;
    }
    let new = NewIncident {
        title,
        impact,
        urgency,
        priority: policy.matrix.priority(impact, urgency),
        service: service.map(|s| s.key.clone()),
        category,
        reporter,
        handler_role: route.responsible.clone(),
        source_link,
        source_message,
    };
    let inc = store::incidents::insert(tx, &new, now).await?;
    let clocks = super::sla::start_clocks(desk, tx, &inc).await?;
    // Known outage: link it; a report the outage's grouped card counts gets
    // no card or thread of its own until someone works it (`storm`).
    let known = super::outages::link_known_outage(desk, tx, &inc, true).await?;
    let grouped = matches!(known, Some((_, None)));
    // Everything the first card shows is at hand: no need to read it back.
    let reporter_label = render::user_label(Some(&reporter_name), reporter);
    let sla = super::sla::sla_view_of(desk, &inc, &clocks, &Default::default(), now);
    let mut first = card_of(desk, &inc, true, &reporter_label, None, sla.as_ref());
    // An alert's card shows what raised it.
    if let Some(alert) = &req.alert {
        render::card_fields(&mut first.message, alert);
    }
    let mut out = vec![first];
    out.push(Outgoing::in_thread(
        inc.id,
        OutMessage::text(render::thread_welcome(&inc, &reporter_name)).pinging_users([reporter]),
    ));
    out.extend(inform(desk, &route, action, &inc, &inc.handler_role));
    // A known error on its service: its thread and card say so (`problems`).
    let known_error = super::problems::suggest_known_error(tx, &inc, &mut out).await?;
    if let Some((_, Some(told))) = &known {
        out.push(told.clone());
    }
    if grouped {
        // Its card and thread come when it is worked; the reply says the rest.
        out.retain(|o| super::storm::card_addressed(o) != Some(inc.id));
    }
    let for_reporter = (reporter != actor.user).then_some(reporter_label.as_str());
    let details = render::history::logged(policy, &inc, for_reporter, known.as_ref().map(|(o, _)| o.id));
    tx.record(Some(actor.user), action, &inc.id.to_string(), details, &out);
    if let Some((_, phrase)) = &known_error {
        tx.record(None, Action::ProblemUpdate, &inc.id.to_string(), phrase.clone(), &[]);
    }
    tracing::info!(incident = %inc.id, priority = %inc.priority, handler = %inc.handler_role, "incident logged");
    let mut reply = render::incident_logged(policy, &inc, sla.as_ref());
    match &known {
        Some((outage, None)) => reply = format!("{reply} {}", render::known_outage_grouped(policy, outage)),
        Some((outage, Some(_))) => reply = format!("{reply} {}", render::known_outage(policy, outage)),
        None => {}
    }
    if let Some((line, _)) = known_error {
        reply = format!("{reply}\n{line}");
    }
    Ok((inc, Reply::public(reply)))
}

/// Loads an incident (who may act on it was decided by `permit`).
pub(crate) async fn incident(tx: &mut Act<'_>, id: IncidentId) -> DeskResult<Incident> {
    match store::incidents::get(tx, id).await? {
        Some(inc) => Ok(inc),
        None => rejected(render::unknown_incident(id)),
    }
}

pub(crate) async fn show(desk: &Desk, tx: &mut Act<'_>, id: IncidentId) -> DeskResult<Reply> {
    let inc = incident(tx, id).await?;
    let names = render::Names {
        reporter: name_of(tx, inc.reporter).await?,
        assignee: match inc.assignee {
            Some(a) => Some(name_of(tx, a).await?),
            None => None,
        },
    };
    let sla = super::sla::sla_view(desk, tx, &inc).await?;
    // Every note, up to a bound that keeps the answer to a few messages;
    // the answer says when older ones are left out.
    let notes = store::incidents::notes(tx, id, u32::MAX).await?;
    let shown = &notes[notes.len().saturating_sub(SHOW_NOTES)..];
    let subject = id.to_string();
    let (entries, total) = latest_history(tx, &subject).await?;
    let history = render::Trail {
        prefix: &desk.policy().prefix,
        subject: &subject,
        entries: &entries,
        total,
        now: tx.now,
    };
    let links: Vec<_> = store::links::of(tx, id)
        .await?
        .into_iter()
        .map(|l| (l.other, l.kind, l.outgoing, l.other_state))
        .collect();
    let mut text = render::show(
        desk.policy(),
        &inc,
        &names,
        sla.as_ref(),
        render::Latest {
            items: shown,
            total: notes.len(),
        },
        &history,
        &links,
    );
    if let Some(line) = super::problems::incident_line(tx, id).await? {
        text = format!("{text}\n{line}");
    }
    Ok(Reply::public(text))
}

/// The latest entries of a record's history `!show` lists, and how many it has in all.
pub(crate) async fn latest_history(tx: &mut Act<'_>, subject: &str) -> DeskResult<(Vec<AuditEntry>, usize)> {
    let entries = store::audit::for_subject(tx, subject, SHOW_HISTORY).await?;
    let total = store::audit::count_for(tx, subject).await?;
    Ok((entries, usize::try_from(total).unwrap_or(usize::MAX)))
}

/// `!history INC-n|CHG-n|OUT-n [page=<n>]`: one page of a record's whole
/// trail, oldest first, so pages stay put while new entries arrive (they
/// only ever lengthen the last page). Who may read it was decided by
/// `permit` (an incident's readers; anyone for changes and outages, as
/// `!show CHG-n` and `!outage show`).
pub(crate) async fn history(desk: &Desk, tx: &mut Act<'_>, record: &Subject, page: u32) -> DeskResult<Reply> {
    let policy = desk.policy();
    let subject = record.to_string();
    let unknown = match record {
        Subject::Incident(id) => store::incidents::get(tx, *id)
            .await?
            .is_none()
            .then(|| render::unknown_incident(*id)),
        Subject::Change(id) => store::changes::get(tx, *id)
            .await?
            .is_none()
            .then(|| render::unknown_change(*id)),
        Subject::Outage(id) => store::outages::get(tx, *id)
            .await?
            .is_none()
            .then(|| render::unknown_outage(policy, *id)),
        Subject::Problem(id) => store::problems::get(tx, *id)
            .await?
            .is_none()
            .then(|| render::unknown_problem(*id)),
        // The parser builds no other kind.
        Subject::Service(_) | Subject::Dm(..) | Subject::Reports(_) => Some(render::history::no_history(&subject)),
    };
    if let Some(refusal) = unknown {
        return rejected(refusal);
    }
    let total = store::audit::count_for(tx, &subject).await?;
    if total == 0 {
        return Ok(Reply::public(render::history::no_history(&subject)));
    }
    let pages = render::history::pages(total, HISTORY_PAGE);
    if page > pages {
        return rejected(render::history::history_page_out_of_range(
            &policy.prefix,
            &subject,
            page,
            pages,
        ));
    }
    let entries = store::audit::page(tx, &subject, (page - 1) * HISTORY_PAGE, HISTORY_PAGE).await?;
    Ok(Reply::public(render::history::history_page(
        &policy.prefix,
        &subject,
        &entries,
        page,
        HISTORY_PAGE,
        total,
        tx.now,
    )))
}

/// What `actor` may see of the incidents: everything for an agent; for anyone
/// else what `!show` would let them see — what they reported or are assigned,
/// what a support group of theirs holds, and the services they own.
pub(crate) fn visibility(desk: &Desk, actor: &Actor) -> Visibility {
    let policy = desk.policy();
    if desk.is_agent(actor) {
        return Visibility::Everything;
    }
    Visibility::Involving {
        user: actor.user,
        groups: actor
            .roles
            .iter()
            .filter(|r| policy.is_support_tier(r))
            .cloned()
            .collect(),
        services: policy
            .services
            .values()
            .filter(|s| actor.roles.contains(&s.owner))
            .map(|s| s.key.clone())
            .collect(),
    }
}

/// `!incidents`: a page of the queue the filter words select, each line with
/// its assignee, age and next SLA deadline (or breach).
pub(crate) async fn list(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    filter: ListFilter,
    page: u32,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let visible = visibility(desk, actor);
    let service = match filter.service.as_deref() {
        None => None,
        Some(name) => match policy.service(name) {
            Some(def) => Some(def),
            None => return rejected(render::unknown_service(policy, name)),
        },
    };
    let (tier, tier_words) = match &filter.tier {
        None => (None, None),
        Some(TierFilter::Level(n)) => {
            let level = i64::from(*n) - 1;
            // With a service the tier has a role: the heading names it.
            let role = service
                .and_then(|s| s.tiers.get(level as usize))
                .map(|r| policy.role_name(r));
            (
                Some(TierSelection::Level(level)),
                Some(render::QueueTier::Level { n: *n, role }),
            )
        }
        Some(TierFilter::Role(name)) => match policy.find_role(name).filter(|r| policy.is_support_tier(&r.key)) {
            Some(role) => (
                Some(TierSelection::Role(role.key.clone())),
                Some(render::QueueTier::HeldBy(role.name.clone())),
            ),
            None => return rejected(render::not_a_tier(policy, name)),
        },
    };
    let selection = Selection {
        states: match filter.state {
            ListState::Open => Some(store::incidents::open_states()),
            ListState::Resolved => Some(vec![State::Resolved]),
            ListState::Closed => Some(vec![State::Closed]),
            ListState::Cancelled => Some(vec![State::Cancelled]),
            ListState::Any => None,
        },
        unassigned: filter.unassigned,
        breaching: filter.breaching,
        involving: filter.mine.then_some(actor.user),
        priority: filter.priority,
        service: service.map(|s| s.key.clone()),
        tier,
        visible: visible.clone(),
    };
    let (items, total) = store::incidents::list(tx, &selection, page, policy.page_size).await?;
    let mut lines = Vec::with_capacity(items.len());
    for inc in &items {
        let assignee = match inc.assignee {
            Some(a) => Some(name_of(tx, a).await?),
            None => None,
        };
        let sla = super::sla::sla_view(desk, tx, inc).await?;
        lines.push(render::QueueLine {
            incident: inc,
            assignee,
            sla,
        });
    }
    let what = render::QueueWhat {
        filter: &filter,
        service: service.map(|s| s.name.as_str()),
        tier: tier_words,
        narrowed: visible != Visibility::Everything,
    };
    Ok(Reply::public(render::queue(
        &what,
        &lines,
        tx.now,
        page,
        policy.page_size,
        total,
    )))
}

/// `!search <words>`: the incidents the caller may see whose title, notes or
/// resolution hold every word, best match first.
pub(crate) async fn search(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    query: SearchQuery,
    page: u32,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let visible = visibility(desk, actor);
    let (hits, total) = store::search::search(tx, &query, &visible, page, policy.page_size).await?;
    Ok(Reply::public(render::search_results(
        &query,
        &hits,
        visible != Visibility::Everything,
        page,
        policy.page_size,
        total,
    )))
}

pub(crate) async fn assign(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    to: Option<UserRef>,
) -> DeskResult<Reply> {
    let now = tx.now;
    let mut inc = incident(tx, id).await?;
    let assignee = match to {
        None => actor.user,
        Some(UserRef::Id(n)) => UserId::new(n),
        Some(UserRef::Name(name)) => match store::users::by_name(tx, &name).await? {
            Some(u) => u,
            None => return rejected(render::unknown_user(&name)),
        },
    };
    if inc.assignee == Some(assignee) && inc.state.is_open() {
        if assignee == actor.user {
            return rejected(render::already_yours(&inc));
        }
        let who = name_of(tx, assignee).await?;
        return rejected(render::already_assigned(&inc, &who));
    }
    if assignee != actor.user && !super::permit::could_work(desk, tx, assignee, &inc.handler_role).await? {
        let who = name_of(tx, assignee).await?;
        return rejected(render::assignee_cannot_work(desk.policy(), id, &who, &inc.handler_role));
    }
    let from = inc
        .assign(assignee, now)
        .map_err(|e| DeskError::Rejected(render::invalid_move(&desk.policy().prefix, id, &e)))?;
    store::incidents::update(tx, &inc, now).await?;
    // Taking an incident acknowledges it.
    super::sla::clocks_follow(desk, tx, &inc, from, inc.state, actor.user).await?;
    let assignee_name = name_of(tx, assignee).await?;
    let by = name_of(tx, actor.user).await?;
    let mut thread = OutMessage::text(render::taken(&inc, &by, &assignee_name));
    if assignee != actor.user {
        thread = thread.pinging_users([assignee]);
    }
    let out = vec![card(desk, tx, &inc, false).await?, Outgoing::in_thread(id, thread)];
    let details = if assignee == actor.user {
        render::history::took_it()
    } else {
        render::history::assigned_to(&assignee_name)
    };
    tx.record(Some(actor.user), Action::AssignIncident, &id.to_string(), details, &out);
    Ok(Reply::public(render::assigned_reply(&inc, &assignee_name)))
}

/// `!priority INC-n [impact=…] [urgency=…] [reason]`: an agent re-assesses
/// impact and urgency; the matrix gives the new priority and the running
/// SLA clocks move to its targets, keeping the time already counted. A major
/// incident keeps the major row's targets until it is reverted.
pub(crate) async fn reprioritize(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    (impact, urgency): (Option<Impact>, Option<Urgency>),
    reason: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let mut inc = incident(tx, id).await?;
    if !inc.state.is_open() {
        return rejected(render::not_open(&inc, "re-prioritised"));
    }
    let reason = super::escalation::checked_reason(desk, reason)?;
    let (impact, urgency) = (impact.unwrap_or(inc.impact), urgency.unwrap_or(inc.urgency));
    if (impact, urgency) == (inc.impact, inc.urgency) {
        return rejected(render::same_priority(&inc));
    }
    let major = store::escalations::get(tx, id).await?.major;
    let from = inc.priority;
    let old_sla = super::sla::sla_policy(desk, &inc, major);
    inc.impact = impact;
    inc.urgency = urgency;
    inc.priority = policy.matrix.priority(impact, urgency);
    inc.updated_at = now;
    store::incidents::update(tx, &inc, now).await?;
    if inc.priority != from && !major {
        super::sla::retarget_clocks(desk, tx, id, old_sla, super::sla::sla_policy(desk, &inc, major)).await?;
    }
    let by = name_of(tx, actor.user).await?;
    let mut thread = OutMessage::text(render::reprioritized(policy, &inc, &by, from, reason.as_deref(), major));
    // A more urgent incident is news to the people handling it.
    if inc.priority.level() < from.level() {
        thread = thread.pinging_roles([inc.handler_role.clone()]);
    }
    let mut out = vec![card(desk, tx, &inc, false).await?, Outgoing::in_thread(id, thread)];
    let route = route_for(desk, Action::UpdateIncident, &inc);
    out.extend(inform(desk, &route, Action::UpdateIncident, &inc, &inc.handler_role));
    let details = render::history::reprioritized(from, &inc, reason.as_deref());
    tx.record(Some(actor.user), Action::UpdateIncident, &id.to_string(), details, &out);
    tracing::info!(incident = %id, from = %from, to = %inc.priority, "re-prioritised");
    Ok(Reply::public(render::reprioritized_reply(&inc, from, major)))
}

pub(crate) async fn set_state(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    to: State,
    hold: Option<HoldReason>,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let inc = incident(tx, id).await?;
    let reason = super::escalation::checked_reason(desk, reason)?;
    let inc = move_incident(desk, tx, actor, inc, Move { to, hold, reason }).await?;
    Ok(Reply::public(render::done(&inc)))
}

/// A lifecycle move: where to, what it waits for when on hold, and why
/// (the resolution when resolving, the reason when cancelling).
pub(crate) struct Move {
    pub to: State,
    pub hold: Option<HoldReason>,
    pub reason: Option<String>,
}

impl Move {
    pub(crate) fn to(to: State, reason: Option<String>) -> Self {
        Move { to, hold: None, reason }
    }
}

/// Moves an incident through its lifecycle, permission already checked:
/// the one path every move takes (commands, the reporter's answers, a
/// resolved outage or parent resolving what follows it), so every rule
/// tied to a move applies: clocks, the card, the thread, the route, the
/// survey, duplicates told and children resolved.
pub(crate) async fn move_incident(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    mut inc: Incident,
    step: Move,
) -> DeskResult<Incident> {
    let policy = desk.policy();
    let prefix = &policy.prefix;
    let now = tx.now;
    let id = inc.id;
    let Move { to, hold, reason } = step;
    let refused = |e| DeskError::Rejected(render::invalid_move(prefix, id, &e));
    let from = match (to, hold, reason.as_deref()) {
        (State::Resolved | State::Cancelled, _, None) => {
            inc.state.transition(to).map_err(refused)?;
            return rejected(if to == State::Resolved {
                render::say_how_resolved(prefix, id)
            } else {
                render::cannot_cancel(prefix, &inc)
            });
        }
        (State::Resolved | State::Cancelled, _, Some(text)) => inc.end(to, text, now).map_err(refused)?,
        (State::OnHold, Some(kind), _) => inc.hold_for(kind, now).map_err(refused)?,
        (State::OnHold, None, _) => {
            inc.state.transition(to).map_err(refused)?;
            return rejected(render::say_what_it_waits_for(prefix, id));
        }
        _ => inc.move_to(to, now).map_err(refused)?,
    };
    store::incidents::update(tx, &inc, now).await?;
    super::sla::clocks_follow(desk, tx, &inc, from, to, actor.user).await?;
    let by = name_of(tx, actor.user).await?;
    let action = match (from, to) {
        (_, State::Resolved) => Action::ResolveIncident,
        (_, State::Closed | State::Cancelled) => Action::CloseIncident,
        (State::Resolved, State::InProgress) => Action::ReopenIncident,
        _ => Action::UpdateIncident,
    };
    let mut out = vec![card(desk, tx, &inc, false).await?];
    // On resolve the thread gets the satisfaction question instead (below).
    let by_reporter = actor.user == inc.reporter;
    let thread = match (from, to) {
        (_, State::Resolved) => None,
        (_, State::Cancelled) => Some(OutMessage::text(render::cancelled(
            &inc,
            &by,
            reason.as_deref().unwrap_or_default(),
        ))),
        (_, State::OnHold) => Some(OutMessage::text(render::held(
            &inc,
            &by,
            hold.unwrap_or(HoldReason::AwaitingCaller),
            reason.as_deref(),
        ))),
        // The reporter says it is not fixed: those working it hear it.
        (State::Resolved, State::InProgress) if by_reporter => Some(pinging_workers(
            OutMessage::text(render::reopened_by_reporter(&inc, &by, reason.as_deref())),
            &inc,
        )),
        _ => Some(OutMessage::text(render::state_changed(
            &inc,
            &by,
            from.words(),
            reason.as_deref(),
        ))),
    };
    if let Some(thread) = thread {
        out.push(Outgoing::in_thread(id, thread));
    }
    // Duplicates' reporters hear of the original's progress in their threads.
    for dup in store::links::pointing_at(tx, id, LinkKind::DuplicateOf).await? {
        if let Some(d) = store::incidents::get(tx, dup).await? {
            out.push(Outgoing::in_thread(
                dup,
                OutMessage::text(render::original_moved(dup, &inc)).pinging_users([d.reporter]),
            ));
        }
    }
    let route = route_for(desk, action, &inc);
    out.extend(inform(desk, &route, action, &inc, &inc.handler_role));
    let details = match (to, hold) {
        (State::OnHold, Some(kind)) => render::history::held(kind, reason.as_deref()),
        _ => render::history::moved(from, to, reason.as_deref()),
    };
    let audit_actor = (actor.user != super::SYSTEM).then_some(actor.user);
    let audited: AuditAction = if to == State::Cancelled {
        AuditAction::IncidentCancel
    } else {
        action.into()
    };
    tx.record(audit_actor, audited, &id.to_string(), details, &out);
    super::problems::after_incident_move(desk, tx, &inc, from, to).await?;
    if to == State::Resolved {
        super::survey::ask_survey(desk, tx, &inc, &by).await?;
        // Children follow their parent, with its resolution.
        let resolution = inc.resolution.clone().unwrap_or_default();
        for child in store::links::pointing_at(tx, id, LinkKind::ChildOf).await? {
            let Some(c) = store::incidents::get(tx, child).await? else {
                continue;
            };
            if c.state.is_open() {
                let text = render::resolved_with_parent(id, &resolution);
                // One level of parents (`links`): this recursion is one deep.
                Box::pin(move_incident(desk, tx, actor, c, Move::to(State::Resolved, Some(text)))).await?;
            }
        }
    } else if from == State::Resolved {
        super::survey::drop_survey(tx, id).await?;
    }
    Ok(inc)
}

/// Pings whoever works an incident: its assignee, or its group when
/// nobody has taken it.
pub(crate) fn pinging_workers(msg: OutMessage, inc: &Incident) -> OutMessage {
    match inc.assignee {
        Some(a) => msg.pinging_users([a]),
        None => msg.pinging_roles([inc.handler_role.clone()]),
    }
}

/// `!cancel INC-n <reason>`: ends an open incident without an SLA result.
pub(crate) async fn cancel(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    reason: String,
) -> DeskResult<Reply> {
    let inc = incident(tx, id).await?;
    if !inc.state.is_open() {
        return rejected(render::cannot_cancel(&desk.policy().prefix, &inc));
    }
    let reason = super::escalation::checked_reason(desk, Some(reason))?;
    let inc = move_incident(desk, tx, actor, inc, Move::to(State::Cancelled, reason)).await?;
    Ok(Reply::public(render::cancelled_reply(&inc)))
}

/// `!edit INC-n [title=…] [service=…] [category=…]`: corrects what was
/// logged. A new service or category re-routes the incident as logging it
/// would have (its card follows to the new group's channel) and links it to
/// the new service's active outage.
pub(crate) async fn edit(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    fields: (Option<String>, Option<String>, Option<String>),
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let prefix = &policy.prefix;
    let now = tx.now;
    let mut inc = incident(tx, id).await?;
    if !inc.state.is_open() {
        return rejected(render::not_editable(prefix, &inc));
    }
    let works = [Party::Agents, Party::Group, Party::Assignee]
        .into_iter()
        .any(|p| tx.holds(p));
    if !works && inc.state != State::New {
        return rejected(render::reporter_edits_only_while_new(prefix, &inc));
    }
    let (title, service, category) = fields;
    let mut list = Vec::new();
    if let Some(t) = title {
        let t = bounded("title", &t, policy.limits.title_max, false)?;
        if t != inc.title {
            list.push(render::Correction {
                field: "title",
                from: std::mem::replace(&mut inc.title, t.clone()),
                to: t,
            });
        }
    }
    if let Some(name) = service {
        let Some(def) = policy.service(&name) else {
            return rejected(render::unknown_service(policy, &name));
        };
        if inc.service.as_deref() != Some(def.key.as_str()) {
            let from = inc
                .service
                .as_deref()
                .map(|s| render::service_name(policy, s))
                .unwrap_or_else(|| "—".into());
            inc.service = Some(def.key.clone());
            list.push(render::Correction {
                field: "service",
                from,
                to: def.name.clone(),
            });
        }
    }
    if let Some(c) = category {
        let c = match c.as_str() {
            "" | "none" | "-" => None,
            _ => Some(bounded("category", &c, 40, false)?),
        };
        if c != inc.category {
            list.push(render::Correction {
                field: "category",
                from: inc.category.clone().unwrap_or_else(|| "—".into()),
                to: c.clone().unwrap_or_else(|| "—".into()),
            });
            inc.category = c;
        }
    }
    if list.is_empty() {
        return rejected(render::nothing_to_edit(&inc));
    }
    // Where logging it as corrected would have sent it.
    let (_, route) = intake_route(desk, inc.service.as_deref(), inc.category.as_deref(), false);
    // First line is where logging it would have gone; an escalated one
    // stays at its tier of the new service's ladder (its last when shorter).
    let tiers = policy.tiers_for(inc.service.as_deref());
    let (group, tier) = match (inc.tier, tiers.len()) {
        (0, _) | (_, 0) => (route.responsible.clone(), 0),
        (t, n) => {
            let t = (t as usize).min(n - 1);
            (tiers[t].clone(), t as i64)
        }
    };
    let rerouted = group != inc.handler_role;
    let old_group = inc.handler_role.clone();
    if rerouted {
        let keeps = match inc.assignee {
            Some(a) => super::permit::could_work(desk, tx, a, &group).await?,
            None => false,
        };
        inc.reroute(group, tier, keeps, now);
    }
    inc.updated_at = now;
    store::incidents::update(tx, &inc, now).await?;
    let by = name_of(tx, actor.user).await?;
    let text = render::edited(policy, &inc, &by, &list, rerouted);
    let mut thread = OutMessage::text(&text);
    if rerouted {
        thread = thread.pinging_roles([inc.handler_role.clone()]);
    }
    // Handed to a group with another channel, the card follows it there.
    let moved = match rerouted {
        true => {
            let left = render::card_handed_over(policy, &inc);
            super::escalation::follow_card(desk, tx, &inc, &old_group, &text, left).await?
        }
        false => Vec::new(),
    };
    let mut out = if moved.is_empty() {
        vec![card(desk, tx, &inc, false).await?]
    } else {
        moved
    };
    out.push(Outgoing::in_thread(id, thread));
    let update = route_for(desk, Action::UpdateIncident, &inc);
    out.extend(inform(desk, &update, Action::UpdateIncident, &inc, &inc.handler_role));
    let mut reply = render::edited_reply(policy, &inc, &list, rerouted);
    if store::outages::outage_of(tx, id).await?.is_none() {
        if let Some((outage, told)) = super::outages::link_known_outage(desk, tx, &inc, false).await? {
            out.extend(told);
            reply = format!("{reply} {}", render::known_outage(policy, &outage));
        }
    }
    tx.record(
        Some(actor.user),
        AuditAction::IncidentEdit,
        &id.to_string(),
        render::history::corrected(&list),
        &out,
    );
    Ok(Reply::public(reply))
}

pub(crate) async fn note(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    text: &str,
) -> DeskResult<Reply> {
    let now = tx.now;
    let inc = incident(tx, id).await?;
    let body = bounded("note", text, desk.policy().limits.note_max, true)?;
    store::incidents::add_note(tx, id, actor.user, &body, now).await?;
    let by = name_of(tx, actor.user).await?;
    // The reporter's note is news to those working the incident.
    let from_reporter = actor.user == inc.reporter && inc.state.is_open();
    let thread = if from_reporter {
        pinging_workers(OutMessage::text(render::reporter_note(&inc, &by, &body)), &inc)
    } else {
        OutMessage::text(render::note_added(&inc, &by, &body))
    };
    let out = vec![Outgoing::in_thread(id, thread)];
    tx.record(
        Some(actor.user),
        Action::UpdateIncident,
        &id.to_string(),
        render::history::noted(&body),
        &out,
    );
    // The caller it waited for has answered: work resumes.
    if from_reporter && inc.state == State::OnHold && inc.hold == Some(HoldReason::AwaitingCaller) {
        let reason = render::resumed_by_caller(&inc, &by);
        move_incident(desk, tx, actor, inc.clone(), Move::to(State::InProgress, Some(reason))).await?;
    }
    Ok(Reply::public(render::note_reply(&inc)))
}

/// A plain message in an incident's thread by someone who may add notes to
/// it (its reporter, those working it, the agents) becomes a note, answered
/// with a reaction; anyone else's chat there is left alone.
pub(crate) async fn thread_note(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    text: &str,
) -> DeskResult<Outcome> {
    let held = super::permit::parties(desk, tx, actor, Some(&Subject::Incident(id))).await?;
    if !crate::domain::party::permits(crate::command::who::THREAD_NOTERS, &held) {
        return Ok(Outcome::Ignored);
    }
    tx.parties = held;
    let inc = incident(tx, id).await?;
    if inc.state.is_final() {
        return Ok(Outcome::Ignored);
    }
    note(desk, tx, actor, id, text).await?;
    Ok(Outcome::Reply(Reply::acknowledged(super::emoji::NOTED)))
}

/// 🎫 on any message logs it; ✋ on a card claims the incident and ⬆️ on a card
/// or in its thread escalates it to the next tier; 👍 👎 answer a
/// satisfaction question.
pub(crate) async fn reaction_action(
    desk: &Desk,
    tx: &mut Act<'_>,
    inbound: &Inbound,
    message_id: &str,
    emoji: Emoji,
    message: Option<&ReactedMessage>,
) -> DeskResult<Outcome> {
    if matches!(emoji, Emoji::Fixed | Emoji::NotFixed) {
        let answered = super::survey::survey_reaction(desk, tx, &inbound.actor, message_id, emoji).await?;
        return Ok(answered.unwrap_or(Outcome::Ignored));
    }
    let mut card = store::cards::by_message(tx, message_id).await?;
    // ⬆️ also works on any message in the incident's thread.
    if card.is_none() && emoji == Emoji::Escalate {
        if let Some(channel) = inbound.channel.as_deref() {
            card = store::cards::by_message(tx, channel).await?;
        }
    }
    match (emoji, card) {
        (Emoji::Escalate, Some(card)) => {
            let Some(id) = Subject::parse(&card.subject).and_then(|s| s.incident()) else {
                return Ok(Outcome::Ignored);
            };
            let prefix = &desk.policy().prefix;
            super::permit::authorize_reaction(
                desk,
                tx,
                &inbound.actor,
                &Subject::Incident(id),
                super::permit::reaction_may(Emoji::Escalate),
                || render::escalate_reaction_refused(prefix, id),
            )
            .await?;
            let inc = incident(tx, id).await?;
            if !inc.state.is_open() {
                return rejected(render::not_open(&inc, "escalated"));
            }
            super::escalation::escalate_functional(desk, tx, &inbound.actor, inc, None)
                .await
                .map(Outcome::Reply)
        }
        (Emoji::Claim, Some(card)) => {
            let Some(id) = Subject::parse(&card.subject).and_then(|s| s.incident()) else {
                return Ok(Outcome::Ignored);
            };
            let take = super::permit::reaction_may(Emoji::Claim);
            super::permit::authorize_reaction(
                desk,
                tx,
                &inbound.actor,
                &Subject::Incident(id),
                take,
                render::claim_refused,
            )
            .await?;
            assign(desk, tx, &inbound.actor, id, None).await.map(Outcome::Reply)
        }
        (Emoji::Ticket, None) => {
            if let Some(existing) = store::incidents::by_source_message(tx, message_id).await? {
                return rejected(render::already_ticketed(existing));
            }
            let Some(m) = message else {
                return Ok(Outcome::Ignored);
            };
            // A bot's message (opsdesk's own included) has no reporter to log it for.
            if m.from_bot {
                return Err(DeskError::RejectedReaction(render::ticket_on_bot_message(
                    &desk.policy().prefix,
                )));
            }
            let first_line = m.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("(no text)");
            let title = render::truncate(first_line.trim(), desk.policy().limits.title_max);
            let req = LogRequest {
                title,
                impact: None,
                urgency: None,
                service: None,
                category: None,
                source: Some((message_id.to_owned(), m.clone())),
                alert: None,
            };
            let (inc, reply) = log(desk, tx, &inbound.actor, req).await?;
            // The reporter is asked privately to complete what a chat line
            // cannot say: a button opening the report form (`!edit` on submit).
            let ask = OutMessage::text(render::complete_details(&inc)).with_buttons(render::details_button(inc.id));
            tx.enqueue_now(&Outgoing::post(Destination::Dm(inc.reporter), ask).about(inc.id.to_string()))
                .await?;
            Ok(Outcome::Reply(reply))
        }
        _ => Ok(Outcome::Ignored),
    }
}
