//! Sentences about CAB votes: the vote message and its card, ballots counted
//! and withdrawn, the closing notice, and the refusals of votes and reactions.
//!
//! The vote, window and clash wording shared with change requests comes from
//! the parent module.

use chrono::TimeDelta;

use crate::config::Policy;
use crate::domain::cab::{Choice, Ineligible, Outcome as VoteOutcome, Vote, VoteStatus};
use crate::domain::change::{Change, ChangeId, ChangeState};
use crate::message::{Card, Tone};

use super::{
    board_name, clash_warning, human, neutralize, outcome_text, service_name, status_text, tally_text, time, truncate,
    voters_text, window_text, with_warning, ChangeNames, Clashes, VoteView,
};

fn rules_text(policy: &Policy, v: &VoteView<'_>) -> String {
    let roles: Vec<String> = v
        .vote
        .rules
        .eligible_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "{} members ({}) may vote, not the requester or implementer · quorum {} of {} ballots (abstentions count) · passes at {}% approve of approve + reject",
        board_name(v.vote.board),
        roles.join(", "),
        v.vote.rules.required_quorum(v.eligible),
        v.eligible,
        (v.vote.rules.threshold * 100.0).round()
    )
}

/// The vote message's text: the line above the embed.
pub fn vote_text(ch: &Change, v: &VoteView<'_>) -> String {
    let board = board_name(v.vote.board);
    match v.vote.status {
        VoteStatus::Open => format!(
            "{board} vote on {}: {} — react {} approve, {} reject, {} abstain.",
            ch.id,
            neutralize(&truncate(&ch.title, 200)),
            Choice::Approve.emoji(),
            Choice::Reject.emoji(),
            Choice::Abstain.emoji()
        ),
        status => format!(
            "{board} vote on {} {} — {}. The change is {}; the vote is closed and takes no more ballots.",
            ch.id,
            status_text(status),
            neutralize(&truncate(&ch.title, 200)),
            ch.state.predicate()
        ),
    }
}

/// The vote embed: the change, the rules, the count and who voted.
pub fn vote_card(policy: &Policy, ch: &Change, names: &ChangeNames, v: &VoteView<'_>, clashes: &Clashes) -> Card {
    let tone = match (v.vote.status, ch.state) {
        (_, ChangeState::Cancelled | ChangeState::Rejected) => Tone::P2,
        (VoteStatus::Open, _) => Tone::P4,
        (VoteStatus::Closed(VoteOutcome::Approved), _) => Tone::Done,
        _ => Tone::P2,
    };
    let mut fields = vec![
        ("Change".to_owned(), format!("{} · risk {}", ch.change_type, ch.risk)),
        ("Service".to_owned(), service_name(policy, &ch.service)),
        ("Window".to_owned(), window_text(ch.window.as_ref())),
        ("Requester".to_owned(), neutralize(&names.requester)),
        (
            "Implementer".to_owned(),
            names
                .implementer
                .as_deref()
                .map(neutralize)
                .unwrap_or_else(|| "—".into()),
        ),
        ("Rules".to_owned(), rules_text(policy, v)),
        ("Tally".to_owned(), tally_text(&v.tally)),
        ("Voters".to_owned(), voters_text(&v.voters)),
        ("Vote".to_owned(), status_text(v.vote.status)),
        ("State".to_owned(), ch.state.to_string()),
    ];
    if !clashes.is_empty() {
        fields.push(("Conflicts".to_owned(), clash_warning(clashes)));
    }
    if let Some(r) = &ch.reason {
        fields.push(("Reason".to_owned(), neutralize(&truncate(r, 500))));
    }
    let time = match (v.vote.status, v.vote.closed_at) {
        (VoteStatus::Open, _) | (_, None) => ("Closes".to_owned(), v.vote.closes_at.timestamp()),
        (_, Some(at)) => ("Closed".to_owned(), at.timestamp()),
    };
    Card {
        title: format!("{} · {}", ch.id, neutralize(&truncate(&ch.title, 200))),
        tone,
        fields,
        times: vec![time],
        footer: Some(match v.vote.status {
            VoteStatus::Open => "A recommendation to the change authority. One ballot each: change your reaction to change it, remove it to withdraw.".to_owned(),
            status => format!("This vote is {}: reactions no longer count.", status_text(status)),
        }),
    }
}

pub fn vote_opened(policy: &Policy, ch: &Change, v: &VoteView<'_>, clashes: &Clashes) -> String {
    with_warning(
        format!(
            "{} vote on {} is open until {} ({}).",
            board_name(v.vote.board),
            ch.id,
            time(v.vote.closes_at),
            rules_text(policy, v)
        ),
        clashes,
    )
}

pub fn vote_closed_notice(
    policy: &Policy,
    ch: &Change,
    v: &VoteView<'_>,
    clashes: &Clashes,
    late: Option<TimeDelta>,
) -> String {
    let VoteStatus::Closed(outcome) = v.vote.status else {
        return format!(
            "{} vote on {} {}.",
            board_name(v.vote.board),
            ch.id,
            status_text(v.vote.status)
        );
    };
    let late = late
        .map(|d| format!(" (closed {} late: the bot was not running at the deadline)", human(d)))
        .unwrap_or_default();
    let next = if ch.state == ChangeState::CabVote && outcome == VoteOutcome::NoQuorum {
        format!(
            " `{p}cab {id}` calls the vote again, or `{p}reject {id} <reason>`.",
            p = policy.prefix,
            id = ch.id
        )
    } else if ch.state == ChangeState::CabVote {
        format!(
            " It is a recommendation: `{p}authorize {id}` or `{p}reject {id} <reason>`.",
            p = policy.prefix,
            id = ch.id
        )
    } else {
        format!(" {} is now {}.", ch.id, ch.state.predicate())
    };
    with_warning(
        format!(
            "{} vote on {} closed: {}{late}. {} (quorum {} of {}). Voters: {}.{next}",
            board_name(v.vote.board),
            ch.id,
            outcome_text(outcome),
            tally_text(&v.tally),
            v.vote.rules.required_quorum(v.eligible),
            v.eligible,
            voters_text(&v.voters)
        ),
        clashes,
    )
}

pub fn ballot_counted(ch: &Change, choice: Choice, switched_from: Option<Choice>, v: &VoteView<'_>) -> String {
    let what = match switched_from {
        Some(from) => format!("changed from {from} to {choice}"),
        None => format!("counted: {choice}"),
    };
    let closed = match v.vote.status {
        VoteStatus::Closed(o) => format!(" The vote is now closed: {}.", outcome_text(o)),
        _ => String::new(),
    };
    format!("Your ballot on {} is {what} ({}).{closed}", ch.id, tally_text(&v.tally))
}

pub fn ballot_withdrawn(ch: &Change, v: &VoteView<'_>) -> String {
    format!("Your ballot on {} is withdrawn ({}).", ch.id, tally_text(&v.tally))
}

pub fn vote_is_closed(ch: &Change, status: VoteStatus) -> String {
    format!(
        "The vote on {} is {}; reactions no longer count. Your reaction was removed.",
        ch.id,
        status_text(status)
    )
}

pub fn vote_ineligible(ch: &Change, e: &Ineligible) -> String {
    format!("Your reaction on {} was removed: {e}.", ch.id)
}

pub fn vote_already(id: ChangeId, vote: &Vote) -> String {
    match vote.status {
        VoteStatus::Open => format!(
            "{id} has a vote open until {}: one vote at a time; it closes by itself.",
            time(vote.closes_at)
        ),
        status => format!(
            "{id} already had its vote ({}); only a vote that closed without quorum may be called again.",
            status_text(status)
        ),
    }
}

/// The reminder before a vote's deadline, to members who have not voted.
pub fn vote_reminder(ch: &Change, vote: &Vote) -> String {
    format!(
        "Reminder: the {} vote on {} ({}) closes {} and you have not voted yet. React ✅ ❌ ➖ on its card.",
        board_name(vote.board),
        ch.id,
        neutralize(&truncate(&ch.title, 200)),
        time(vote.closes_at)
    )
}

pub fn bad_deadline(given: TimeDelta, min: TimeDelta, max: TimeDelta) -> String {
    format!(
        "A vote deadline of {} is out of range: give between {} and {}.",
        human(given),
        human(min),
        human(max)
    )
}

pub fn change_auto_authorized(ch: &Change) -> String {
    format!(
        "{} is a low-risk normal change and its vote passed, so it is authorized by config (change.auto_authorize_low_risk); it is now {}.",
        ch.id,
        ch.state.predicate()
    )
}
