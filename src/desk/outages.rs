//! Outage actions: declare, update and resolve an outage; the status board and
//! the services list; subscriptions; and linking incidents to a known outage.
//!
//! Every notice, in the action's one transaction: the status card (created,
//! then edited in place) and a post in the status channel pinging the
//! service's subscriber role, the RACI row's roles in their channels, and one
//! direct message per reachable subscriber, through `subscribers`, the path
//! every subscriber notice takes (once per notice; closed DMs mark the
//! subscriber unreachable).

use super::act::Act;
use super::fanout::Notice;
use super::{rejected, Actor, Desk, DeskError, DeskResult, Reply};
use crate::domain::audit::AuditAction;
use crate::domain::escalation::Party;
use crate::domain::incident::{Incident, IncidentId, State};
use crate::domain::outage::{LinkedOutcome, NewOutage, NoticeKind, Outage, OutageId, OutageImpact};
use crate::domain::raci::{Action, RouteContext};
use crate::domain::subject::Subject;
use crate::domain::text::bounded;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render;
use crate::store;
use crate::store::notices::NoticeRef;

/// The status card of an outage as it is now.
pub(crate) async fn outage_card(desk: &Desk, tx: &mut Act<'_>, o: &Outage) -> DeskResult<OutMessage> {
    let policy = desk.policy();
    let declared_by = super::incidents::name_of(tx, o.declared_by).await?;
    Ok(OutMessage::text(render::outage_card_text(policy, o)).with_card(render::outage_card(policy, o, &declared_by)))
}

pub(crate) fn status_channel(desk: &Desk) -> Destination {
    Destination::Channel(desk.policy().outage.status_channel.clone())
}

/// The service's subscriber role, pinged with each notice in the status channel.
pub(crate) fn subscriber_role(desk: &Desk, o: &Outage) -> Vec<String> {
    desk.policy()
        .service(&o.service)
        .and_then(|s| s.subscriber_role.clone())
        .into_iter()
        .collect()
}

/// The RACI row of `action` for this outage: the responsible role pinged in
/// its channel; the accountable (service owner), consulted and informed
/// roles told in theirs, once per channel, without a ping.
pub(crate) fn outage_routing(
    desk: &Desk,
    action: Action,
    o: &Outage,
    by: &str,
    text: &str,
    extra: &str,
) -> Vec<Outgoing> {
    let policy = desk.policy();
    let fallback = policy.incident_manager();
    let route = policy.raci.route(
        action,
        RouteContext {
            service_owner: policy.service(&o.service).map(|s| &s.owner),
            assignment_group: None,
            fallback: &fallback,
        },
    );
    let tell = render::outage_for_role(policy, action, o, by, text, false);
    super::fanout::fan_out(
        desk,
        Notice {
            route: &route,
            subject: o.id.to_string(),
            ping: &[Party::Responsible],
            assignee: None,
            text: format!("{}{extra}", render::outage_for_role(policy, action, o, by, text, true)),
            ask: render::consulted_notice(action, &tell),
            tell,
            covered: Vec::new(),
        },
    )
}

/// Queues one direct message per reachable subscriber of the outage's
/// service for this notice; returns how many.
pub(crate) async fn notify_subscribers(tx: &mut Act<'_>, o: &Outage, notice: i64, text: &str) -> DeskResult<usize> {
    let notice = NoticeRef::Outage { outage: o.id, notice };
    super::subscribers::dm_subscribers(tx, notice, &o.service, text).await
}

pub(crate) fn text_arg(desk: &Desk, field: &'static str, raw: &str) -> DeskResult<String> {
    bounded(field, raw, desk.policy().outage.summary_max, false).map_err(DeskError::from)
}

pub(crate) async fn declare_outage(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    service: &str,
    summary: &str,
    impact: Option<OutageImpact>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let Some(svc) = policy.service(service) else {
        return rejected(render::unknown_service(policy, service));
    };
    let summary = text_arg(desk, "summary", summary)?;
    if let Some(existing) = store::outages::active_for_service(tx, &svc.key).await? {
        return rejected(render::outage_already_active(policy, &existing));
    }
    let now = tx.now;
    let new = NewOutage {
        service: svc.key.clone(),
        impact: impact.unwrap_or(policy.outage.default_impact),
        summary,
        declared_by: actor.user,
    };
    let outage = store::outages::insert(tx, &new, now).await?;
    let notice =
        store::outages::add_notice(tx, outage.id, NoticeKind::Declare, &outage.summary, actor.user, now).await?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let card = outage_card(desk, tx, &outage)
        .await?
        .pinging_chat_roles(subscriber_role(desk, &outage));
    let mut out = vec![Outgoing::card(outage.id.to_string(), status_channel(desk), card)];
    out.extend(outage_routing(
        desk,
        Action::OutageDeclare,
        &outage,
        &by,
        &outage.summary,
        "",
    ));
    let details = render::history::outage_declared(policy, &outage.service, outage.impact, &outage.summary);
    tx.record(
        Some(actor.user),
        Action::OutageDeclare,
        &outage.id.to_string(),
        details,
        &out,
    );
    let dm = render::outage_dm(policy, &outage, NoticeKind::Declare, &outage.summary);
    let n = notify_subscribers(tx, &outage, notice, &dm).await?;
    let linked = link_recent_incidents(desk, tx, &outage).await?;
    tracing::info!(outage = %outage.id, service = %outage.service, subscribers = n, linked = linked.len(), "outage declared");
    let mut reply = render::outage_declared(policy, &outage, n);
    if !linked.is_empty() {
        let window = crate::domain::outage::duration_text(policy.outage.link_window);
        reply.push_str(&render::outage_linked_existing(&linked, &window));
    }
    Ok(Reply::public(reply))
}

/// Links the service's open incidents logged within `outage.link_window`
/// before the declaration (and not linked to another outage), telling each
/// thread; returns them.
async fn link_recent_incidents(desk: &Desk, tx: &mut Act<'_>, outage: &Outage) -> DeskResult<Vec<IncidentId>> {
    let now = tx.now;
    let since = now - desk.policy().outage.link_window;
    let ids = store::outages::unlinked_open_since(tx, &outage.service, since).await?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in &ids {
        let Some(inc) = store::incidents::get(tx, id).await? else {
            continue;
        };
        store::outages::link_incident(tx, outage.id, id, now).await?;
        out.push(Outgoing::in_thread(
            id,
            OutMessage::text(render::linked_to_outage(desk.policy(), outage, &inc)),
        ));
    }
    if !out.is_empty() {
        tx.record(
            None,
            AuditAction::IncidentLink,
            &outage.id.to_string(),
            render::history::linked_incidents(&ids),
            &out,
        );
    }
    Ok(ids)
}

/// The outage as stored now (with its latest update), after a change.
pub(crate) async fn reload_outage(tx: &mut Act<'_>, id: OutageId) -> DeskResult<Outage> {
    store::outages::get(tx, id).await?.ok_or_else(|| {
        DeskError::Store(store::StoreError::Corrupt {
            table: "outages",
            detail: format!("{id} vanished inside its own transaction"),
        })
    })
}

/// Loads an outage the actor may change: it exists, they declared it or
/// hold an outage role, and it is still active.
pub(crate) async fn changeable_outage(desk: &Desk, tx: &mut Act<'_>, id: OutageId) -> DeskResult<Outage> {
    let policy = desk.policy();
    let Some(outage) = store::outages::get(tx, id).await? else {
        return rejected(render::unknown_outage(desk.policy(), id));
    };
    let refuse = |e| DeskError::Rejected(render::outage_refused(policy, &e));
    outage.check_active().map_err(refuse)?;
    Ok(outage)
}

pub(crate) async fn update_outage(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: OutageId,
    text: &str,
    impact: Option<OutageImpact>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let mut outage = changeable_outage(desk, tx, id).await?;
    let text = text_arg(desk, "update", text)?;
    let now = tx.now;
    let before = outage.impact;
    outage
        .update(impact, now)
        .map_err(|e| DeskError::Rejected(render::outage_refused(policy, &e)))?;
    store::outages::save(tx, &outage).await?;
    let notice = store::outages::add_notice(tx, id, NoticeKind::Update, &text, actor.user, now).await?;
    let outage = reload_outage(tx, id).await?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let card = outage_card(desk, tx, &outage).await?;
    let post = OutMessage::text(render::outage_update_post(policy, &outage, &text, &by))
        .pinging_chat_roles(subscriber_role(desk, &outage));
    let mut out = vec![
        Outgoing::card(id.to_string(), status_channel(desk), card),
        Outgoing::post(status_channel(desk), post).about(id.to_string()),
    ];
    out.extend(outage_routing(desk, Action::OutageUpdate, &outage, &by, &text, ""));
    let change = (before != outage.impact).then_some((before, outage.impact));
    tx.record(
        Some(actor.user),
        Action::OutageUpdate,
        &id.to_string(),
        render::history::outage_updated(change, &text),
        &out,
    );
    let dm = render::outage_dm(policy, &outage, NoticeKind::Update, &text);
    let n = notify_subscribers(tx, &outage, notice, &dm).await?;
    Ok(Reply::public(render::outage_updated(&outage, n)))
}

pub(crate) async fn resolve_outage(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: OutageId,
    text: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let mut outage = changeable_outage(desk, tx, id).await?;
    let text = match text {
        Some(t) => text_arg(desk, "resolution", &t)?,
        None => "service restored".to_owned(),
    };
    let now = tx.now;
    outage
        .resolve(now)
        .map_err(|e| DeskError::Rejected(render::outage_refused(policy, &e)))?;
    store::outages::save(tx, &outage).await?;
    let notice = store::outages::add_notice(tx, id, NoticeKind::Resolve, &text, actor.user, now).await?;
    let outage = reload_outage(tx, id).await?;
    // Linked incidents first, so the roles' message can say what is left.
    let linked = settle_linked_incidents(desk, tx, actor, &outage, &text).await?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let card = outage_card(desk, tx, &outage).await?;
    let post = OutMessage::text(render::outage_all_clear(policy, &outage, &text))
        .pinging_chat_roles(subscriber_role(desk, &outage));
    let mut out = vec![
        Outgoing::card(id.to_string(), status_channel(desk), card),
        Outgoing::post(status_channel(desk), post).about(id.to_string()),
    ];
    let extra = render::outage_linked_for_role(&linked);
    out.extend(outage_routing(desk, Action::OutageResolve, &outage, &by, &text, &extra));
    tx.record(
        Some(actor.user),
        Action::OutageResolve,
        &id.to_string(),
        render::history::outage_resolved(&crate::domain::outage::duration_text(outage.duration(now)), &text),
        &out,
    );
    let dm = render::outage_dm(policy, &outage, NoticeKind::Resolve, &text);
    let n = notify_subscribers(tx, &outage, notice, &dm).await?;
    tracing::info!(outage = %id, subscribers = n, linked = linked.resolved.len(), "outage resolved");
    Ok(Reply::public(render::outage_resolved(&outage, n, &linked)))
}

/// Tells the reporters of the incidents linked to a resolved outage, and
/// moves those whose lifecycle allows it (in_progress) to resolved with the
/// outage as resolution, through the same path as `!resolve` (any open
/// incident may be resolved); with `outage.resolve_linked_incidents` off they
/// stay as they are for their handler, and their reporter is told the outage
/// is over.
pub(crate) async fn settle_linked_incidents(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    outage: &Outage,
    text: &str,
) -> DeskResult<render::LinkedSummary> {
    // A storm report still without a card stays so: the grouped card says
    // the outage is over, and its reporter is told directly (`storm`).
    tx.keep_cardless = true;
    let settled = settle_each(desk, tx, actor, outage, text).await;
    tx.keep_cardless = false;
    let summary = settled?;
    super::storm::outage_resolved(desk, tx, outage).await?;
    Ok(summary)
}

async fn settle_each(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    outage: &Outage,
    text: &str,
) -> DeskResult<render::LinkedSummary> {
    let policy = desk.policy();
    let mut summary = render::LinkedSummary::default();
    for inc_id in store::outages::linked_incidents(tx, outage.id).await? {
        let Some(inc) = store::incidents::get(tx, inc_id).await? else {
            continue;
        };
        let outcome = LinkedOutcome::decide(inc.state, policy.outage.resolve_linked_incidents);
        match outcome {
            LinkedOutcome::Resolved => {
                let resolution = render::linked_resolution(policy, outage, text, policy.limits.note_max);
                super::incidents::move_incident(
                    desk,
                    tx,
                    actor,
                    inc,
                    super::incidents::Move::to(State::Resolved, Some(resolution)),
                )
                .await?;
                summary.resolved.push(inc_id);
            }
            LinkedOutcome::LeftOpen | LinkedOutcome::AlreadyDone => {
                tell_outage_over(desk, tx, actor, outage, &inc, text).await?;
                if outcome == LinkedOutcome::LeftOpen {
                    summary.left_open.push((inc_id, inc.state));
                } else {
                    summary.already_done.push(inc_id);
                }
            }
        }
        store::outages::set_link_outcome(tx, inc_id, outcome).await?;
    }
    Ok(summary)
}

/// Tells a linked incident's reporter, in its thread, that the outage is over.
pub(crate) async fn tell_outage_over(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    outage: &Outage,
    inc: &Incident,
    text: &str,
) -> DeskResult<()> {
    let reporter = super::incidents::name_of(tx, inc.reporter).await?;
    let msg = OutMessage::text(render::outage_over_for_incident(
        desk.policy(),
        outage,
        inc,
        &reporter,
        text,
    ))
    .pinging_users([inc.reporter]);
    let out = vec![Outgoing::in_thread(inc.id, msg)];
    tx.record(
        Some(actor.user),
        Action::OutageResolve,
        &inc.id.to_string(),
        render::history::outage_over(outage.id, inc.state),
        &out,
    );
    Ok(())
}

/// Links an incident to its service's active outage, if any; returns the
/// outage and, unless the incident is counted on the outage's grouped card,
/// the message for its thread. Only a report just logged (`at_intake`) is
/// counted on the grouped card (`storm`); one corrected onto the service
/// keeps the card it has.
pub(crate) async fn link_known_outage(
    desk: &Desk,
    tx: &mut Act<'_>,
    inc: &Incident,
    at_intake: bool,
) -> DeskResult<Option<(Outage, Option<Outgoing>)>> {
    let Some(service) = &inc.service else {
        return Ok(None);
    };
    let Some(outage) = store::outages::active_for_service(tx, service).await? else {
        return Ok(None);
    };
    if at_intake && super::storm::count_report(desk, tx, &outage, inc).await? {
        return Ok(Some((outage, None)));
    }
    let now = tx.now;
    store::outages::link_incident(tx, outage.id, inc.id, now).await?;
    let told = Outgoing::in_thread(
        inc.id,
        OutMessage::text(render::linked_to_outage(desk.policy(), &outage, inc)),
    );
    Ok(Some((outage, Some(told))))
}

/// `!outage show OUT-n`: what was said, to whom it got through, what is linked.
pub(crate) async fn show_outage(desk: &Desk, tx: &mut Act<'_>, id: OutageId) -> DeskResult<Reply> {
    let Some(outage) = store::outages::get(tx, id).await? else {
        return rejected(render::unknown_outage(desk.policy(), id));
    };
    let mut notices = Vec::new();
    for n in store::outages::notices(tx, id).await? {
        let by = super::incidents::name_of(tx, n.actor).await?;
        notices.push((n, by));
    }
    let linked = store::outages::linked_incidents(tx, id).await?;
    let counts = store::outages::delivery_counts(tx, id).await?;
    let subscribers = store::subscriptions::count(tx, &outage.service).await?;
    Ok(Reply::public(render::outage_show(
        desk.policy(),
        &outage,
        &notices,
        &linked,
        counts,
        subscribers,
        tx.now,
    )))
}

/// `!status` with no arguments.
pub(crate) async fn status_board(desk: &Desk, tx: &mut Act<'_>) -> DeskResult<Reply> {
    let outages = store::outages::active(tx).await?;
    let board = render::status_board(desk.policy(), &outages, tx.now);
    // Planned maintenance under way is shown beside the outages.
    let maintenance = super::changes::maintenance_lines(desk, tx).await?;
    Ok(Reply::public(render::with_maintenance(board, &maintenance)))
}

/// `!note OUT-n <text>`: a note on an outage, kept in its history and posted
/// to the channel of the role working it (not the public status channel)
/// and to its declarer.
pub(crate) async fn note(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, id: OutageId, text: &str) -> DeskResult<Reply> {
    let policy = desk.policy();
    let Some(outage) = store::outages::get(tx, id).await? else {
        return rejected(render::unknown_outage(policy, id));
    };
    let body = crate::domain::text::bounded("note", text, policy.limits.note_max, true)?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let posted = render::record_note(&id.to_string(), &outage.summary, &by, &body);
    let fallback = policy.incident_manager();
    let route = policy.raci.route(
        Action::OutageUpdate,
        RouteContext {
            service_owner: policy.service(&outage.service).map(|s| &s.owner),
            assignment_group: None,
            fallback: &fallback,
        },
    );
    let mut out = vec![Outgoing::post(
        Destination::RoleChannel(route.responsible),
        OutMessage::text(posted.clone()),
    )
    .about(id.to_string())];
    if outage.declared_by != actor.user {
        let u = outage.declared_by;
        out.push(Outgoing::post(Destination::Dm(u), OutMessage::text(posted).pinging_users([u])).about(id.to_string()));
    }
    let places = out.len();
    tx.record(
        Some(actor.user),
        Action::OutageUpdate,
        &id.to_string(),
        render::history::noted(&body),
        &out,
    );
    Ok(Reply::public(render::record_note_saved(&id.to_string(), places)))
}

pub(crate) async fn services(desk: &Desk, tx: &mut Act<'_>, actor: &Actor) -> DeskResult<Reply> {
    let policy = desk.policy();
    let outages = store::outages::active(tx).await?;
    let mine = store::subscriptions::for_user(tx, actor.user).await?;
    let lines: Vec<render::ServiceLine<'_>> = policy
        .services
        .values()
        .map(|s| render::ServiceLine {
            service: s,
            outage: outages.iter().find(|o| o.service == s.key),
            subscribed: mine.iter().any(|m| m.service == s.key),
        })
        .collect();
    Ok(Reply::public(render::services(policy, &lines)))
}

pub(crate) async fn subscribe(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, service: &str) -> DeskResult<Reply> {
    let policy = desk.policy();
    let Some(svc) = policy.service(service) else {
        return rejected(render::unknown_service(policy, service));
    };
    let now = tx.now;
    let how = store::subscriptions::subscribe(tx, &svc.key, actor.user, now).await?;
    if how != crate::domain::outage::Subscribed::Already {
        tx.record(
            Some(actor.user),
            AuditAction::Subscribe,
            &Subject::Service(svc.key.clone()).to_string(),
            render::history::subscribed(policy, &svc.key, how),
            &[],
        );
    }
    Ok(Reply::private(render::subscribed(svc, how)))
}

pub(crate) async fn unsubscribe(desk: &Desk, tx: &mut Act<'_>, actor: &Actor, service: &str) -> DeskResult<Reply> {
    let policy = desk.policy();
    let Some(svc) = policy.service(service) else {
        return rejected(render::unknown_service(policy, service));
    };
    if !store::subscriptions::unsubscribe(tx, &svc.key, actor.user).await? {
        return rejected(render::not_subscribed(policy, svc));
    }
    tx.record(
        Some(actor.user),
        AuditAction::Unsubscribe,
        &Subject::Service(svc.key.clone()).to_string(),
        render::history::unsubscribed(policy, &svc.key),
        &[],
    );
    Ok(Reply::private(render::unsubscribed(svc)))
}

pub(crate) async fn subscriptions(desk: &Desk, tx: &mut Act<'_>, actor: &Actor) -> DeskResult<Reply> {
    let subs = store::subscriptions::for_user(tx, actor.user).await?;
    Ok(Reply::private(render::subscriptions(desk.policy(), &subs)))
}
