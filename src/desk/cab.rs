//! The CAB vote by reaction: `!cab` posts the vote card and the bot adds
//! ✅ ❌ ➖; reactions become ballots (eligible members only, one each,
//! segregation of duties); the vote closes as soon as its outcome is certain
//! or at its deadline (a stored timer, so a restart does not lose it).
//!
//! Reaction identity: the platform names a reaction event by message, user,
//! emoji and add/remove, so adding, removing and adding again repeats a
//! name. Vote reactions are therefore not deduplicated by that name but by
//! state (`store::reactions`): an event counts only when it changes whether
//! the reaction is on the message, and each change bumps a generation that
//! is part of the event's recorded identity. A replayed event finds the
//! state already as it says and changes nothing. When the desk itself asks
//! for a reaction to be taken back (an ineligible ballot, a switched one, a
//! closed vote) it records the reaction as gone at once, so the platform's
//! removal event that follows is recognised as that same change. Events can
//! arrive out of order (a replayed removal after a re-add), so the Discord
//! adapter reports a vote reaction as the state the platform holds when it
//! looks, not as the event says.

use super::act::Act;
use crate::domain::audit::AuditAction;
use crate::domain::timer::TimerKind;
use chrono::{DateTime, TimeDelta, Utc};

use super::{Actor, Desk, DeskError, DeskResult, Firing, Inbound, Outcome, Reply};
use crate::domain::cab::{
    eligibility, evaluate, Ballots, Board, CastOutcome, Choice, Evaluation, Outcome as VoteOutcome,
};
use crate::domain::cab::{Vote, VoteStatus};
use crate::domain::change::{transition, Change, ChangeId, ChangeState, ChangeType, Risk};
use crate::domain::raci::Action;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render::{self, VoteView};
use crate::store::{self, Conn};

/// The shortest and longest deadline `!cab … deadline=` accepts.
const MIN_DEADLINE: TimeDelta = TimeDelta::minutes(1);
const MAX_DEADLINE: TimeDelta = TimeDelta::days(30);

/// How many members a vote counts: the people seen holding an eligible
/// role (not the requester or implementer), and at least the board's
/// configured size.
pub(crate) async fn eligible_members(tx: &mut Act<'_>, ch: &Change, vote: &Vote) -> DeskResult<u32> {
    let mut except = vec![ch.requester];
    except.extend(ch.implementer);
    let seen = store::roster::count_holders(tx, &vote.rules.eligible_roles, &except).await?;
    Ok(seen.max(vote.expected_members))
}

/// The vote as readers see it: rules, count and the voters by name.
pub(crate) async fn vote_view<'a>(tx: &mut Act<'_>, ch: &Change, vote: &'a Vote) -> DeskResult<VoteView<'a>> {
    let ballots = store::cab::ballots(tx, ch.id).await?;
    view_of(tx, ch, vote, &ballots).await
}

pub(crate) async fn view_of<'a>(
    tx: &mut Act<'_>,
    ch: &Change,
    vote: &'a Vote,
    ballots: &Ballots,
) -> DeskResult<VoteView<'a>> {
    let mut voters = Vec::new();
    for (user, choice) in ballots.iter() {
        voters.push((super::incidents::name_of(tx, user).await?, choice));
    }
    Ok(VoteView {
        vote,
        tally: ballots.tally(),
        voters,
        eligible: eligible_members(tx, ch, vote).await?,
    })
}

/// The vote card as it stands, to post (first time) or edit in place.
pub(crate) async fn vote_card(
    desk: &Desk,
    tx: &mut Act<'_>,
    ch: &Change,
    vote: &Vote,
    first: bool,
) -> DeskResult<Outgoing> {
    let policy = desk.policy();
    let view = vote_view(tx, ch, vote).await?;
    let names = super::changes::change_names(tx, ch).await?;
    let clashes = super::changes::clashes(desk, tx, ch).await?;
    let mut msg = OutMessage::text(render::vote_text(ch, &view))
        .with_card(render::vote_card(policy, ch, &names, &view, &clashes))
        .with_buttons(render::vote_buttons(ch, vote));
    if first {
        msg = msg
            .pinging_roles(vote.rules.eligible_roles.iter().cloned())
            .with_reactions(Choice::ALL.iter().map(|c| c.emoji()));
    }
    Ok(Outgoing::card(
        ch.id.to_string(),
        Destination::RoleChannel(board_role(vote)),
        msg,
    ))
}

/// An edit of the vote card, when the change had a vote.
pub(crate) async fn refresh_vote_card(desk: &Desk, tx: &mut Act<'_>, ch: &Change) -> DeskResult<Vec<Outgoing>> {
    match store::cab::get(tx, ch.id).await? {
        Some(vote) => Ok(vec![vote_card(desk, tx, ch, &vote, false).await?]),
        None => Ok(Vec::new()),
    }
}

/// Ends an open vote because its change was cancelled.
pub(crate) async fn cancel_vote(desk: &Desk, tx: &mut Act<'_>, ch: &Change) -> DeskResult<Vec<Outgoing>> {
    let now = tx.now;
    if store::cab::close(tx, ch.id, VoteStatus::Cancelled, now).await? {
        stop_vote_timers(tx, ch.id).await?;
    }
    refresh_vote_card(desk, tx, ch).await
}

/// The key of a vote's timers: the change id for its first round (as rows
/// were always written), `CHG-n@<opened ms>` for a vote called again, so a
/// new round's timers are new rows.
fn vote_timer_key(vote: &Vote, again: bool) -> String {
    if again {
        format!("{}@{}", vote.change, vote.opened_at.timestamp_millis())
    } else {
        vote.change.to_string()
    }
}

/// Stops the deadline and reminder timers of every round of a change's vote.
async fn stop_vote_timers(tx: &mut Act<'_>, id: ChangeId) -> DeskResult<()> {
    for kind in [TimerKind::CabClose, TimerKind::CabRemind] {
        store::timers::cancel_one(tx, kind.as_str(), &id.to_string()).await?;
        store::timers::cancel(tx, kind.as_str(), &format!("{id}@")).await?;
    }
    Ok(())
}

/// `!cab CHG-n [deadline=…]`: opens the vote and posts its card.
pub(crate) async fn call_vote(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    id: ChangeId,
    deadline: Option<TimeDelta>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let now = tx.now;
    let mut ch = super::changes::load_change(tx, id).await?;
    let Some(board) = Board::for_change(ch.change_type) else {
        return super::rejected(render::no_vote_for_standard(id));
    };
    // A vote that closed without quorum may be called again; any other is final.
    let again = match store::cab::get(tx, id).await? {
        None => false,
        Some(v) if v.status == VoteStatus::Closed(VoteOutcome::NoQuorum) && ch.state == ChangeState::CabVote => true,
        Some(v) => return super::rejected(render::vote_already(id, &v)),
    };
    let from = ch.state;
    // A new change is assessed on the way to its vote.
    let refuse = |e| DeskError::Rejected(render::invalid_change_move(id, &e));
    if from == ChangeState::New {
        ch.move_to(ChangeState::Assessment).map_err(refuse)?;
    }
    // Checked before the deadline is, so a change in the wrong state says so first.
    if !again {
        transition(ch.change_type, ch.state, ChangeState::CabVote).map_err(refuse)?;
    }
    let rules = policy.change.board(board);
    let deadline = deadline.unwrap_or(rules.rules.deadline);
    if deadline < MIN_DEADLINE || deadline > MAX_DEADLINE {
        return super::rejected(render::bad_deadline(deadline, MIN_DEADLINE, MAX_DEADLINE));
    }
    let Some(closes_at) = now.checked_add_signed(deadline) else {
        return super::rejected(render::bad_deadline(deadline, MIN_DEADLINE, MAX_DEADLINE));
    };
    if !again {
        ch.move_to(ChangeState::CabVote).map_err(refuse)?;
        store::changes::update(tx, &ch, now).await?;
    }
    let mut vote = Vote {
        change: id,
        board,
        rules: crate::domain::cab::VoteRules {
            deadline,
            ..rules.rules.clone()
        },
        expected_members: rules.expected_members,
        opened_by: actor.user,
        opened_at: now,
        closes_at,
        status: VoteStatus::Open,
        closed_at: None,
    };
    if again {
        if !store::cab::reopen(tx, &vote).await? {
            return super::rejected(render::vote_already(id, &vote));
        }
    } else {
        store::cab::open(tx, &vote).await?;
    }
    let key = vote_timer_key(&vote, again);
    store::timers::schedule(tx, TimerKind::CabClose.as_str(), &key, &id.to_string(), closes_at, "{}").await?;
    // The members who have not voted are reminded at `remind_at` of the deadline.
    let remind_after = TimeDelta::milliseconds((deadline.num_milliseconds() as f64 * rules.remind_at) as i64);
    if let Some(remind) = now.checked_add_signed(remind_after).filter(|at| *at < closes_at) {
        store::timers::schedule(tx, TimerKind::CabRemind.as_str(), &key, &id.to_string(), remind, "{}").await?;
    }

    let clashes = super::changes::clashes(desk, tx, &ch).await?;
    let card = vote_card(desk, tx, &ch, &vote, true).await?;
    // A vote called again gets a new card (and reactions): the old one stays closed.
    let card = if again {
        Outgoing::card_moved(id.to_string(), card.destination, card.message)
    } else {
        card
    };
    let mut out = vec![card];
    let view = vote_view(tx, &ch, &vote).await?;
    let reply = render::vote_opened(policy, &ch, &view, &clashes);
    let eligible = view.eligible;
    let route = super::changes::change_route(desk, Action::CabVote, &ch);
    let card_channel = policy
        .role(&board_role(&vote))
        .map(|r| r.channel.clone())
        .unwrap_or_default();
    let mut covered = vec![card_channel];
    out.extend(super::changes::change_messages(
        desk,
        &route,
        Action::CabVote,
        &ch,
        reply.clone(),
        false,
        &mut covered,
    ));
    let details = render::history::vote_called(
        board,
        vote.rules.required_quorum(eligible),
        eligible,
        vote.rules.threshold,
        closes_at,
    );
    tx.record(Some(actor.user), Action::CabVote, &id.to_string(), details, &out);
    // With no member who could vote, the outcome is already certain.
    let ballots = Ballots::new();
    if let Evaluation::Closed(outcome) = evaluate(ballots.tally(), eligible, &vote.rules, now, closes_at) {
        close_vote(desk, tx, &mut ch, &mut vote, &ballots, outcome, None).await?;
    }
    Ok(Reply::public(reply))
}

/// Claims a ✅ ❌ ➖ reaction's identity by reaction state (see the module
/// documentation). `Some(outcome)` when there is nothing to do: not a vote
/// card (no desk reaction), or a replay of the state already recorded.
pub(crate) async fn claim_ballot(
    desk: &Desk,
    conn: &mut Conn,
    inbound: &Inbound,
    message_id: &str,
    emoji: &str,
    added: bool,
    now: DateTime<Utc>,
) -> DeskResult<Option<Outcome>> {
    let actor = &inbound.actor;
    let Some(id) = store::cards::by_message(conn, message_id)
        .await?
        .filter(|c| c.message_id == message_id)
        .and_then(|c| ChangeId::parse(&c.subject))
    else {
        return Ok(Some(Outcome::Ignored));
    };
    if store::cab::get(conn, id).await?.is_none() {
        return Ok(Some(Outcome::Ignored));
    }
    let Some(generation) = store::reactions::flip(conn, message_id, actor.user, emoji, added).await? else {
        return Ok(Some(Outcome::Duplicate));
    };
    let key = format!(
        "reaction:{message_id}:{}:{emoji}:{generation}:{}",
        actor.user,
        if added { "add" } else { "remove" }
    );
    let claimed = Inbound { key, ..inbound.clone() };
    desk.claim_on(conn, &claimed, now).await?;
    Ok(None)
}

/// A ballot cast or withdrawn by reaction on the vote card `message_id`,
/// its identity already claimed ([`claim_ballot`]).
pub(crate) async fn vote_reaction(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    message_id: &str,
    choice: Choice,
    added: bool,
) -> DeskResult<Outcome> {
    let card = store::cards::by_message(tx, message_id).await?;
    let Some(id) = card.and_then(|c| ChangeId::parse(&c.subject)) else {
        return Ok(Outcome::Ignored);
    };
    let (Some(mut vote), Some(mut ch)) = (store::cab::get(tx, id).await?, store::changes::get(tx, id).await?) else {
        return Ok(Outcome::Ignored);
    };
    ballot(desk, tx, actor, &mut ch, &mut vote, message_id, choice, added).await
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn ballot(
    desk: &Desk,
    tx: &mut Act<'_>,
    actor: &Actor,
    ch: &mut Change,
    vote: &mut Vote,
    message_id: &str,
    choice: Choice,
    added: bool,
) -> DeskResult<Outcome> {
    let now = tx.now;
    if vote.status != VoteStatus::Open {
        // After closing, reactions change nothing; a new one is taken back.
        return if added {
            Err(DeskError::RejectedReaction(render::vote_is_closed(ch, vote.status)))
        } else {
            Ok(Outcome::Ignored)
        };
    }
    let mut ballots = store::cab::ballots(tx, ch.id).await?;
    let mut reply_extra = Vec::new();
    let details;
    let switched_from;
    if added {
        eligibility(actor.user, &actor.roles, &vote.rules, ch.requester, ch.implementer)
            .map_err(|e| DeskError::RejectedReaction(render::vote_ineligible(ch, &e)))?;
        match ballots.cast(actor.user, choice) {
            CastOutcome::Unchanged => return Ok(Outcome::Ignored),
            CastOutcome::New => {
                switched_from = None;
                details = render::history::voted(choice);
            }
            CastOutcome::Switched { from } => {
                switched_from = Some(from);
                details = render::history::switched_vote(from, choice);
                // One ballot each: the old reaction is taken back, and recorded gone.
                store::reactions::flip(tx, message_id, actor.user, from.emoji(), false).await?;
                reply_extra.push(from.emoji().to_owned());
            }
        }
        store::cab::put_ballot(tx, ch.id, actor.user, choice, now).await?;
    } else {
        if !ballots.withdraw(actor.user, choice) {
            // Not this voter's current ballot (an ignored or old reaction).
            return Ok(Outcome::Ignored);
        }
        switched_from = None;
        details = render::history::withdrew_vote(choice);
        store::cab::remove_ballot(tx, ch.id, actor.user).await?;
    }
    let eligible = eligible_members(tx, ch, vote).await?;
    let evaluation = evaluate(ballots.tally(), eligible, &vote.rules, now, vote.closes_at);
    // A ballot that settles the vote is shown by the closing edit alone.
    let out = match evaluation {
        Evaluation::Open => vec![vote_card(desk, tx, ch, vote, false).await?],
        Evaluation::Closed(_) => Vec::new(),
    };
    tx.record(
        Some(actor.user),
        AuditAction::CabBallot,
        &ch.id.to_string(),
        details,
        &out,
    );
    if let Evaluation::Closed(outcome) = evaluation {
        close_vote(desk, tx, ch, vote, &ballots, outcome, None).await?;
    }
    let view = view_of(tx, ch, vote, &ballots).await?;
    let text = if added {
        render::ballot_counted(ch, choice, switched_from, &view)
    } else {
        render::ballot_withdrawn(ch, &view)
    };
    let mut reply = Reply::private(text);
    reply.remove_reactions = reply_extra;
    Ok(Outcome::Reply(reply))
}

/// Closes an open vote with its outcome: stores it, stops the deadline
/// timer, edits the card, tells the chair (and, by config, authorizes a
/// passed low-risk normal change).
pub(crate) async fn close_vote(
    desk: &Desk,
    tx: &mut Act<'_>,
    ch: &mut Change,
    vote: &mut Vote,
    ballots: &Ballots,
    outcome: VoteOutcome,
    late: Option<TimeDelta>,
) -> DeskResult<()> {
    let policy = desk.policy();
    let now = tx.now;
    if !store::cab::close(tx, ch.id, VoteStatus::Closed(outcome), now).await? {
        return Ok(());
    }
    vote.status = VoteStatus::Closed(outcome);
    vote.closed_at = Some(now);
    stop_vote_timers(tx, ch.id).await?;
    let clashes = super::changes::clashes(desk, tx, ch).await?;
    let auto = policy.change.auto_authorize_low_risk
        && outcome.is_approved()
        && ch.change_type == ChangeType::Normal
        && ch.risk == Risk::Low
        && transition(ch.change_type, ch.state, ChangeState::Authorized).is_ok();
    let view = view_of(tx, ch, vote, ballots).await?;
    let tally = view.tally;
    let eligible = view.eligible;
    drop(view);
    let mut out = Vec::new();
    let route = super::changes::change_route(desk, Action::CabVote, ch);
    if auto {
        ch.move_to(ChangeState::Authorized)
            .map_err(|e| DeskError::Rejected(render::invalid_change_move(ch.id, &e)))?;
        out.extend(super::changes::apply_decision(desk, tx, ch, Action::ChangeAuthorize, "config").await?);
        tx.record(
            None,
            Action::ChangeAuthorize,
            &ch.id.to_string(),
            render::history::change_auto_authorized(),
            &[],
        );
    } else {
        out.extend(refresh_vote_card(desk, tx, ch).await?);
    }
    let view = view_of(tx, ch, vote, ballots).await?;
    let mut text = render::vote_closed_notice(policy, ch, &view, &clashes, late);
    if auto {
        text = format!("{text} {}", render::change_auto_authorized(ch));
    }
    // The chair must now decide: ping them in their channel.
    // The board's channel gets the card's edit: no FYI there.
    let mut covered: Vec<String> = policy
        .role(&board_role(vote))
        .map(|r| r.channel.clone())
        .into_iter()
        .collect();
    let board_channel = covered.first().cloned();
    let routed = super::changes::change_messages(desk, &route, Action::CabVote, ch, text.clone(), !auto, &mut covered);
    let said_on_board = routed.iter().any(|o| match &o.destination {
        Destination::RoleChannel(r) => policy.role(r).map(|d| Some(&d.channel) == board_channel.as_ref()) == Some(true),
        _ => false,
    });
    out.extend(routed);
    // A vote that found no quorum is said in the board's channel too, not
    // only edited into its card: the members are who failed to turn up
    // (once: where the chair's channel is the board's, that post says it).
    if outcome == VoteOutcome::NoQuorum && !said_on_board {
        out.push(
            Outgoing::post(
                Destination::RoleChannel(board_role(vote)),
                OutMessage::text(text.clone()),
            )
            .about(ch.id.to_string()),
        );
    }
    // The requester and implementer hear the outcome (and any authorization).
    out.extend(super::changes::people_notices(ch, &text, None));
    let details = render::history::vote_closed(outcome, &tally, eligible, late);
    tx.record(None, AuditAction::CabClose, &ch.id.to_string(), details, &out);
    tracing::info!(change = %ch.id, %outcome, "CAB vote closed");
    Ok(())
}

/// The `cab_close` timer: the vote's deadline has come, even if the bot
/// was down when it did.
pub(crate) async fn vote_deadline(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(id) = ChangeId::parse(&firing.timer.subject) else {
        tracing::warn!(subject = %firing.timer.subject, "vote deadline for something that is not a change");
        return Ok(());
    };
    let (Some(mut vote), Some(mut ch)) = (store::cab::get(tx, id).await?, store::changes::get(tx, id).await?) else {
        return Ok(());
    };
    // A timer of an earlier round (before a vote called again) is stale.
    if vote.status != VoteStatus::Open || firing.timer.due_at < vote.closes_at {
        return Ok(());
    }
    let ballots = store::cab::ballots(tx, id).await?;
    let eligible = eligible_members(tx, &ch, &vote).await?;
    let at = tx.now.max(vote.closes_at);
    let outcome = match evaluate(ballots.tally(), eligible, &vote.rules, at, vote.closes_at) {
        Evaluation::Closed(o) => o,
        // Unreachable at or after the deadline; no quorum is the safe reading.
        Evaluation::Open => VoteOutcome::NoQuorum,
    };
    close_vote(desk, tx, &mut ch, &mut vote, &ballots, outcome, firing.late_by).await
}

/// The `cab_remind` timer: at `remind_at` of the deadline the members seen
/// holding an eligible role who have not voted are pinged in the board's
/// channel (the requester and implementer may not vote, so are not asked).
pub(crate) async fn vote_reminder(_desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(id) = ChangeId::parse(&firing.timer.subject) else {
        tracing::warn!(subject = %firing.timer.subject, "vote reminder for something that is not a change");
        return Ok(());
    };
    let (Some(vote), Some(ch)) = (store::cab::get(tx, id).await?, store::changes::get(tx, id).await?) else {
        return Ok(());
    };
    if vote.status != VoteStatus::Open || firing.timer.due_at < vote.opened_at {
        return Ok(());
    }
    let mut except = vec![ch.requester];
    except.extend(ch.implementer);
    let pending = store::cab::pending_voters(tx, &vote, &except).await?;
    if pending.is_empty() {
        return Ok(());
    }
    let text = render::vote_reminder(&ch, &vote);
    let out = vec![Outgoing::post(
        Destination::RoleChannel(board_role(&vote)),
        OutMessage::text(text).pinging_users(pending.iter().copied()),
    )
    .about(id.to_string())];
    tx.record(
        None,
        AuditAction::CabRemind,
        &id.to_string(),
        render::history::vote_reminded(pending.len()),
        &out,
    );
    Ok(())
}

/// The role whose channel holds the vote card and whose members it pings:
/// the board's first eligible role.
fn board_role(vote: &Vote) -> crate::domain::RoleKey {
    vote.rules
        .eligible_roles
        .first()
        .cloned()
        .unwrap_or_else(|| crate::domain::RoleKey::parse("cab").expect("constant is a valid key"))
}
