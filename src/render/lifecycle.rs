//! Sentences of an incident's working day beyond logging it: refused moves
//! that name the command which gets there, holds and what they wait for,
//! cancelling, corrections (`!edit`), links between incidents and to
//! outages, and the thread notes that tell the people working it that the
//! reporter spoke.
//!
//! Shared helpers come from the parent module.

use crate::config::Policy;
use crate::domain::incident::{HoldReason, Incident, IncidentId, InvalidTransition, LinkKind, State};
use crate::domain::outage::Outage;

use super::{neutralize, role_label, truncate};

/// The command that makes a move, as the user types it.
fn command_for(prefix: &str, id: IncidentId, to: State) -> String {
    match to {
        State::New => format!("{prefix}incident"),
        State::Assigned => format!("{prefix}take {id}"),
        State::InProgress => format!("{prefix}status {id} in_progress"),
        State::OnHold => format!("{prefix}status {id} on_hold awaiting_caller <why>"),
        State::Resolved => format!("{prefix}resolve {id} <resolution>"),
        State::Closed => format!("{prefix}close {id}"),
        State::Cancelled => format!("{prefix}cancel {id} <reason>"),
    }
}

/// What a move is called when it is offered: `take it with !take INC-1`.
fn offer(prefix: &str, id: IncidentId, from: State, to: State) -> String {
    let verb = match (from, to) {
        (State::Resolved, State::InProgress) => return format!("reopen it with `{prefix}reopen {id} <why>`"),
        (_, State::Assigned) => "take it",
        (_, State::InProgress) => "start work",
        (_, State::OnHold) => "put it on hold",
        (_, State::Resolved) => "resolve it",
        (_, State::Closed) => "close it",
        (_, State::Cancelled) => "cancel it",
        (_, State::New) => "log a new one",
    };
    format!("{verb} with `{}`", command_for(prefix, id, to))
}

fn joined(items: Vec<String>) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// A refused lifecycle move, naming the command that gets there: a move one
/// step away says which step comes first (`INC-1 is new: take it first with
/// !take INC-1`); otherwise the moves that are possible now.
pub fn invalid_move(prefix: &str, id: IncidentId, e: &InvalidTransition) -> String {
    let from = e.from;
    if from.is_final() {
        return format!(
            "{id} is {}: nothing more changes it. If the problem is back, log a new incident with `{prefix}incident <title>`.",
            from.words()
        );
    }
    let via = from
        .allowed_next()
        .iter()
        .copied()
        .find(|step| step.allowed_next().contains(&e.to) && *step != State::Cancelled);
    if let Some(step) = via {
        return format!(
            "{id} is {}: {} first, then {}.",
            from.words(),
            offer(prefix, id, from, step),
            offer(prefix, id, step, e.to)
        );
    }
    let now: Vec<String> = from
        .allowed_next()
        .iter()
        .map(|to| offer(prefix, id, from, *to))
        .collect();
    format!(
        "{id} is {} and cannot become {}: {}.",
        from.words(),
        e.to.words(),
        joined(now)
    )
}

/// `!take` of an incident the actor already holds: nothing is posted.
pub fn already_yours(inc: &Incident) -> String {
    format!("You already hold {} ({}).", inc.id, inc.state.words())
}

/// `!assign` to the person who already holds it.
pub fn already_assigned(inc: &Incident, assignee: &str) -> String {
    format!("{} is already assigned to {}.", inc.id, neutralize(assignee))
}

pub fn held(inc: &Incident, by: &str, reason: HoldReason, text: Option<&str>) -> String {
    let mut s = format!("{} put {} on hold, {}", neutralize(by), inc.id, reason.words());
    if let Some(t) = text {
        s.push_str(&format!(": {}", neutralize(t)));
    }
    s.push_str(". The resolution clock is paused");
    if reason == HoldReason::AwaitingCaller {
        s.push_str("; a note from the reporter resumes it");
    }
    s.push('.');
    s
}

pub fn say_what_it_waits_for(prefix: &str, id: IncidentId) -> String {
    format!(
        "Say what {id} waits for: `{prefix}status {id} on_hold <awaiting_caller|awaiting_change|awaiting_problem|awaiting_vendor> <why>`."
    )
}

/// The thread note when the reporter's note resumes an incident awaiting them.
pub fn resumed_by_caller(inc: &Incident, reporter: &str) -> String {
    format!(
        "{} replied, so {} is back in progress (the resolution clock runs again).",
        neutralize(reporter),
        inc.id
    )
}

/// `!cancel` of an incident that is no longer open.
pub fn cannot_cancel(prefix: &str, inc: &Incident) -> String {
    match inc.state {
        State::Resolved => format!(
            "{} is already resolved: close it with `{prefix}close {}` or reopen it with `{prefix}reopen {}`.",
            inc.id, inc.id, inc.id
        ),
        _ => format!("{} is {}: there is nothing to cancel.", inc.id, inc.state.words()),
    }
}

pub fn cancelled(inc: &Incident, by: &str, reason: &str) -> String {
    format!(
        "{} cancelled {}: {}. It ends without an SLA result.",
        neutralize(by),
        inc.id,
        neutralize(reason)
    )
}

pub fn cancelled_reply(inc: &Incident) -> String {
    format!("{} is cancelled; its SLA clocks are stopped and not counted.", inc.id)
}

/// One corrected field: `service Email → VPN`.
pub struct Correction {
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

fn corrections(list: &[Correction]) -> String {
    joined(
        list.iter()
            .map(|c| {
                format!(
                    "{} “{}” → “{}”",
                    c.field,
                    neutralize(&truncate(&c.from, 80)),
                    neutralize(&truncate(&c.to, 80))
                )
            })
            .collect(),
    )
    .replace(" or ", " and ")
}

pub fn edited(policy: &Policy, inc: &Incident, by: &str, list: &[Correction], rerouted: bool) -> String {
    let mut s = format!("{} corrected {}: {}.", neutralize(by), inc.id, corrections(list));
    if rerouted {
        s.push_str(&format!(
            " It is now handled by {}.",
            role_label(policy, &inc.handler_role)
        ));
    }
    s
}

pub fn edited_reply(policy: &Policy, inc: &Incident, list: &[Correction], rerouted: bool) -> String {
    let mut s = format!("{} corrected: {}.", inc.id, corrections(list));
    if rerouted {
        s.push_str(&format!(" Handed to {}.", role_label(policy, &inc.handler_role)));
    }
    s
}

/// What the post a re-routed incident's card left behind says once the card
/// is re-posted in the new group's channel.
pub fn card_handed_over(policy: &Policy, inc: &Incident) -> String {
    let channel = policy
        .role(&inc.handler_role)
        .map(|r| format!(" — see #{}", r.channel))
        .unwrap_or_default();
    format!(
        "↪️ Handed to {}{channel}. {} ({}): {}",
        policy.role_name(&inc.handler_role),
        inc.id,
        inc.priority,
        neutralize(&truncate(&inc.title, 200))
    )
}

/// The audit phrase of a correction (completes "<actor> …").
pub fn edited_phrase(list: &[Correction]) -> String {
    format!("corrected {}", corrections(list))
}

pub fn nothing_to_edit(inc: &Incident) -> String {
    format!("{} already says that: nothing changed.", inc.id)
}

pub fn not_editable(prefix: &str, inc: &Incident) -> String {
    format!(
        "{} is {}: it can no longer be corrected (add a note with `{prefix}note {} <text>`).",
        inc.id,
        inc.state.words(),
        inc.id
    )
}

pub fn reporter_edits_only_while_new(prefix: &str, inc: &Incident) -> String {
    format!(
        "{} is {}: only those working it can correct it now. Add a note instead: `{prefix}note {} <what is wrong>`.",
        inc.id,
        inc.state.words(),
        inc.id
    )
}

pub fn link_to_itself(id: IncidentId) -> String {
    format!("{id} cannot be linked to itself.")
}

pub fn already_linked(a: IncidentId, b: IncidentId, kind: LinkKind) -> String {
    let how = match kind {
        LinkKind::Related => "related",
        LinkKind::DuplicateOf => "linked as a duplicate",
        LinkKind::ChildOf => "linked as parent and child",
    };
    format!("{a} and {b} are already {how}.")
}

pub fn linked(a: IncidentId, b: IncidentId, by: &str) -> String {
    format!("{} linked {a} and {b} as related.", neutralize(by))
}

pub fn linked_reply(a: IncidentId, b: IncidentId) -> String {
    format!("{a} and {b} are linked: each shows the other.")
}

/// A duplicate of a duplicate, or of something that ended.
pub fn duplicate_refused(dup: IncidentId, original: &Incident, root: Option<IncidentId>) -> String {
    match root {
        Some(root) => format!(
            "{} is itself a duplicate of {root}: mark {dup} a duplicate of {root}.",
            original.id
        ),
        None => format!(
            "{} is {}: a duplicate must point at an incident that is still open or resolved.",
            original.id,
            original.state.words()
        ),
    }
}

pub fn duplicate_has_followers(dup: IncidentId, kind: LinkKind, n: usize) -> String {
    let what = if kind == LinkKind::DuplicateOf {
        "duplicates"
    } else {
        "children"
    };
    format!("{dup} has {n} {what} of its own: it cannot become a duplicate (link them to the original first).")
}

/// The duplicate's thread: closed, pointing at the original.
pub fn marked_duplicate(dup: &Incident, original: &Incident, by: &str) -> String {
    format!(
        "{} closed {} as a duplicate of {} ({}). You will hear here how {} goes.",
        neutralize(by),
        dup.id,
        original.id,
        neutralize(&truncate(&original.title, 120)),
        original.id
    )
}

/// The original's thread: a duplicate joined it.
pub fn gained_duplicate(original: &Incident, dup: &Incident, reporter: &str) -> String {
    format!(
        "{} ({}, reported by {}) is a duplicate of {} and follows it.",
        dup.id,
        neutralize(&truncate(&dup.title, 120)),
        neutralize(reporter),
        original.id
    )
}

pub fn duplicate_reply(dup: IncidentId, original: IncidentId) -> String {
    format!("{dup} is closed as a duplicate of {original}; its reporter will be told of {original}'s progress.")
}

/// The resolution given to a duplicate.
pub fn duplicate_resolution(original: IncidentId) -> String {
    format!("Duplicate of {original}")
}

/// A duplicate's thread, when its original moves.
pub fn original_moved(dup: IncidentId, original: &Incident) -> String {
    let mut s = format!(
        "{} (which {dup} duplicates) is now {}",
        original.id,
        original.state.words()
    );
    if let (State::Resolved, Some(r)) = (original.state, &original.resolution) {
        s.push_str(&format!(": {}", neutralize(&truncate(r, 300))));
    }
    s.push('.');
    s
}

pub fn parent_refused_cycle(parent: IncidentId, child: IncidentId) -> String {
    format!("{child} cannot be a child of {parent}: {parent} already follows {child}, and a parent cannot follow its own child.")
}

pub fn parent_is_a_child(parent: IncidentId, of: IncidentId) -> String {
    format!("{parent} is itself a child of {of}: make them children of {of} instead (one level of parents).")
}

pub fn child_has_children(child: IncidentId) -> String {
    format!("{child} has children of its own: it cannot become a child (one level of parents).")
}

pub fn child_already_follows(child: IncidentId, other: IncidentId, kind: LinkKind) -> String {
    let how = if kind == LinkKind::DuplicateOf {
        "a duplicate"
    } else {
        "a child"
    };
    format!("{child} is already {how} of {other}.")
}

pub fn child_not_open(child: &Incident) -> String {
    format!(
        "{} is {}: only open incidents can follow a parent.",
        child.id,
        child.state.words()
    )
}

pub fn parented(parent: &Incident, children: &[IncidentId], by: &str) -> String {
    let list: Vec<String> = children.iter().map(ToString::to_string).collect();
    format!(
        "{} made {} the parent of {}: resolving {} resolves them.",
        neutralize(by),
        parent.id,
        list.join(", "),
        parent.id
    )
}

/// A child's thread: it follows its parent now.
pub fn follows_parent(child: IncidentId, parent: &Incident) -> String {
    format!(
        "{child} now follows {} ({}): it is resolved when {} is.",
        parent.id,
        neutralize(&truncate(&parent.title, 120)),
        parent.id
    )
}

pub fn parent_reply(parent: IncidentId, children: &[IncidentId]) -> String {
    let list: Vec<String> = children.iter().map(ToString::to_string).collect();
    format!("{} now follow {parent}.", list.join(", "))
}

/// The resolution a child gets from its parent.
pub fn resolved_with_parent(parent: IncidentId, resolution: &str) -> String {
    format!("Resolved with {parent}: {resolution}")
}

/// The links shown on `!show`.
pub fn links_line(links: &[(IncidentId, LinkKind, bool, State)]) -> String {
    let mut related = Vec::new();
    let mut parts = Vec::new();
    let mut duplicates = Vec::new();
    let mut children = Vec::new();
    for (other, kind, outgoing, state) in links {
        let item = format!("{other} ({})", state.words());
        match (kind, outgoing) {
            (LinkKind::Related, _) => related.push(item),
            (LinkKind::DuplicateOf, true) => parts.push(format!("Duplicate of {item}")),
            (LinkKind::DuplicateOf, false) => duplicates.push(item),
            (LinkKind::ChildOf, true) => parts.push(format!("Child of {item}")),
            (LinkKind::ChildOf, false) => children.push(item),
        }
    }
    for (label, list) in [("Related", related), ("Duplicates", duplicates), ("Children", children)] {
        if !list.is_empty() {
            parts.push(format!("{label}: {}", list.join(", ")));
        }
    }
    parts.join(" · ")
}

pub fn already_linked_to_outage(id: IncidentId, outage: crate::domain::outage::OutageId) -> String {
    format!("{id} is already linked to {outage}.")
}

pub fn outage_over(o: &Outage) -> String {
    format!("{} is over: link incidents only to an outage that is still on.", o.id)
}

pub fn outage_linked_reply(o: &Outage, id: IncidentId) -> String {
    format!("{id} is linked to {}; it is settled when the outage is resolved.", o.id)
}

/// The declaration reply's tail: the open incidents it linked.
pub fn outage_linked_existing(ids: &[IncidentId], window: &str) -> String {
    let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!(
        " Linked {} open incident{} of the service logged in the last {window}: {}.",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

/// A reporter's note pinging those who work the incident.
pub fn reporter_note(inc: &Incident, reporter: &str, body: &str) -> String {
    format!(
        "{} (the reporter) added a note to {}: {}",
        neutralize(reporter),
        inc.id,
        neutralize(body)
    )
}

/// A reporter reopened it (👎 or `!reopen`): those working it are pinged.
pub fn reopened_by_reporter(inc: &Incident, reporter: &str, reason: Option<&str>) -> String {
    let mut s = format!("{} (the reporter) reopened {}", neutralize(reporter), inc.id);
    if let Some(r) = reason {
        s.push_str(&format!(": {}", neutralize(r)));
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> IncidentId {
        IncidentId::from_row(n)
    }

    #[test]
    fn a_refused_move_names_the_command_that_gets_there() {
        let e = State::New.transition(State::InProgress).unwrap_err();
        assert_eq!(
            invalid_move("!", id(1), &e),
            "INC-1 is new: take it with `!take INC-1` first, then start work with `!status INC-1 in_progress`."
        );
        let e = State::InProgress.transition(State::Closed).unwrap_err();
        assert_eq!(
            invalid_move("!", id(2), &e),
            "INC-2 is in progress: resolve it with `!resolve INC-2 <resolution>` first, then close it with `!close INC-2`."
        );
        let e = State::Closed.transition(State::InProgress).unwrap_err();
        assert!(invalid_move("!", id(3), &e).starts_with("INC-3 is closed: nothing more changes it."));
        let e = State::Resolved.transition(State::OnHold).unwrap_err();
        assert_eq!(
            invalid_move("!", id(4), &e),
            "INC-4 is resolved: reopen it with `!reopen INC-4 <why>` first, then put it on hold with \
             `!status INC-4 on_hold awaiting_caller <why>`."
        );
    }
}
