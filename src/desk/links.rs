//! Links between incidents and from incidents to outages: `!link` (related,
//! both show it), `!duplicate` (the duplicate ends, its reporter follows the
//! original), `!parent` (children are resolved with their parent) and
//! `!outage link`. The rules of what may link to what live here: nothing
//! links to itself, a duplicate points at an incident that is not itself a
//! duplicate, and parents are one level deep (a parent is no child, a child
//! no parent), so following links never loops.

use super::act::Act;
use super::incidents::{incident, name_of, Move};
use super::{rejected, Actor, Desk, DeskResult, Reply};
use crate::domain::audit::AuditAction;
use crate::domain::incident::{IncidentId, LinkKind, State};
use crate::domain::outage::OutageId;
use crate::message::{OutMessage, Outgoing};
use crate::render;
use crate::store;

/// Refuses a second link between two incidents, saying how they are linked.
async fn refuse_if_linked(tx: &mut Act<'_>, a: IncidentId, b: IncidentId) -> DeskResult<()> {
    if let Some(link) = store::links::of(tx, a).await?.into_iter().find(|l| l.other == b) {
        return rejected(render::already_linked(a, b, link.kind));
    }
    Ok(())
}

/// `!link INC-a INC-b`.
pub(crate) async fn link(tx: &mut Act<'_>, actor: &Actor, a: IncidentId, b: IncidentId) -> DeskResult<Reply> {
    if a == b {
        return rejected(render::link_to_itself(a));
    }
    incident(tx, a).await?;
    incident(tx, b).await?;
    refuse_if_linked(tx, a, b).await?;
    let now = tx.now;
    store::links::add(tx, a, b, LinkKind::Related, actor.user, now).await?;
    let by = name_of(tx, actor.user).await?;
    let text = render::linked(a, b, &by);
    let out = vec![
        Outgoing::in_thread(a, OutMessage::text(&text)),
        Outgoing::in_thread(b, OutMessage::text(&text)),
    ];
    tx.record(
        Some(actor.user),
        AuditAction::IncidentLink,
        &a.to_string(),
        render::history::linked_related(b),
        &out,
    );
    Ok(Reply::public(render::linked_reply(a, b)))
}

/// `!duplicate INC-b of INC-a`: INC-b ends (cancelled, its resolution
/// naming the original); its reporter hears of INC-a's progress from then on.
pub(crate) async fn duplicate(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    dup: IncidentId,
    of: IncidentId,
) -> DeskResult<Reply> {
    if dup == of {
        return rejected(render::link_to_itself(dup));
    }
    let copy = incident(tx, dup).await?;
    let original = incident(tx, of).await?;
    if !copy.state.is_open() {
        return rejected(render::cannot_cancel(&desk.policy().prefix, &copy));
    }
    if let Some((root, LinkKind::DuplicateOf)) = store::links::upward(tx, of).await? {
        return rejected(render::duplicate_refused(dup, &original, Some(root)));
    }
    if original.state.is_final() {
        return rejected(render::duplicate_refused(dup, &original, None));
    }
    refuse_if_linked(tx, dup, of).await?;
    // What follows the duplicate would be left following an ended incident.
    for kind in [LinkKind::DuplicateOf, LinkKind::ChildOf] {
        let followers = store::links::pointing_at(tx, dup, kind).await?;
        if !followers.is_empty() {
            return rejected(render::duplicate_has_followers(dup, kind, followers.len()));
        }
    }
    if let Some((parent, kind)) = store::links::upward(tx, dup).await? {
        return rejected(render::child_already_follows(dup, parent, kind));
    }
    let now = tx.now;
    store::links::add(tx, dup, of, LinkKind::DuplicateOf, actor.user, now).await?;
    let by = name_of(tx, actor.user).await?;
    let reporter = name_of(tx, copy.reporter).await?;
    let out = vec![
        Outgoing::in_thread(
            dup,
            OutMessage::text(render::marked_duplicate(&copy, &original, &by)).pinging_users([copy.reporter]),
        ),
        Outgoing::in_thread(
            of,
            OutMessage::text(render::gained_duplicate(&original, &copy, &reporter)),
        ),
    ];
    tx.record(
        Some(actor.user),
        AuditAction::IncidentLink,
        &dup.to_string(),
        render::history::marked_duplicate(of),
        &out,
    );
    super::incidents::move_incident(
        desk,
        tx,
        actor,
        copy,
        Move::to(State::Cancelled, Some(render::duplicate_resolution(of))),
    )
    .await?;
    Ok(Reply::public(render::duplicate_reply(dup, of)))
}

/// `!parent INC-a INC-b…`: the children are resolved with the parent.
pub(crate) async fn parent(
    tx: &mut Act<'_>,
    actor: &Actor,
    id: IncidentId,
    children: &[IncidentId],
) -> DeskResult<Reply> {
    let parent = incident(tx, id).await?;
    if !parent.state.is_open() {
        return rejected(render::not_open(&parent, "given children"));
    }
    if let Some((of, kind)) = store::links::upward(tx, id).await? {
        return rejected(match kind {
            LinkKind::ChildOf => render::parent_is_a_child(id, of),
            _ => render::duplicate_refused(id, &incident(tx, of).await?, Some(of)),
        });
    }
    for &child in children {
        if child == id {
            return rejected(render::link_to_itself(id));
        }
        let c = incident(tx, child).await?;
        if !c.state.is_open() {
            return rejected(render::child_not_open(&c));
        }
        if let Some((other, kind)) = store::links::upward(tx, child).await? {
            return rejected(render::child_already_follows(child, other, kind));
        }
        if !store::links::pointing_at(tx, child, LinkKind::ChildOf)
            .await?
            .is_empty()
        {
            return rejected(render::child_has_children(child));
        }
        refuse_if_linked(tx, id, child).await?;
    }
    let now = tx.now;
    let by = name_of(tx, actor.user).await?;
    let mut out = vec![Outgoing::in_thread(
        id,
        OutMessage::text(render::parented(&parent, children, &by)),
    )];
    for &child in children {
        store::links::add(tx, child, id, LinkKind::ChildOf, actor.user, now).await?;
        let c = incident(tx, child).await?;
        out.push(Outgoing::in_thread(
            child,
            OutMessage::text(render::follows_parent(child, &parent)).pinging_users([c.reporter]),
        ));
    }
    tx.record(
        Some(actor.user),
        AuditAction::IncidentLink,
        &id.to_string(),
        render::history::made_parent(children),
        &out,
    );
    Ok(Reply::public(render::parent_reply(id, children)))
}

/// `!outage link OUT-n INC-m`: an incident logged before the outage was
/// declared (or on another service) joins it, and is settled with it.
pub(crate) async fn link_outage(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    outage: OutageId,
    id: IncidentId,
) -> DeskResult<Reply> {
    let o = super::outages::reload_outage(tx, outage).await?;
    if !o.is_active() {
        return rejected(render::outage_over(&o));
    }
    let inc = incident(tx, id).await?;
    if let Some(existing) = store::outages::outage_of(tx, id).await? {
        return rejected(render::already_linked_to_outage(id, existing));
    }
    if !inc.state.is_open() {
        return rejected(render::not_open(&inc, "linked to an outage"));
    }
    let now = tx.now;
    store::outages::link_incident(tx, outage, id, now).await?;
    let out = vec![Outgoing::in_thread(
        id,
        OutMessage::text(render::linked_to_outage(desk.policy(), &o, &inc)),
    )];
    tx.record(
        Some(actor.user),
        AuditAction::IncidentLink,
        &id.to_string(),
        render::history::linked_to_outage(outage),
        &out,
    );
    Ok(Reply::public(render::outage_linked_reply(&o, id)))
}
