//! Change records: file, show, list, cancel, move through the lifecycle,
//! authorize and reject, and the planned outage notice of an authorized
//! change. The CAB vote itself is in `cab.rs`.

use super::act::Act;
use super::fanout::Notice;
use crate::domain::audit::AuditAction;
use crate::domain::escalation::Party;
use crate::domain::timer::TimerKind;
use chrono::TimeDelta;

use super::{rejected, Actor, Desk, DeskError, DeskResult, Firing, Reply};
use crate::command::{ChangeFilter, UserRef};
use crate::domain::cab::Board;
use crate::domain::change::{
    conflicts, freeze_conflict, parse_window, transition, Change, ChangeId, ChangeState, ChangeType, NewChange, Risk,
};
use crate::domain::raci::{Action, Route, RouteContext};
use crate::domain::text::bounded;
use crate::domain::UserId;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render::{self, Clashes};
use crate::store;

/// A request to file a change, as typed.
pub(crate) struct FileRequest {
    /// The problem it is raised to fix (`problem=PRB-n`).
    pub problem: Option<crate::domain::problem::ProblemId>,
    pub title: String,
    pub service: String,
    pub risk: Risk,
    pub change_type: ChangeType,
    pub window: Option<String>,
    pub implementer: Option<UserRef>,
}

/// The RACI route of a change action: `@service_owner` is the owner of
/// the change's service.
pub(crate) fn change_route(desk: &Desk, action: Action, ch: &Change) -> Route {
    let policy = desk.policy();
    let owner = policy.service(&ch.service).map(|s| &s.owner);
    let fallback = policy
        .change
        .authority_roles
        .first()
        .cloned()
        .unwrap_or_else(|| policy.incident_manager());
    policy.raci.route(
        action,
        RouteContext {
            service_owner: owner,
            assignment_group: None,
            fallback: &fallback,
        },
    )
}

/// A change notice to its route (`fanout`): the responsible role gets
/// `text` (pinged when `ping`), consulted roles are asked, the accountable
/// and informed roles told; channels in `covered` (which already carry
/// the change's message) get no FYI, and the channels posted to join it.
pub(crate) fn change_messages(
    desk: &Desk,
    route: &Route,
    action: Action,
    ch: &Change,
    text: String,
    ping: bool,
    covered: &mut Vec<String>,
) -> Vec<Outgoing> {
    let policy = desk.policy();
    let out = super::fanout::fan_out(
        desk,
        Notice {
            route,
            subject: ch.id.to_string(),
            ping: if ping { &[Party::Responsible] } else { &[] },
            assignee: None,
            text,
            tell: render::change_fyi(policy, action, ch, ch.state.label()),
            ask: render::consulted_change(policy, action, ch),
            covered: covered.clone(),
        },
    );
    for o in &out {
        if let Destination::RoleChannel(role) = &o.destination {
            if let Some(def) = policy.role(role) {
                covered.push(def.channel.clone());
            }
        }
    }
    out
}

/// What a change's window clashes with: other live changes on the same
/// service, and freeze periods.
pub(crate) async fn clashes(desk: &Desk, tx: &mut Act<'_>, ch: &Change) -> DeskResult<Clashes> {
    let Some(window) = ch.window else {
        return Ok(Clashes::default());
    };
    let others = store::changes::active_windows(tx, &ch.service, Some(ch.id)).await?;
    let changes = conflicts(
        &window,
        others.iter().filter_map(|o| o.window.as_ref().map(|w| (o.id, w))),
    );
    let freeze = freeze_conflict(&window, &desk.policy().change.freezes).map(|f| f.name.clone());
    Ok(Clashes { changes, freeze })
}

pub(crate) async fn load_change(tx: &mut Act<'_>, id: ChangeId) -> DeskResult<Change> {
    match store::changes::get(tx, id).await? {
        Some(ch) => Ok(ch),
        None => rejected(render::unknown_change(id)),
    }
}

pub(crate) async fn change_names(tx: &mut Act<'_>, ch: &Change) -> DeskResult<render::ChangeNames> {
    Ok(render::ChangeNames {
        requester: super::incidents::name_of(tx, ch.requester).await?,
        implementer: match ch.implementer {
            Some(u) => Some(super::incidents::name_of(tx, u).await?),
            None => None,
        },
    })
}

pub(crate) async fn resolve_user(tx: &mut Act<'_>, user: UserRef) -> DeskResult<UserId> {
    match user {
        UserRef::Id(n) => Ok(UserId::new(n)),
        UserRef::Name(name) => match store::users::by_name(tx, &name).await? {
            Some(u) => Ok(u),
            None => rejected(render::unknown_user(&name)),
        },
    }
}

/// Schedules (or moves) the planned outage notice of a change that may go
/// ahead and has a window that has not ended.
pub(crate) async fn schedule_notice(desk: &Desk, tx: &mut Act<'_>, ch: &Change) -> DeskResult<()> {
    let now = tx.now;
    let Some(window) = ch.window else {
        return Ok(());
    };
    if window.end() <= now {
        return Ok(());
    }
    let lead = desk.policy().change.notice_lead;
    let due = window.start().checked_sub_signed(lead).unwrap_or(now).max(now);
    let id = ch.id.to_string();
    store::timers::schedule(tx, TimerKind::ChangeNotice.as_str(), &id, &id, due, "{}").await?;
    // The window drives the change: a prompt at its start, a check at its end.
    let start = window.start().max(now);
    store::timers::schedule(tx, TimerKind::ChangeWindowStart.as_str(), &id, &id, start, "{}").await?;
    store::timers::schedule(tx, TimerKind::ChangeWindowEnd.as_str(), &id, &id, window.end(), "{}").await?;
    Ok(())
}

/// Stops the timers of a change's window (it was cancelled).
async fn cancel_window_timers(tx: &mut Act<'_>, id: ChangeId) -> DeskResult<()> {
    let id = id.to_string();
    for kind in [
        TimerKind::ChangeNotice,
        TimerKind::ChangeWindowStart,
        TimerKind::ChangeWindowEnd,
    ] {
        store::timers::cancel_one(tx, kind.as_str(), &id).await?;
    }
    Ok(())
}

/// What a change's requester and implementer are told (`what` names the
/// change), each pinged in a direct message (the one place a person reads
/// for sure); `except` is the person who did it, who has the reply already.
pub(crate) fn people_notices(ch: &Change, what: &str, except: Option<UserId>) -> Vec<Outgoing> {
    let text = what.to_owned();
    let mut people = vec![ch.requester];
    if let Some(i) = ch.implementer.filter(|i| *i != ch.requester) {
        people.push(i);
    }
    people
        .into_iter()
        .filter(|u| Some(*u) != except)
        .map(|u| {
            Outgoing::post(Destination::Dm(u), OutMessage::text(text.clone()).pinging_users([u]))
                .about(ch.id.to_string())
        })
        .collect()
}

/// `!change implementer CHG-n @user`: the requester or the change authority
/// names who carries the change out, before work starts.
pub(crate) async fn set_implementer(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ChangeId,
    user: UserRef,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let mut ch = load_change(tx, id).await?;
    let user = match user {
        UserRef::Id(n) => UserId::new(n),
        UserRef::Name(name) => match store::users::by_name(tx, &name).await? {
            Some(u) => u,
            None => return rejected(render::unknown_implementer(&name)),
        },
    };
    let before = ch.implementer;
    ch.set_implementer(user, policy.change.requester_may_implement)
        .map_err(|e| DeskError::Rejected(render::implementer_refused(&ch, e)))?;
    store::changes::update(tx, &ch, now).await?;
    let name = super::incidents::name_of(tx, user).await?;
    let before = match before {
        Some(b) => Some(super::incidents::name_of(tx, b).await?),
        None => None,
    };
    let by = super::incidents::name_of(tx, actor.user).await?;
    let text = render::implementer_set(&ch, &name, &by);
    let mut out = super::cab::refresh_vote_card(desk, tx, &ch).await?;
    out.extend(people_notices(&ch, &text, Some(actor.user)));
    tx.record(
        Some(actor.user),
        AuditAction::ChangeImplementer,
        &id.to_string(),
        render::history::implementer_set(&name, before.as_deref()),
        &out,
    );
    Ok(Reply::public(text))
}

/// `!change review CHG-n <text>`: the post-implementation review note an
/// emergency change needs before it closes.
pub(crate) async fn write_review(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ChangeId,
    text: &str,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let mut ch = load_change(tx, id).await?;
    let note = bounded("review", text, policy.limits.note_max, false)?;
    ch.set_review(note.clone())
        .map_err(|e| DeskError::Rejected(render::review_refused(&ch, e)))?;
    store::changes::update(tx, &ch, now).await?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let reply = render::review_noted(&ch, &by, &note);
    let route = change_route(desk, Action::ChangeRequest, &ch);
    let mut out = change_messages(
        desk,
        &route,
        Action::ChangeRequest,
        &ch,
        reply.clone(),
        false,
        &mut Vec::new(),
    );
    out.extend(people_notices(&ch, &reply, Some(actor.user)));
    tx.record(
        Some(actor.user),
        AuditAction::ChangeReview,
        &id.to_string(),
        render::history::review_noted(&note),
        &out,
    );
    Ok(Reply::public(reply))
}

/// `!note CHG-n <text>`: a note on a change, kept in its history and posted
/// where its people read: the vote card's thread while it has one (else the
/// change authority's channel), and to its requester and implementer.
pub(crate) async fn note(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, id: ChangeId, text: &str) -> DeskResult<Reply> {
    let ch = load_change(tx, id).await?;
    let body = bounded("note", text, desk.policy().limits.note_max, true)?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let posted = render::record_note(&id.to_string(), &ch.title, &by, &body);
    let place = if store::cab::get(tx, id).await?.is_some() {
        Destination::Thread(id.to_string())
    } else {
        Destination::RoleChannel(change_route(desk, Action::ChangeRequest, &ch).responsible)
    };
    let mut out = vec![Outgoing::post(place, OutMessage::text(posted.clone())).about(id.to_string())];
    out.extend(people_notices(&ch, &posted, Some(actor.user)));
    let places = out.len();
    tx.record(
        Some(actor.user),
        AuditAction::ChangeUpdate,
        &id.to_string(),
        render::history::noted(&body),
        &out,
    );
    Ok(Reply::public(render::record_note_saved(&id.to_string(), places)))
}

/// The planned maintenance under way now, for `!status`.
pub(crate) async fn maintenance_lines(desk: &Desk, tx: &mut Act<'_>) -> DeskResult<Vec<String>> {
    let now = tx.now;
    let changes = store::changes::in_window(tx, now).await?;
    Ok(changes
        .iter()
        .map(|ch| render::maintenance_line(desk.policy(), ch))
        .collect())
}

/// The `change_window_start` timer: a scheduled change's window has
/// started; its implementer (or, with none, its requester) is prompted.
pub(crate) async fn window_started(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(ch) = windowed_change(tx, firing).await? else {
        return Ok(());
    };
    if ch.state != ChangeState::Scheduled {
        return Ok(());
    }
    let who = ch.implementer.unwrap_or(ch.requester);
    let text = render::window_start_prompt(desk.policy(), &ch);
    let out = vec![
        Outgoing::post(Destination::Dm(who), OutMessage::text(text).pinging_users([who])).about(ch.id.to_string()),
    ];
    tx.record(
        None,
        AuditAction::ChangeWindow,
        &ch.id.to_string(),
        render::history::window_started(),
        &out,
    );
    Ok(())
}

/// The `change_window_end` timer: a change still implementing is prompted
/// to move to review; one never started is reported to the change manager
/// as missed.
pub(crate) async fn window_ended(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(ch) = windowed_change(tx, firing).await? else {
        return Ok(());
    };
    let policy = desk.policy();
    let out = match ch.state {
        ChangeState::Implementing => {
            let who = ch.implementer.unwrap_or(ch.requester);
            let text = render::window_end_review_prompt(policy, &ch);
            vec![
                Outgoing::post(Destination::Dm(who), OutMessage::text(text).pinging_users([who]))
                    .about(ch.id.to_string()),
            ]
        }
        ChangeState::Scheduled | ChangeState::Authorized => {
            let route = change_route(desk, Action::ChangeRequest, &ch);
            let text = render::window_missed(policy, &ch);
            let mut out = vec![Outgoing::post(
                Destination::RoleChannel(route.responsible.clone()),
                OutMessage::text(text.clone()).pinging_roles([route.responsible.clone()]),
            )
            .about(ch.id.to_string())];
            out.extend(people_notices(&ch, &text, None));
            out
        }
        _ => return Ok(()),
    };
    tx.record(
        None,
        AuditAction::ChangeWindow,
        &ch.id.to_string(),
        render::history::window_ended(ch.state),
        &out,
    );
    Ok(())
}

/// The change a window timer is for, when it still has a window.
async fn windowed_change(tx: &mut Act<'_>, firing: &Firing) -> DeskResult<Option<Change>> {
    let Some(id) = ChangeId::parse(&firing.timer.subject) else {
        tracing::warn!(subject = %firing.timer.subject, "window timer for something that is not a change");
        return Ok(None);
    };
    Ok(store::changes::get(tx, id).await?.filter(|ch| ch.window.is_some()))
}

pub(crate) async fn file_change(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, req: FileRequest) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let title = bounded("title", &req.title, policy.limits.title_max, false)?;
    let Some(service) = policy.service(&req.service) else {
        return rejected(render::unknown_service(policy, &req.service));
    };
    let window = match req.window.as_deref() {
        None => None,
        Some(text) => {
            Some(parse_window(text, now).map_err(|e| DeskError::Rejected(render::bad_window(&policy.prefix, &e)))?)
        }
    };
    let implementer = match req.implementer {
        Some(u) => Some(resolve_user(tx, u).await?),
        None => None,
    };
    let state = if req.change_type.is_pre_approved() {
        let entry = policy
            .change
            .catalogue(&title)
            .filter(|e| e.services.is_empty() || e.services.contains(&service.key));
        if entry.is_none() {
            return rejected(render::not_in_catalogue(policy, &title, &service.key));
        }
        if req.risk != Risk::Low {
            return rejected(render::standard_not_low_risk());
        }
        transition(req.change_type, ChangeState::New, ChangeState::Scheduled)
            .map_err(|e| DeskError::Rejected(e.to_string()))?;
        ChangeState::Scheduled
    } else {
        ChangeState::New
    };
    let ch = store::changes::insert(
        tx,
        &NewChange {
            title,
            service: service.key.clone(),
            risk: req.risk,
            change_type: req.change_type,
            state,
            window,
            requester: actor.user,
            implementer,
        },
        now,
    )
    .await?;
    let clashes = clashes(desk, tx, &ch).await?;
    if ch.state == ChangeState::Scheduled {
        schedule_notice(desk, tx, &ch).await?;
    }
    let route = change_route(desk, Action::ChangeRequest, &ch);
    let requester = super::incidents::name_of(tx, actor.user).await?;
    let text = render::change_request_notice(policy, &ch, &requester, &clashes);
    let out = change_messages(desk, &route, Action::ChangeRequest, &ch, text, true, &mut Vec::new());
    let clash = (!clashes.is_empty()).then(|| render::clash_warning(&clashes));
    let details = render::history::change_filed(policy, &ch, clash.as_deref());
    tx.record(
        Some(actor.user),
        Action::ChangeRequest,
        &ch.id.to_string(),
        details,
        &out,
    );
    tracing::info!(change = %ch.id, kind = %ch.change_type, "change filed");
    let mut reply = render::change_filed(policy, &ch, &route.responsible, &clashes);
    if let Some(problem) = req.problem {
        reply = format!(
            "{reply} {}",
            super::problems::change_filed(desk, tx, actor, &ch, problem).await?
        );
    }
    Ok(Reply::public(reply))
}

pub(crate) async fn show_change(desk: &Desk, tx: &mut Act<'_>, id: ChangeId) -> DeskResult<Reply> {
    let ch = load_change(tx, id).await?;
    let names = change_names(tx, &ch).await?;
    let subject = id.to_string();
    let (entries, total) = super::incidents::latest_history(tx, &subject).await?;
    let history = render::Trail {
        prefix: &desk.policy().prefix,
        subject: &subject,
        entries: &entries,
        total,
        now: tx.now,
    };
    let text = match store::cab::get(tx, id).await? {
        Some(vote) => {
            let view = super::cab::vote_view(tx, &ch, &vote).await?;
            render::change_show(desk.policy(), &ch, &names, Some(&view), &history)
        }
        None => render::change_show(desk.policy(), &ch, &names, None, &history),
    };
    Ok(Reply::public(text))
}

pub(crate) async fn list_changes(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    filter: ChangeFilter,
) -> DeskResult<Reply> {
    use store::changes::Selection;
    let policy = desk.policy();
    let (selection, what) = match filter {
        ChangeFilter::Open => (Selection::Open, "Open".to_owned()),
        ChangeFilter::All => (Selection::All, "All".to_owned()),
        ChangeFilter::Upcoming => (Selection::Upcoming(tx.now), "Upcoming".to_owned()),
        ChangeFilter::Mine => (Selection::Involving(actor.user), "Your".to_owned()),
        ChangeFilter::Service(s) => match policy.service(&s) {
            Some(def) => (Selection::Service(def.key.clone()), def.name.clone()),
            None => return rejected(render::unknown_service(policy, &s)),
        },
    };
    let limit = policy.page_size.saturating_mul(2);
    let (changes, total) = store::changes::list(tx, &selection, limit).await?;
    Ok(Reply::public(render::change_list(&what, &changes, total)))
}

pub(crate) async fn cancel_change(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ChangeId,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let now = tx.now;
    let mut ch = load_change(tx, id).await?;
    let reason = super::escalation::checked_reason(desk, reason)?;
    let from = ch
        .move_to(ChangeState::Cancelled)
        .map_err(|e| DeskError::Rejected(render::invalid_change_move(id, &e)))?;
    ch.reason = reason.clone();
    store::changes::update(tx, &ch, now).await?;
    cancel_window_timers(tx, id).await?;
    let mut out = super::cab::cancel_vote(desk, tx, &ch).await?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let route = change_route(desk, Action::ChangeRequest, &ch);
    let text = render::change_moved(&ch, &by, from, reason.as_deref());
    out.extend(change_messages(
        desk,
        &route,
        Action::ChangeRequest,
        &ch,
        text.clone(),
        false,
        &mut Vec::new(),
    ));
    out.extend(people_notices(&ch, &text, Some(actor.user)));
    let details = render::history::change_cancelled(from, reason.as_deref());
    tx.record(
        Some(actor.user),
        AuditAction::ChangeCancel,
        &id.to_string(),
        details,
        &out,
    );
    Ok(Reply::public(render::change_done(&ch, &Clashes::default())))
}

pub(crate) async fn change_status(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ChangeId,
    to: ChangeState,
    reason: Option<String>,
    window: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let mut ch = load_change(tx, id).await?;
    if !matches!(
        to,
        ChangeState::Assessment
            | ChangeState::Scheduled
            | ChangeState::Implementing
            | ChangeState::Review
            | ChangeState::Closed
    ) {
        return rejected(render::change_move_not_here(&policy.prefix, id, to));
    }
    let reason = super::escalation::checked_reason(desk, reason)?;
    let from = ch.state;
    // Checked before the window is, so a wrong move says so first.
    transition(ch.change_type, from, to).map_err(|e| DeskError::Rejected(render::invalid_change_move(id, &e)))?;
    if let Some(text) = window.as_deref() {
        if to != ChangeState::Scheduled {
            return rejected(render::window_only_when_scheduling());
        }
        ch.window =
            Some(parse_window(text, now).map_err(|e| DeskError::Rejected(render::bad_window(&policy.prefix, &e)))?);
    }
    if to == ChangeState::Scheduled && ch.window.is_none() {
        return rejected(render::schedule_needs_window(&policy.prefix, id));
    }
    if ch.review_missing_for(to) {
        return rejected(render::review_needed(&policy.prefix, &ch));
    }
    ch.move_to(to)
        .map_err(|e| DeskError::Rejected(render::invalid_change_move(id, &e)))?;
    store::changes::update(tx, &ch, now).await?;
    let clashes = if to == ChangeState::Scheduled {
        schedule_notice(desk, tx, &ch).await?;
        clashes(desk, tx, &ch).await?
    } else {
        Clashes::default()
    };
    let by = super::incidents::name_of(tx, actor.user).await?;
    let mut out = super::cab::refresh_vote_card(desk, tx, &ch).await?;
    let route = change_route(desk, Action::ChangeRequest, &ch);
    let mut text = render::change_moved(&ch, &by, from, reason.as_deref());
    let warning = render::clash_warning(&clashes);
    if !warning.is_empty() {
        text = format!("{text} {warning}");
    }
    out.extend(change_messages(
        desk,
        &route,
        Action::ChangeRequest,
        &ch,
        text,
        false,
        &mut Vec::new(),
    ));
    let details = render::history::change_moved(
        from,
        to,
        ch.window.as_ref().filter(|_| window.is_some()),
        reason.as_deref(),
    );
    tx.record(
        Some(actor.user),
        AuditAction::ChangeUpdate,
        &id.to_string(),
        details,
        &out,
    );
    let mut reply = render::change_done(&ch, &clashes);
    if to == ChangeState::Closed {
        // A change raised to fix a problem resolves it (`problems`).
        if let Some(line) = super::problems::change_closed(desk, tx, actor, &ch).await? {
            reply = format!("{reply} {line}");
        }
    }
    Ok(Reply::public(reply))
}

/// `!authorize` and `!reject`: the change authority decides after the vote.
pub(crate) async fn decide(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ChangeId,
    authorize: bool,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let mut ch = load_change(tx, id).await?;
    let reason = match reason {
        Some(r) => Some(bounded("reason", &r, policy.limits.note_max, false)?),
        None => None,
    };
    let to = if authorize {
        ChangeState::Authorized
    } else {
        ChangeState::Rejected
    };
    if authorize && ch.requester == actor.user {
        return rejected(render::own_change_authority(id));
    }
    if Board::for_change(ch.change_type).is_none() {
        return rejected(render::no_vote_for_standard(id));
    }
    match store::cab::get(tx, id).await? {
        Some(v) if v.status == crate::domain::cab::VoteStatus::Open => {
            return rejected(render::vote_still_open(id, v.closes_at))
        }
        None if matches!(ch.state, ChangeState::New | ChangeState::Assessment) => {
            return rejected(render::vote_needed(&policy.prefix, id))
        }
        _ => {}
    }
    let from = ch
        .move_to(to)
        .map_err(|e| DeskError::Rejected(render::invalid_change_move(id, &e)))?;
    if !authorize {
        ch.reason = reason.clone();
    }
    let action = if authorize {
        Action::ChangeAuthorize
    } else {
        Action::ChangeReject
    };
    let by = super::incidents::name_of(tx, actor.user).await?;
    let mut out = apply_decision(desk, tx, &mut ch, action, &by).await?;
    out.extend(people_notices(
        &ch,
        &render::change_decided(&ch, &by, authorize),
        Some(actor.user),
    ));
    let details = render::history::change_decided(authorize, from, reason.as_deref());
    tx.record(Some(actor.user), action, &id.to_string(), details, &out);
    Ok(Reply::public(render::change_decided(&ch, &by, authorize)))
}

/// Writes an authorization or rejection already checked against the
/// lifecycle: an authorized change with a window is scheduled at once and
/// its outage notice set; the vote card is edited and the RACI row told.
pub(crate) async fn apply_decision(
    desk: &Desk,
    tx: &mut Act<'_>,
    ch: &mut Change,
    action: Action,
    by: &str,
) -> DeskResult<Vec<Outgoing>> {
    let now = tx.now;
    if ch.state == ChangeState::Authorized && ch.window.is_some() {
        ch.move_to(ChangeState::Scheduled)
            .map_err(|e| DeskError::Rejected(render::invalid_change_move(ch.id, &e)))?;
    }
    store::changes::update(tx, ch, now).await?;
    if ch.state == ChangeState::Scheduled {
        schedule_notice(desk, tx, ch).await?;
    }
    let mut out = super::cab::refresh_vote_card(desk, tx, ch).await?;
    let route = change_route(desk, action, ch);
    let text = render::change_decided(ch, by, action == Action::ChangeAuthorize);
    out.extend(change_messages(desk, &route, action, ch, text, false, &mut Vec::new()));
    Ok(out)
}

/// The planned outage notice of an authorized change falls due: it goes
/// to the status channel and the roles the `outage_declare` row informs.
pub(crate) async fn planned_outage_notice(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(id) = ChangeId::parse(&firing.timer.subject) else {
        tracing::warn!(subject = %firing.timer.subject, "change notice for something that is not a change");
        return Ok(());
    };
    let Some(ch) = store::changes::get(tx, id).await? else {
        return Ok(());
    };
    // Cancelled or not (yet) going ahead: the agreed outage is off.
    if !matches!(ch.state, ChangeState::Authorized | ChangeState::Scheduled) || ch.window.is_none() {
        return Ok(());
    }
    let policy = desk.policy();
    let late = firing.late_by.filter(|d| *d > TimeDelta::zero());
    let text = render::planned_outage_notice(policy, &ch, late);
    let mut out = vec![Outgoing::post(
        Destination::Channel(policy.outage.status_channel.clone()),
        OutMessage::text(text.clone()),
    )
    .about(id.to_string())];
    let route = change_route(desk, Action::OutageDeclare, &ch);
    let mut covered = vec![policy.outage.status_channel.clone()];
    out.extend(change_messages(
        desk,
        &route,
        Action::OutageDeclare,
        &ch,
        text.clone(),
        false,
        &mut covered,
    ));
    tx.record(
        None,
        AuditAction::PlannedOutageNotice,
        &id.to_string(),
        render::history::planned_outage_notice(ch.window.as_ref()),
        &out,
    );
    subscriber_notices(tx, id, &ch.service, &text).await?;
    Ok(())
}

/// Direct messages to the users subscribed to `service` (`!subscribe`),
/// through the path every subscriber notice takes (once per notice;
/// closed DMs mark the subscriber unreachable), in the same transaction
/// as the notice; returns how many were queued.
pub(crate) async fn subscriber_notices(tx: &mut Act<'_>, id: ChangeId, service: &str, text: &str) -> DeskResult<usize> {
    let now = tx.now;
    let notice = store::notices::planned_outage(tx, id, text, now).await?;
    super::subscribers::dm_subscribers(tx, notice, service, text).await
}
