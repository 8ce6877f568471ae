//! The words of the chat controls: the buttons under incident and vote
//! cards, the forms (modals) they open, and the answers about them ("why
//! can't I vote?"). Discord's limits are kept here: a label at most 80
//! characters, a form's title at most 45 and an input's label at most 45.

use crate::config::Policy;
use crate::domain::cab::{eligibility, Ineligible, Vote, VoteStatus};
use crate::domain::change::Change;
use crate::domain::incident::{HoldReason, Incident, IncidentId, State};
use crate::domain::UserId;
use crate::message::{Button, ButtonRow, ButtonStyle, CardAction};

use super::truncate;

/// Longest button label Discord shows.
pub const LABEL_MAX: usize = 80;
/// Longest form title and input label Discord takes.
pub const FORM_TITLE_MAX: usize = 45;

fn button(action: CardAction, label: &str, style: ButtonStyle) -> Button {
    Button {
        action,
        label: truncate(label, LABEL_MAX),
        style,
    }
}

/// The buttons of an incident card in its state: what can be done next.
/// Everyone sees the same buttons; who may press them is decided per
/// press, by the same rules as the typed command.
pub fn incident_buttons(inc: &Incident) -> Vec<ButtonRow> {
    let id = inc.id;
    let take = || button(CardAction::Take(id), "Take", ButtonStyle::Primary);
    let start = |label| button(CardAction::Start(id), label, ButtonStyle::Primary);
    let hold = || button(CardAction::Hold(id), "Hold…", ButtonStyle::Secondary);
    let resolve = || button(CardAction::Resolve(id), "Resolve…", ButtonStyle::Success);
    let escalate = || button(CardAction::Escalate(id), "Escalate", ButtonStyle::Danger);
    let row = match inc.state {
        State::New => vec![take(), resolve(), escalate()],
        State::Assigned => vec![start("Start"), hold(), resolve(), escalate()],
        State::InProgress => vec![hold(), resolve(), escalate()],
        State::OnHold => vec![start("Resume"), resolve(), escalate()],
        State::Resolved => vec![button(CardAction::Reopen(id), "Reopen", ButtonStyle::Secondary)],
        State::Closed | State::Cancelled => Vec::new(),
    };
    if row.is_empty() {
        Vec::new()
    } else {
        vec![row]
    }
}

/// The vote card's button while its vote is open.
pub fn vote_buttons(ch: &Change, vote: &Vote) -> Vec<ButtonRow> {
    if vote.status != VoteStatus::Open {
        return Vec::new();
    }
    vec![vec![button(
        CardAction::WhyNoVote(ch.id),
        "Why can't I vote?",
        ButtonStyle::Secondary,
    )]]
}

/// The button sent privately to whoever reported an incident by 🎫.
pub fn details_button(id: IncidentId) -> Vec<ButtonRow> {
    vec![vec![button(
        CardAction::CompleteDetails(id),
        "Complete the details",
        ButtonStyle::Primary,
    )]]
}

/// The private word to the reporter of an incident logged from their message (🎫).
pub fn complete_details(inc: &Incident) -> String {
    format!(
        "{} was logged from your message: \"{}\". Press the button to give it a better title, its service and a description.",
        inc.id,
        super::neutralize(&truncate(&inc.title, 200))
    )
}

/// Whether the presser may vote on `ch`'s open vote, and why not, from
/// the eligibility rules (who may vote is the same check a ballot gets).
pub fn why_no_vote(
    policy: &Policy,
    ch: &Change,
    vote: &Vote,
    voter: UserId,
    roles: &[crate::domain::RoleKey],
) -> String {
    let who = vote
        .rules
        .eligible_roles
        .iter()
        .map(|r| policy.role_name(r))
        .collect::<Vec<_>>()
        .join(", ");
    if vote.status != VoteStatus::Open {
        return format!(
            "The vote on {} is over: reactions no longer count. Members of {who} could vote on it.",
            ch.id
        );
    }
    match eligibility(voter, roles, &vote.rules, ch.requester, ch.implementer) {
        Ok(()) => format!(
            "You may vote on {}: you hold a role of the board ({who}). React ✅ to approve, ❌ to reject or ➖ to abstain on its card; change your reaction to change your vote.",
            ch.id
        ),
        Err(e @ (Ineligible::IsRequester | Ineligible::IsImplementer)) => format!(
            "You cannot vote on {}: {e} (segregation of duties). Members of {who} vote on it.",
            ch.id
        ),
        Err(Ineligible::MissingRole { .. }) => format!(
            "You cannot vote on {}: voting needs one of these roles: {who}, and you hold none of them.",
            ch.id
        ),
    }
}

pub fn no_vote_on(id: crate::domain::change::ChangeId) -> String {
    format!("{id} has no CAB vote.")
}

/// The title of the report form (`/incident` with no title, and 🎫's details).
pub fn report_form_title() -> String {
    truncate("Report an incident", FORM_TITLE_MAX)
}

/// The title of the form completing an incident logged by 🎫.
pub fn details_form_title(id: IncidentId) -> String {
    truncate(&format!("Complete the details of {id}"), FORM_TITLE_MAX)
}

pub fn resolve_form_title(id: IncidentId) -> String {
    truncate(&format!("Resolve {id}"), FORM_TITLE_MAX)
}

pub fn hold_form_title(id: IncidentId) -> String {
    truncate(&format!("Put {id} on hold"), FORM_TITLE_MAX)
}

/// One input of a form: its label, a hint, and whether it is one line.
pub struct FormField {
    pub label: String,
    pub placeholder: String,
    pub required: bool,
    pub paragraph: bool,
    pub max: u16,
}

fn field(label: &str, placeholder: &str, required: bool, paragraph: bool, max: usize) -> FormField {
    FormField {
        label: truncate(label, FORM_TITLE_MAX),
        placeholder: truncate(placeholder, 100),
        required,
        paragraph,
        max: max.clamp(1, 4000) as u16,
    }
}

pub fn title_field(policy: &Policy, required: bool) -> FormField {
    field(
        "Title",
        "What is wrong, in one line",
        required,
        false,
        policy.limits.title_max,
    )
}

pub fn description_field(policy: &Policy) -> FormField {
    field(
        "Description",
        "What happens, since when, who is affected",
        false,
        true,
        policy.limits.note_max,
    )
}

pub fn service_field(policy: &Policy) -> FormField {
    let keys: Vec<&str> = policy.services.keys().map(String::as_str).collect();
    field("Service", &format!("One of: {}", keys.join(", ")), false, false, 60)
}

pub fn impact_field() -> FormField {
    field("Impact", "high, medium or low: how widely it hurts", false, false, 10)
}

pub fn urgency_field() -> FormField {
    field(
        "Urgency",
        "high, medium or low: how soon it must be fixed",
        false,
        false,
        10,
    )
}

pub fn resolution_field(policy: &Policy) -> FormField {
    field("Resolution", "How it was fixed", true, true, policy.limits.note_max)
}

pub fn hold_kind_field() -> FormField {
    let kinds: Vec<&str> = HoldReason::ALL
        .iter()
        .map(|r| r.as_str().trim_start_matches("awaiting_"))
        .collect();
    field(
        "Waiting for",
        &format!("{} (awaiting_…)", kinds.join(", ")),
        true,
        false,
        20,
    )
}

pub fn hold_reason_field(policy: &Policy) -> FormField {
    field(
        "Why",
        "What it waits for, in words",
        false,
        true,
        policy.limits.note_max,
    )
}

/// The answer to a press of a button whose form is already open elsewhere
/// or whose record the button no longer fits (an old card).
pub fn control_unknown() -> String {
    "That button is no longer in use: use the card's current buttons or type the command.".to_owned()
}

/// The answer to a form submitted with nothing in it.
pub fn form_empty() -> String {
    "Nothing was filled in: nothing changed.".to_owned()
}

/// The answer to an interaction the desk had nothing to do with.
pub fn nothing_to_do() -> String {
    "Nothing to do.".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_and_form_text_is_within_discords_limits() {
        let policy = Policy::load(None, Vec::<(String, String)>::new()).unwrap();
        let id = IncidentId::parse("INC-999999999999").unwrap();
        for t in [
            report_form_title(),
            details_form_title(id),
            resolve_form_title(id),
            hold_form_title(id),
        ] {
            assert!(t.chars().count() <= FORM_TITLE_MAX, "{t}");
        }
        for f in [
            title_field(&policy, true),
            description_field(&policy),
            service_field(&policy),
            impact_field(),
            urgency_field(),
            resolution_field(&policy),
            hold_kind_field(),
            hold_reason_field(&policy),
        ] {
            assert!(f.label.chars().count() <= FORM_TITLE_MAX, "{}", f.label);
            assert!(f.placeholder.chars().count() <= 100, "{}", f.placeholder);
            assert!((1..=4000).contains(&f.max));
        }
        for row in details_button(id) {
            assert!(row.len() <= 5);
            assert!(row.iter().all(|b| b.label.chars().count() <= LABEL_MAX));
        }
    }
}
