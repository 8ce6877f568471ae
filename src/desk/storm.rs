//! One card per storm (issue 22): a report logged against a service with an
//! active outage, for the role that handles the outage's reports, gets no
//! card of its own in that role's channel. The outage's one grouped card
//! there counts it ("12 reports linked to OUT-1", the latest reporters, the
//! services), posted with the first report and edited at most once per
//! `outage.storm_card_every` through a stored timer (kind `storm_card`), so
//! a restart neither loses a pending edit nor sends it twice.
//!
//! Such a report gets its card and thread lazily, in one place: [`place`],
//! which every message an action queues passes through (`Act`'s flush). The
//! first message addressed to a cardless report's card or thread — someone
//! taking, moving, escalating, editing it, its reporter's note — is preceded
//! by its card and the thread's welcome. While the outage settles its linked
//! incidents (`Act::keep_cardless`), a cardless report stays so: its card
//! rows are dropped (the grouped card says the outage is over) and its thread
//! messages go to its reporter by direct message.

use super::act::Act;
use super::{Desk, DeskResult, Firing};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::outage::{Outage, OutageId};
use crate::domain::subject::Subject;
use crate::domain::timer::TimerKind;
use crate::domain::RoleKey;
use crate::message::{CardStep, Destination, OutKind, OutMessage, Outgoing};
use crate::render;
use crate::store;

/// The incident whose own card or thread a message is addressed to.
pub(crate) fn card_addressed(row: &Outgoing) -> Option<IncidentId> {
    let subject = match (&row.destination, row.kind) {
        (Destination::Thread(s), _) => s,
        (_, OutKind::Card) => row.subject.as_ref()?,
        _ => return None,
    };
    Subject::parse(subject)?.incident()
}

/// Counts a just-logged incident on its service's active outage's grouped
/// card, when the card's role handles it (the first report decides the
/// role; a report another role handles keeps its own card). Links it and
/// queues the card's next version: at once for the first report or once the
/// period since the last version has passed, else through a timer at the
/// period's end. False when it is not counted (the caller links it as usual).
pub(crate) async fn count_report(desk: &Desk, tx: &mut Act<'_>, outage: &Outage, inc: &Incident) -> DeskResult<bool> {
    let now = tx.now;
    let existing = store::storm::card(tx, outage.id).await?;
    if existing.as_ref().is_some_and(|c| c.role != inc.handler_role) {
        return Ok(false);
    }
    store::storm::link_grouped(tx, outage.id, inc.id, now).await?;
    match existing {
        None => queue_version(desk, tx, outage, &inc.handler_role, true).await?,
        Some(card) => {
            let due = card.edited_at + desk.policy().outage.storm_card_every;
            if now >= due {
                queue_version(desk, tx, outage, &card.role, false).await?;
            } else {
                schedule_edit(tx, outage.id, due).await?;
            }
        }
    }
    Ok(true)
}

/// Queues the grouped card as it is now (the first version pings the role,
/// like a new incident card) and records when, with what it counted.
async fn queue_version(desk: &Desk, tx: &mut Act<'_>, outage: &Outage, role: &RoleKey, first: bool) -> DeskResult<()> {
    let policy = desk.policy();
    let now = tx.now;
    let tally = store::storm::tally(tx, outage.id, render::STORM_CARD_LATEST).await?;
    let mut msg = OutMessage::text(render::storm_card_text(policy, outage, &tally)).with_card(render::storm_card(
        policy,
        outage,
        &tally,
        policy.outage.storm_card_every,
    ));
    if first {
        msg = msg.pinging_roles([role.clone()]);
    }
    let row = Outgoing::card(
        Subject::Reports(outage.id).to_string(),
        Destination::RoleChannel(role.clone()),
        msg,
    );
    tx.enqueue_now(&row).await?;
    store::storm::card_queued(tx, outage.id, role, tally.count, now).await?;
    Ok(())
}

/// The timer of the grouped card's edit due at `due`: one key per instant,
/// so scheduling it again for the same instant is the same timer.
async fn schedule_edit(tx: &mut Act<'_>, outage: OutageId, due: chrono::DateTime<chrono::Utc>) -> DeskResult<()> {
    let key = format!("{outage}@{}", due.timestamp_millis());
    let subject = outage.to_string();
    store::timers::schedule(tx, TimerKind::StormCard.as_str(), &key, &subject, due, "{}").await?;
    Ok(())
}

/// A grouped card's edit falling due: queued when reports came since its
/// last version (and that version is a period old; else moved to then).
pub(crate) async fn on_storm_timer(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(id) = Subject::parse(&firing.timer.subject).and_then(|s| match s {
        Subject::Outage(id) => Some(id),
        _ => None,
    }) else {
        return Ok(());
    };
    let (Some(outage), Some(card)) = (store::outages::get(tx, id).await?, store::storm::card(tx, id).await?) else {
        return Ok(());
    };
    // Resolving the outage queued the card's last version.
    if !outage.is_active() {
        return Ok(());
    }
    let count = store::storm::tally(tx, id, 0).await?.count;
    if count == card.shown {
        return Ok(());
    }
    let due = card.edited_at + desk.policy().outage.storm_card_every;
    if tx.now < due {
        return schedule_edit(tx, id, due).await;
    }
    queue_version(desk, tx, &outage, &card.role, false).await
}

/// The outage is resolved: its grouped card, if it has one, says so at once,
/// and no edit is left pending.
pub(crate) async fn outage_resolved(desk: &Desk, tx: &mut Act<'_>, outage: &Outage) -> DeskResult<()> {
    let Some(card) = store::storm::card(tx, outage.id).await? else {
        return Ok(());
    };
    store::timers::cancel(tx, TimerKind::StormCard.as_str(), &format!("{}@", outage.id)).await?;
    queue_version(desk, tx, outage, &card.role, false).await
}

/// Places an action's messages (see the module documentation): the first
/// one addressed to a cardless report's card or thread gets the card and the
/// thread's welcome before it; with `keep_cardless` (the outage settling),
/// the report's card rows are dropped and its thread posts go to its
/// reporter directly. Every other message passes unchanged.
pub(crate) async fn place(
    desk: &Desk,
    tx: &mut Act<'_>,
    rows: Vec<Outgoing>,
    keep_cardless: bool,
) -> DeskResult<Vec<Outgoing>> {
    let mut placed = Vec::with_capacity(rows.len());
    // Per incident: still cardless? (Read once per batch of rows.)
    let mut known: Vec<(IncidentId, bool)> = Vec::new();
    for row in rows {
        let Some(id) = card_addressed(&row) else {
            placed.push(row);
            continue;
        };
        let cardless = match known.iter().find(|(i, _)| *i == id) {
            Some((_, c)) => *c,
            None => {
                let c = store::storm::is_cardless(tx, id).await?;
                known.push((id, c));
                c
            }
        };
        if !cardless {
            placed.push(row);
            continue;
        }
        let Some(inc) = store::incidents::get(tx, id).await? else {
            placed.push(row);
            continue;
        };
        if keep_cardless {
            if row.kind == OutKind::Post {
                placed.push(Outgoing::post(Destination::Dm(inc.reporter), row.message).about(id.to_string()));
            }
            continue;
        }
        let now = tx.now;
        store::storm::give_card(tx, id, now).await?;
        if let Some(k) = known.iter_mut().find(|(i, _)| *i == id) {
            k.1 = false;
        }
        let welcome = welcome(desk, tx, &inc).await?;
        if row.kind == OutKind::Card && row.message.step == CardStep::InPlace {
            // The row itself posts the card (and starts its thread).
            placed.push(row);
            placed.extend(welcome);
        } else {
            placed.push(super::incidents::card(desk, tx, &inc, false).await?);
            placed.extend(welcome);
            placed.push(row);
        }
        tracing::info!(incident = %id, "storm report given its own card");
    }
    Ok(placed)
}

/// What a report's new thread starts with: the welcome it did not get at
/// intake, pinging its reporter, and the outage it is part of.
async fn welcome(desk: &Desk, tx: &mut Act<'_>, inc: &Incident) -> DeskResult<Vec<Outgoing>> {
    let reporter = super::incidents::name_of(tx, inc.reporter).await?;
    let mut out = vec![Outgoing::in_thread(
        inc.id,
        OutMessage::text(render::thread_welcome(inc, &reporter)).pinging_users([inc.reporter]),
    )];
    if let Some(oid) = store::outages::outage_of(tx, inc.id).await? {
        if let Some(o) = store::outages::get(tx, oid).await? {
            out.push(Outgoing::in_thread(
                inc.id,
                OutMessage::text(render::linked_to_outage(desk.policy(), &o, inc)),
            ));
        }
    }
    Ok(out)
}
