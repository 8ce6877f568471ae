//! Sentences about change requests: filing one, moving and deciding it, the
//! change list and `!show CHG-n`, planned-outage notices, and the refusals of
//! change commands.
//!
//! The vote text that `!show` shares with CAB votes, and the window and clash
//! wording, come from the parent module.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Policy;

use crate::domain::change::{
    article, Change, ChangeId, ChangeState, ImplementerRefused, ParseWindowError, ReviewRefused,
};
use crate::domain::raci::Action;
use crate::domain::RoleKey;

use super::{
    board_name, capitalize, human, neutralize, push_history, role_label, service_name, status_text, tally_text, time,
    truncate, voters_text, window_text, with_warning, ChangeNames, Clashes, Trail, VoteView,
};

pub fn change_filed(policy: &Policy, ch: &Change, handler: &RoleKey, clashes: &Clashes) -> String {
    let next = if ch.change_type.is_pre_approved() {
        format!("It is a pre-approved standard change, so it is {} now.", ch.state)
    } else {
        format!(
            "The change manager calls the vote with `{}cab {}`.",
            policy.prefix, ch.id
        )
    };
    with_warning(
        format!(
            "{} filed: {} change to {}, risk {}, {}. Reviewed by {}. {next}",
            ch.id,
            ch.change_type,
            service_name(policy, &ch.service),
            ch.risk,
            window_text(ch.window.as_ref()),
            role_label(policy, handler)
        ),
        clashes,
    )
}

pub fn change_request_notice(policy: &Policy, ch: &Change, requester: &str, clashes: &Clashes) -> String {
    let next = if ch.change_type.is_pre_approved() {
        "Pre-approved standard change: scheduled.".to_owned()
    } else {
        format!("Next: `{}cab {}`.", policy.prefix, ch.id)
    };
    with_warning(
        format!(
            "New {} change {} by {} on {} (risk {}, {}): {}. {next}",
            ch.change_type,
            ch.id,
            neutralize(requester),
            service_name(policy, &ch.service),
            ch.risk,
            window_text(ch.window.as_ref()),
            neutralize(&truncate(&ch.title, 200))
        ),
        clashes,
    )
}

pub fn change_fyi(policy: &Policy, action: Action, ch: &Change, what: &str) -> String {
    format!(
        "FYI ({action}): {} on {} — {} ({what}).",
        ch.id,
        service_name(policy, &ch.service),
        neutralize(&truncate(&ch.title, 200))
    )
}

pub fn not_requester(policy: &Policy) -> String {
    let roles: Vec<String> = policy
        .change
        .requester_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!("Filing a change needs one of these roles: {}.", roles.join(", "))
}

pub fn bad_window(prefix: &str, e: &ParseWindowError) -> String {
    format!(
        "{}. Write it as `window=2030-06-01T22:00..2030-06-02T01:00` (UTC, no spaces), e.g. `{prefix}change <title> … window=…`.",
        capitalize(&neutralize(&e.to_string()))
    )
}

pub fn not_in_catalogue(policy: &Policy, title: &str, service: &str) -> String {
    let entries: Vec<String> = policy
        .change
        .standard
        .values()
        .map(|s| {
            if s.services.is_empty() {
                format!("`{}`", s.name)
            } else {
                format!("`{}` ({})", s.name, s.services.join(", "))
            }
        })
        .collect();
    format!(
        "`{}` on {} is not in the standard change catalogue, so it is not pre-approved: file it as type=normal. Catalogue: {}.",
        neutralize(&truncate(title, 60)),
        neutralize(service),
        if entries.is_empty() { "empty".to_owned() } else { entries.join(", ") }
    )
}

pub fn standard_not_low_risk() -> String {
    "A standard change is pre-approved only at risk=low; file a riskier one as type=normal.".to_owned()
}

pub fn unknown_change(id: ChangeId) -> String {
    format!("{id} does not exist.")
}

pub fn change_move_not_here(prefix: &str, id: ChangeId, to: ChangeState) -> String {
    let how = match to {
        ChangeState::CabVote => format!("`{prefix}cab {id}`"),
        ChangeState::Authorized => format!("`{prefix}authorize {id}`"),
        ChangeState::Rejected => format!("`{prefix}reject {id} <reason>`"),
        ChangeState::Cancelled => format!("`{prefix}change cancel {id} [reason]`"),
        ChangeState::New => "nothing: a change never goes back to new".to_owned(),
        _ => format!("`{prefix}change status {id} {to}`"),
    };
    format!("To move {id} to {to}, use {how}.")
}

pub fn change_move_not_allowed(policy: &Policy, id: ChangeId, to: ChangeState) -> String {
    let roles: Vec<String> = policy
        .change
        .authority_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "Only the change authority ({}) may move {id} to {to}; its implementer may start it and hand it to review.",
        roles.join(", ")
    )
}

pub fn change_cancel_not_allowed(policy: &Policy, id: ChangeId) -> String {
    let roles: Vec<String> = policy
        .change
        .authority_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect();
    format!(
        "Only its requester or the change authority ({}) may cancel {id}.",
        roles.join(", ")
    )
}

pub fn schedule_needs_window(prefix: &str, id: ChangeId) -> String {
    format!("{id} has no window yet: `{prefix}change status {id} scheduled window=<start>..<end>`.")
}

pub fn window_only_when_scheduling() -> String {
    "A window can be set only when scheduling (`… scheduled window=<start>..<end>`).".to_owned()
}

pub fn change_moved(ch: &Change, by: &str, from: ChangeState, reason: Option<&str>) -> String {
    let mut s = format!("{} moved {} from {from} to {}", neutralize(by), ch.id, ch.state);
    if ch.state == ChangeState::Scheduled {
        s.push_str(&format!(" ({})", window_text(ch.window.as_ref())));
    }
    if let Some(r) = reason {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

pub fn change_done(ch: &Change, clashes: &Clashes) -> String {
    with_warning(format!("{} is now {}.", ch.id, ch.state.predicate()), clashes)
}

/// One line of a change in a list.
fn change_line(ch: &Change) -> String {
    format!(
        "{} {} {} risk {} [{}] {} — {}",
        ch.id,
        ch.state,
        ch.change_type,
        ch.risk,
        ch.service,
        neutralize(&truncate(&ch.title, 80)),
        window_text(ch.window.as_ref())
    )
}

pub fn change_list(what: &str, changes: &[Change], total: i64) -> String {
    if changes.is_empty() {
        return format!("No {what} changes.");
    }
    let mut s = if total > changes.len() as i64 {
        format!("{what} changes ({} of {total}):", changes.len())
    } else {
        format!("{what} changes ({total}):")
    };
    for ch in changes {
        s.push('\n');
        s.push_str(&change_line(ch));
    }
    s
}

pub fn vote_still_open(id: ChangeId, closes_at: DateTime<Utc>) -> String {
    format!(
        "The vote on {id} is still open (it closes at {}, or earlier once the outcome is certain); decide after it closes.",
        time(closes_at)
    )
}

pub fn vote_needed(prefix: &str, id: ChangeId) -> String {
    format!("{id} has not been voted on: call the vote first with `{prefix}cab {id}`.")
}

pub fn own_change_authority(id: ChangeId) -> String {
    format!("You requested {id}, so you cannot authorize it (segregation of duties): another change manager must.")
}

pub fn change_decided(ch: &Change, by: &str, authorized: bool) -> String {
    let verb = if authorized { "authorized" } else { "rejected" };
    let mut s = format!("{} {verb} {}", neutralize(by), ch.id);
    if ch.state == ChangeState::Scheduled {
        s.push_str(&format!("; it is scheduled for {}", window_text(ch.window.as_ref())));
    }
    if let Some(r) = ch.reason.as_deref().filter(|_| !authorized) {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

pub fn planned_outage_notice(policy: &Policy, ch: &Change, late: Option<TimeDelta>) -> String {
    let late = late
        .map(|d| format!(" (This notice is {} late: the bot was not running.)", human(d)))
        .unwrap_or_default();
    format!(
        "Planned outage: {} may be unavailable {} for an authorized change ({}: {}).{late}",
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
        ch.id,
        neutralize(&truncate(&ch.title, 200))
    )
}

pub fn change_show(
    policy: &Policy,
    ch: &Change,
    names: &ChangeNames,
    vote: Option<&VoteView<'_>>,
    history: &Trail<'_>,
) -> String {
    let mut s =
        format!(
        "**{}** · {} change · risk {} · {}\n{}\nService {} · {}\nRequester {} · implementer {}\nFiled {} · updated {}",
        ch.id,
        ch.change_type,
        ch.risk,
        ch.state,
        neutralize(&ch.title),
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
        neutralize(&names.requester),
        names.implementer.as_deref().map(neutralize).unwrap_or_else(|| "—".into()),
        time(ch.created_at),
        time(ch.updated_at),
    );
    if let Some(r) = &ch.reason {
        s.push_str(&format!("\nReason: {}", neutralize(r)));
    }
    if let Some(r) = &ch.review {
        s.push_str(&format!("\nPost-implementation review: {}", neutralize(r)));
    } else if ch.change_type == crate::domain::change::ChangeType::Emergency
        && matches!(ch.state, ChangeState::Implementing | ChangeState::Review)
    {
        s.push_str(&format!(
            "\nPost-implementation review: not written yet (`{}change review {} <text>`)",
            policy.prefix, ch.id
        ));
    }
    if let Some(v) = vote {
        s.push_str(&format!(
            "\n{} vote {}: {}; voters: {}",
            board_name(v.vote.board),
            status_text(v.vote.status),
            tally_text(&v.tally),
            voters_text(&v.voters)
        ));
    }
    push_history(&mut s, history);
    s
}

/// `!change implementer`: the reply and what the change's people are told.
pub fn implementer_set(ch: &Change, name: &str, by: &str) -> String {
    format!(
        "{} made {} the implementer of {} ({}). They may start it with `!change status {} implementing` in its window.",
        neutralize(by),
        neutralize(name),
        ch.id,
        neutralize(&truncate(&ch.title, 200)),
        ch.id
    )
}

pub fn implementer_refused(ch: &Change, why: ImplementerRefused) -> String {
    match why {
        ImplementerRefused::TooLate(state) => format!(
            "{} is {}: its implementer can be set only before work starts.",
            ch.id,
            state.predicate()
        ),
        ImplementerRefused::Requester => format!(
            "You requested {}, and config (change.requester_may_implement = false) keeps the requester and the implementer apart: name someone else.",
            ch.id
        ),
        ImplementerRefused::Already => format!("That person is already the implementer of {}.", ch.id),
    }
}

/// An unknown name for an implementer: how to name them.
pub fn unknown_implementer(name: &str) -> String {
    format!(
        "I don't know `{}`: mention them with a real @mention (type @ and pick them from the list), \
         or ask them to say something where I can see it first.",
        neutralize(&truncate(name, 40))
    )
}

pub fn review_refused(ch: &Change, why: ReviewRefused) -> String {
    match why {
        ReviewRefused::NotEmergency(kind) => format!(
            "{} is {} {kind} change: only emergency changes take a post-implementation review here; move it to review and closed with `!change status`.",
            ch.id,
            article(kind)
        ),
        ReviewRefused::NotImplemented(state) => format!(
            "{} is {}: its post-implementation review is written once it is implementing or in review.",
            ch.id,
            state.predicate()
        ),
    }
}

pub fn review_noted(ch: &Change, by: &str, text: &str) -> String {
    format!(
        "{} wrote the post-implementation review of {}: {}. It may now close: `!change status {} closed`.",
        neutralize(by),
        ch.id,
        neutralize(&truncate(text, 500)),
        ch.id
    )
}

pub fn review_needed(prefix: &str, ch: &Change) -> String {
    format!(
        "{} is an emergency change: it closes only after its post-implementation review. Write it with `{prefix}change review {} <what was done and what was learned>`.",
        ch.id, ch.id
    )
}

/// At window start, to the implementer.
pub fn window_start_prompt(policy: &Policy, ch: &Change) -> String {
    format!(
        "The window of {} on {} has started ({}). Start it with `{}change status {} implementing`.",
        ch.id,
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
        policy.prefix,
        ch.id
    )
}

/// At window end, a change still implementing: to its implementer.
pub fn window_end_review_prompt(policy: &Policy, ch: &Change) -> String {
    let review = if ch.change_type == crate::domain::change::ChangeType::Emergency {
        format!(
            " As an emergency change it also needs its post-implementation review: `{}change review {} <text>`.",
            policy.prefix, ch.id
        )
    } else {
        String::new()
    };
    format!(
        "The window of {} has ended and it is still implementing. Hand it to review with `{}change status {} review`.{review}",
        ch.id, policy.prefix, ch.id
    )
}

/// At window end, a change never started: to the change manager.
pub fn window_missed(policy: &Policy, ch: &Change) -> String {
    format!(
        "{} missed its window on {} ({}): it is still {}. Its implementer may start it late with `{}change status {} implementing`, or it is cancelled with `{}change cancel {} <reason>`.",
        ch.id,
        service_name(policy, &ch.service),
        window_text(ch.window.as_ref()),
        ch.state,
        policy.prefix,
        ch.id,
        policy.prefix,
        ch.id
    )
}

/// `!status`: a change whose window is under way.
pub fn maintenance_line(policy: &Policy, ch: &Change) -> String {
    let until = ch
        .window
        .map(|w| w.end().format("%H:%M UTC").to_string())
        .unwrap_or_default();
    format!(
        "🔧 {}: planned maintenance {} until {until}",
        service_name(policy, &ch.service),
        ch.id
    )
}

/// The `!status` board with the planned maintenance under way beneath it.
pub fn with_maintenance(board: String, maintenance: &[String]) -> String {
    if maintenance.is_empty() {
        return board;
    }
    format!("{board}\n{}", maintenance.join("\n"))
}

/// A note on a change or an outage, as posted where its people read.
pub fn record_note(subject: &str, title: &str, by: &str, body: &str) -> String {
    format!(
        "Note on {subject} ({}) by {}: {}",
        neutralize(&truncate(title, 200)),
        neutralize(by),
        neutralize(body)
    )
}

/// The reply to a note on a change or an outage: where it went.
pub fn record_note_saved(subject: &str, places: usize) -> String {
    match places {
        0 => format!("Note added to {subject} (in its history)."),
        1 => format!("Note added to {subject}; posted to 1 place its people read."),
        n => format!("Note added to {subject}; posted to {n} places its people read."),
    }
}
