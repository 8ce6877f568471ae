//! The satisfaction question on resolve (DESIGN §2): the reporter is asked in
//! the incident's thread to react 👍 (fixed: the incident closes) or 👎 (not
//! fixed: it reopens); with no answer it closes after `incident.survey_timeout`
//! through a stored timer, so a restart does not lose it.

use super::act::Act;
use super::emoji::Emoji;
use super::{rejected, Actor, Desk, DeskError, DeskResult, Firing, Outcome, Reply};
use crate::domain::incident::{Incident, IncidentId, State};
use crate::domain::timer::TimerKind;
use crate::domain::UserId;
use crate::message::{OutMessage, Outgoing};
use crate::render;
use crate::store;

/// The actor of what the desk does by itself (timeouts); audited without an actor.
pub const SYSTEM: UserId = UserId::new(0);

/// Asks the reporter of a just-resolved incident; part of the resolve transaction.
pub(crate) async fn ask_survey(desk: &Desk, tx: &mut Act<'_>, inc: &Incident, by: &str) -> DeskResult<()> {
    let now = tx.now;
    let timeout = desk.policy().survey_timeout;
    let reporter = super::incidents::name_of(tx, inc.reporter).await?;
    let text = render::resolved_notice(inc, by, &reporter, timeout);
    let question = Outgoing::in_thread(
        inc.id,
        OutMessage::text(text)
            .pinging_users([inc.reporter])
            .with_reactions([Emoji::Fixed.as_str(), Emoji::NotFixed.as_str()]),
    );
    // Through the action's placing, like every message (a storm report the
    // outage resolves is asked by direct message).
    let outbox_id = tx.enqueue_now(&question).await?;
    store::surveys::ask(tx, inc.id, outbox_id, now).await?;
    let id = inc.id.to_string();
    store::timers::schedule(tx, TimerKind::Survey.as_str(), &id, &id, now + timeout, "{}").await?;
    Ok(())
}

/// An incident left `resolved` by hand (`!close`, `!reopen`): the question is moot.
pub(crate) async fn drop_survey(tx: &mut Act<'_>, id: IncidentId) -> DeskResult<()> {
    store::timers::cancel_one(tx, TimerKind::Survey.as_str(), &id.to_string()).await?;
    Ok(())
}

/// 👍 / 👎 on a satisfaction question; `None` when the message is not one.
pub(crate) async fn survey_reaction(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    message_id: &str,
    emoji: Emoji,
) -> DeskResult<Option<Outcome>> {
    let Some(id) = store::surveys::open_by_message(tx, message_id).await? else {
        return Ok(None);
    };
    let Some(inc) = store::incidents::get(tx, id).await? else {
        return Ok(None);
    };
    if inc.reporter != actor.user {
        return Err(DeskError::RejectedReaction(render::survey_not_yours(id)));
    }
    if inc.state != State::Resolved {
        return rejected(render::survey_moot(&inc));
    }
    let (answer, to, reason) = if emoji == Emoji::Fixed {
        ("fixed", State::Closed, "the reporter confirmed it is fixed (👍)")
    } else {
        ("not_fixed", State::InProgress, "the reporter says it is not fixed (👎)")
    };
    let now = tx.now;
    store::surveys::answer(tx, id, answer, now).await?;
    let inc = super::incidents::move_incident(
        desk,
        tx,
        actor,
        inc,
        super::incidents::Move::to(to, Some(reason.to_owned())),
    )
    .await?;
    Ok(Some(Outcome::Reply(Reply::public(render::survey_answered(
        desk.policy(),
        &inc,
    )))))
}

/// The question went unanswered: a still-resolved incident closes.
pub(crate) async fn on_survey_timer(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(id) = IncidentId::parse(&firing.timer.subject) else {
        return Ok(());
    };
    let Some(inc) = store::incidents::get(tx, id).await? else {
        return Ok(());
    };
    if inc.state != State::Resolved {
        return Ok(());
    }
    let now = tx.now;
    store::surveys::answer(tx, id, "timeout", now).await?;
    let system = Actor {
        user: SYSTEM,
        name: "opsdesk".into(),
        roles: Vec::new(),
    };
    let reason = render::survey_timed_out(desk.policy().survey_timeout);
    super::incidents::move_incident(
        desk,
        tx,
        &system,
        inc,
        super::incidents::Move::to(State::Closed, Some(reason)),
    )
    .await?;
    Ok(())
}
