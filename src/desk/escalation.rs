//! Escalation actions: functional (`!escalate INC-n`, ⬆️), hierarchical
//! (`!escalate INC-n up`), the reporter's request for escalation, and major
//! incidents (`!major INC-n [off]`). Every notice is routed through a RACI row.
//!
//! The card follows the work: a functional escalation to a tier with another
//! channel re-posts the card there (pinging the tier, so ✋ and ⬆️ work where
//! it now works) and edits the old post into a pointer ([`follow_card`]).
//! The incident's thread stays where the first card started it: the reporter
//! was told updates happen there and already follows it, it holds the whole
//! conversation, and ⬆️ in it keeps working; the re-posted card links to it.

use super::act::Act;
use super::fanout::Notice;
use super::{rejected, Actor, Desk, DeskResult, Reply};
use crate::domain::audit::AuditAction;
use crate::domain::escalation::{ladder, next_rung, next_tier, Party, TierError};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::party::Party as Who;
use crate::domain::raci::{Action, Route};
use crate::domain::text::bounded;
use crate::domain::RoleKey;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render;
use crate::store;

/// An incident notice to its route (`fanout`): `ping` decides who is
/// pinged; the accountable, consulted and informed roles always hear of it.
pub(crate) fn notify(
    desk: &Desk,
    action: Action,
    inc: &Incident,
    route: &Route,
    ping: &[Party],
    text: &str,
) -> Vec<Outgoing> {
    notify_beside(desk, action, inc, route, ping, text, Vec::new())
}

/// [`notify`], but channels in `covered` already see the card (or its edit)
/// for this action: they get no FYI on top (a role pinged there still is).
fn notify_beside(
    desk: &Desk,
    action: Action,
    inc: &Incident,
    route: &Route,
    ping: &[Party],
    text: &str,
    covered: Vec<String>,
) -> Vec<Outgoing> {
    super::fanout::fan_out(
        desk,
        Notice {
            route,
            subject: inc.id.to_string(),
            ping,
            assignee: inc.assignee,
            text: text.to_owned(),
            tell: text.to_owned(),
            ask: render::consulted_notice(action, text),
            covered,
        },
    )
}

/// The channel of an ITIL role's work, if configured.
fn channel_of(desk: &Desk, role: &RoleKey) -> Option<String> {
    desk.policy().role(role).map(|r| r.channel.clone())
}

/// Moves an incident's card from `from`'s channel to its handler's: the card
/// posted anew there with `text` above it, pinging the handler, then the old
/// post edited into `left` (two outbox rows of the incident, delivered in
/// order; see `message::CardStep`). Empty when both roles share a channel:
/// the card is then edited in place as for any other change.
pub(crate) async fn follow_card(
    desk: &Desk,
    tx: &mut Act<'_>,
    inc: &Incident,
    from: &RoleKey,
    text: &str,
    left: String,
) -> DeskResult<Vec<Outgoing>> {
    if channel_of(desk, from) == channel_of(desk, &inc.handler_role) {
        return Ok(Vec::new());
    }
    let card = super::incidents::card(desk, tx, inc, false).await?;
    let subject = inc.id.to_string();
    let mut message = card.message;
    message.text = text.to_owned();
    let message = message.pinging_roles([inc.handler_role.clone()]);
    Ok(vec![
        Outgoing::card_moved(&subject, card.destination, message),
        Outgoing::card_left(&subject, Destination::RoleChannel(from.clone()), OutMessage::text(left)),
    ])
}

/// An escalation's messages: the card's edit, the notice in the incident's
/// thread, and the notice to its route ([`notify`]).
async fn announce(
    desk: &Desk,
    tx: &mut Act<'_>,
    action: Action,
    inc: &Incident,
    route: &Route,
    ping: &[Party],
    text: &str,
) -> DeskResult<Vec<Outgoing>> {
    let subject = inc.id.to_string();
    let mut out = vec![
        super::incidents::card(desk, tx, inc, false).await?,
        Outgoing::in_thread(&subject, OutMessage::text(text)),
    ];
    out.extend(notify(desk, action, inc, route, ping, text));
    Ok(out)
}

/// An optional reason, trimmed and checked against the note limit (newlines kept).
pub(crate) fn checked_reason(desk: &Desk, reason: Option<String>) -> DeskResult<Option<String>> {
    match reason {
        Some(r) => Ok(Some(bounded("reason", &r, desk.policy().limits.note_max, true)?)),
        None => Ok(None),
    }
}

/// `!escalate INC-n [up] [reason]`: agents escalate; the reporter asks for it.
pub(crate) async fn escalate(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    up: bool,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let inc = super::incidents::incident(tx, id).await?;
    let reason = checked_reason(desk, reason)?;
    if !inc.state.is_open() {
        return rejected(render::not_open(&inc, "escalated"));
    }
    // Those who work the incident escalate it; its service's owner may
    // climb the hierarchy; its reporter asks for escalation.
    let works = [Who::Agents, Who::Group, Who::Assignee]
        .into_iter()
        .any(|p| tx.holds(p));
    let climbs = up && tx.holds(Who::ServiceOwner);
    if !(works || climbs) {
        return request_escalation(desk, tx, actor, &inc, reason).await;
    }
    if up {
        escalate_up(desk, tx, actor, inc, reason).await
    } else {
        escalate_functional(desk, tx, actor, inc, reason).await
    }
}

/// Hands the incident to the next support tier of its service.
pub(crate) async fn escalate_functional(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    mut inc: Incident,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let chain = policy.tiers_for(inc.service.as_deref());
    let step = match next_tier(chain, inc.tier) {
        Ok(step) => step,
        Err(TierError::LastTier { role }) => return rejected(render::last_tier(policy, &inc, &role)),
        Err(TierError::NoTiers) => return rejected(render::last_tier(policy, &inc, &inc.handler_role)),
    };
    let from = std::mem::replace(&mut inc.handler_role, step.role);
    inc.tier = step.tier;
    // The new group decides who works on it: the previous assignee was in the old group.
    inc.assignee = None;
    inc.updated_at = now;
    store::incidents::update(tx, &inc, now).await?;

    let by = super::incidents::name_of(tx, actor.user).await?;
    let text = render::escalated_functional(policy, &inc, &by, &from, chain.len(), reason.as_deref());
    let route = super::incidents::route_for(desk, Action::EscalateFunctional, &inc);
    let moved = follow_card(desk, tx, &inc, &from, &text, render::card_escalated_away(policy, &inc)).await?;
    let out = if moved.is_empty() {
        announce(
            desk,
            tx,
            Action::EscalateFunctional,
            &inc,
            &route,
            &[Party::Responsible],
            &text,
        )
        .await?
    } else {
        // The re-posted card pings the new tier in its channel, and the old
        // channel sees its post edited: neither needs a message beside it.
        let subject = inc.id.to_string();
        let covered = [&from, &inc.handler_role]
            .into_iter()
            .filter_map(|r| channel_of(desk, r))
            .collect();
        let ping: &[Party] = if route.responsible == inc.handler_role {
            &[]
        } else {
            &[Party::Responsible]
        };
        let mut out = moved;
        out.push(Outgoing::in_thread(&subject, OutMessage::text(&text)));
        out.extend(notify_beside(
            desk,
            Action::EscalateFunctional,
            &inc,
            &route,
            ping,
            &text,
            covered,
        ));
        out
    };
    let details = render::history::escalated(
        policy,
        &from,
        &inc.handler_role,
        inc.tier,
        chain.len(),
        reason.as_deref(),
    );
    tx.record(
        Some(actor.user),
        Action::EscalateFunctional,
        &inc.id.to_string(),
        details,
        &out,
    );
    tracing::info!(incident = %inc.id, to = %inc.handler_role, tier = inc.tier, "escalated functionally");
    Ok(Reply::public(render::escalated_functional_reply(
        policy,
        &inc,
        chain.len(),
    )))
}

/// Raises the incident one rung: the incident manager, then the service owner.
pub(crate) async fn escalate_up(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    inc: Incident,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let route = super::incidents::route_for(desk, Action::EscalateHierarchical, &inc);
    let rungs = ladder(&route);
    let mut esc = store::escalations::get(tx, inc.id).await?;
    let Some((level, role, party)) = next_rung(&rungs, esc.level) else {
        return rejected(render::top_of_ladder(policy, &inc, rungs.last()));
    };
    esc.level = level;
    store::escalations::set(tx, inc.id, &esc, now).await?;

    let by = super::incidents::name_of(tx, actor.user).await?;
    let text = render::escalated_up(policy, &inc, &by, &role, reason.as_deref());
    let out = announce(desk, tx, Action::EscalateHierarchical, &inc, &route, &[party], &text).await?;
    let details = render::history::escalated_up(policy, &role, reason.as_deref());
    tx.record(
        Some(actor.user),
        Action::EscalateHierarchical,
        &inc.id.to_string(),
        details,
        &out,
    );
    tracing::info!(incident = %inc.id, to = %role, level, "escalated hierarchically");
    Ok(Reply::public(render::escalated_up_reply(policy, &inc, &role)))
}

/// A reporter asks for escalation: only the current tier is told.
pub(crate) async fn request_escalation(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    inc: &Incident,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let by = super::incidents::name_of(tx, actor.user).await?;
    let text = render::escalation_requested(policy, inc, &by, reason.as_deref());
    let out = vec![Outgoing::post(
        Destination::RoleChannel(inc.handler_role.clone()),
        OutMessage::text(text).pinging_roles([inc.handler_role.clone()]),
    )
    .about(inc.id.to_string())];
    let details = render::history::asked_for_escalation(policy, &inc.handler_role, reason.as_deref());
    tx.record(
        Some(actor.user),
        AuditAction::EscalationRequest,
        &inc.id.to_string(),
        details,
        &out,
    );
    Ok(Reply::public(render::escalation_requested_reply(policy, inc)))
}

/// `!major INC-n [reason]` declares a major incident; `!major INC-n off <reason>` reverts it.
pub(crate) async fn major(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    off: bool,
    reason: Option<String>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let inc = super::incidents::incident(tx, id).await?;
    let reason = checked_reason(desk, reason)?;
    if !inc.state.is_open() {
        return rejected(render::not_open(&inc, "declared major"));
    }
    let mut esc = store::escalations::get(tx, id).await?;
    let by = super::incidents::name_of(tx, actor.user).await?;
    let route = super::incidents::route_for(desk, Action::MajorIncident, &inc);
    let subject = id.to_string();
    let (text, ping, action, reply, details): (String, &[Party], AuditAction, String, _) = if off {
        if !esc.major {
            return rejected(render::not_major(id));
        }
        let Some(reason) = reason.as_deref() else {
            return rejected(render::major_off_needs_reason(&policy.prefix, id));
        };
        esc.major = false;
        esc.major_since = None;
        store::escalations::set(tx, id, &esc, now).await?;
        super::sla::retarget_clocks(
            desk,
            tx,
            id,
            super::sla::sla_policy(desk, &inc, true),
            super::sla::sla_policy(desk, &inc, false),
        )
        .await?;
        (
            render::major_reverted(policy, &inc, &by, reason),
            &[],
            AuditAction::MajorIncidentOff,
            render::major_reverted_reply(&inc),
            render::history::reverted_major(reason),
        )
    } else {
        if esc.major {
            return rejected(render::already_major(id));
        }
        esc.major = true;
        esc.major_since = Some(now);
        store::escalations::set(tx, id, &esc, now).await?;
        super::sla::retarget_clocks(
            desk,
            tx,
            id,
            super::sla::sla_policy(desk, &inc, false),
            super::sla::sla_policy(desk, &inc, true),
        )
        .await?;
        (
            render::major_declared(policy, &inc, &by, reason.as_deref()),
            &policy.escalation.major_ping,
            AuditAction::Raci(Action::MajorIncident),
            render::major_reply(&inc),
            render::history::declared_major(reason.as_deref()),
        )
    };
    let out = announce(desk, tx, Action::MajorIncident, &inc, &route, ping, &text).await?;
    tx.record(Some(actor.user), action, &subject, details, &out);
    tracing::info!(incident = %id, major = !off, "major incident");
    Ok(Reply::public(reply))
}
