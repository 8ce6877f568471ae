//! Discord's message components and modals for the desk's controls: a
//! [`CardAction`] becomes a button whose `custom_id` is `opsdesk:<verb>:<id>`
//! (at most 100 characters), and a pressed button's or a submitted form's
//! `custom_id` is parsed back into a typed [`Pressed`] here, at the edge.
//! Forms are built from `render`'s words; what a submit means (which
//! command) is decided by the handler in `mod.rs`.

use std::collections::HashMap;

use serenity::all::{
    ActionRow, ActionRowComponent, ButtonStyle as DiscordStyle, CreateActionRow, CreateButton, CreateInputText,
    CreateModal, InputTextStyle,
};

use crate::command::{self, Args, Command, UsageError};
use crate::config::Policy;
use crate::domain::change::ChangeId;
use crate::domain::incident::{HoldReason, IncidentId, State};
use crate::message::{ButtonRow, ButtonStyle, CardAction};
use crate::render::{self, FormField};

/// Every custom id the desk makes starts with this (others are not ours).
const PREFIX: &str = "opsdesk:";
/// Discord's limits on components.
pub const ROWS_MAX: usize = 5;
pub const BUTTONS_PER_ROW_MAX: usize = 5;
#[cfg(test)]
pub const CUSTOM_ID_MAX: usize = 100;

/// A form the desk asks for in a modal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `!resolve INC-n <resolution>`.
    Resolve(IncidentId),
    /// `!status INC-n on_hold <kind> <why>`.
    Hold(IncidentId),
    /// `!incident …` (`/incident` with no title).
    Report,
    /// `!edit INC-n …` and a note, for an incident logged by 🎫.
    Details(IncidentId),
}

/// What an interaction's `custom_id` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressed {
    Button(CardAction),
    Submitted(Form),
}

/// The custom id of a button.
pub fn button_id(action: CardAction) -> String {
    let (verb, id) = match action {
        CardAction::Take(id) => ("take", id.to_string()),
        CardAction::Start(id) => ("start", id.to_string()),
        CardAction::Hold(id) => ("hold", id.to_string()),
        CardAction::Resolve(id) => ("resolve", id.to_string()),
        CardAction::Escalate(id) => ("escalate", id.to_string()),
        CardAction::Reopen(id) => ("reopen", id.to_string()),
        CardAction::CompleteDetails(id) => ("details", id.to_string()),
        CardAction::WhyNoVote(id) => ("whyvote", id.to_string()),
    };
    format!("{PREFIX}{verb}:{id}")
}

/// The custom id of a form.
pub fn form_id(form: Form) -> String {
    match form {
        Form::Resolve(id) => format!("{PREFIX}form:resolve:{id}"),
        Form::Hold(id) => format!("{PREFIX}form:hold:{id}"),
        Form::Report => format!("{PREFIX}form:report"),
        Form::Details(id) => format!("{PREFIX}form:details:{id}"),
    }
}

/// Reads a custom id back; `None` for one that is not the desk's (or no longer is).
pub fn parse(custom_id: &str) -> Option<Pressed> {
    let rest = custom_id.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(3, ':');
    let first = parts.next()?;
    let incident = |raw: Option<&str>| raw.and_then(IncidentId::parse);
    if first == "form" {
        let kind = parts.next()?;
        let id = parts.next();
        let form = match kind {
            "resolve" => Form::Resolve(incident(id)?),
            "hold" => Form::Hold(incident(id)?),
            "details" => Form::Details(incident(id)?),
            "report" if id.is_none() => Form::Report,
            _ => return None,
        };
        return Some(Pressed::Submitted(form));
    }
    let raw = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let action = match first {
        "take" => CardAction::Take(incident(raw)?),
        "start" => CardAction::Start(incident(raw)?),
        "hold" => CardAction::Hold(incident(raw)?),
        "resolve" => CardAction::Resolve(incident(raw)?),
        "escalate" => CardAction::Escalate(incident(raw)?),
        "reopen" => CardAction::Reopen(incident(raw)?),
        "details" => CardAction::CompleteDetails(incident(raw)?),
        "whyvote" => CardAction::WhyNoVote(raw.and_then(ChangeId::parse)?),
        _ => return None,
    };
    Some(Pressed::Button(action))
}

fn style(s: ButtonStyle) -> DiscordStyle {
    match s {
        ButtonStyle::Primary => DiscordStyle::Primary,
        ButtonStyle::Secondary => DiscordStyle::Secondary,
        ButtonStyle::Success => DiscordStyle::Success,
        ButtonStyle::Danger => DiscordStyle::Danger,
    }
}

/// The action rows of a message, within Discord's limits (5 rows of 5
/// buttons, labels of 80 characters); what does not fit is left off.
pub fn rows(buttons: &[ButtonRow]) -> Vec<CreateActionRow> {
    buttons
        .iter()
        .filter(|row| !row.is_empty())
        .take(ROWS_MAX)
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .take(BUTTONS_PER_ROW_MAX)
                    .map(|b| {
                        CreateButton::new(button_id(b.action))
                            .label(render::truncate(&b.label, render::LABEL_MAX))
                            .style(style(b.style))
                    })
                    .collect(),
            )
        })
        .collect()
}

fn input(id: &str, f: FormField, value: Option<&str>) -> CreateActionRow {
    let kind = if f.paragraph {
        InputTextStyle::Paragraph
    } else {
        InputTextStyle::Short
    };
    let mut text = CreateInputText::new(kind, f.label, id)
        .placeholder(f.placeholder)
        .required(f.required)
        .max_length(f.max);
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        text = text.value(render::truncate(v, usize::from(f.max)));
    }
    CreateActionRow::InputText(text)
}

/// Values to show in a form's inputs when it opens (slash options given).
#[derive(Debug, Clone, Default)]
pub struct Prefill {
    pub service: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
}

/// The modal asking for `form`.
pub fn modal(policy: &Policy, form: Form, prefill: &Prefill) -> CreateModal {
    let (title, inputs) = match form {
        Form::Resolve(id) => (
            render::resolve_form_title(id),
            vec![input("resolution", render::resolution_field(policy), None)],
        ),
        Form::Hold(id) => (
            render::hold_form_title(id),
            vec![
                input("kind", render::hold_kind_field(), None),
                input("why", render::hold_reason_field(policy), None),
            ],
        ),
        Form::Report => (
            render::report_form_title(),
            vec![
                input("title", render::title_field(policy, true), None),
                input("description", render::description_field(policy), None),
                input("service", render::service_field(policy), prefill.service.as_deref()),
                input("impact", render::impact_field(), prefill.impact.as_deref()),
                input("urgency", render::urgency_field(), prefill.urgency.as_deref()),
            ],
        ),
        Form::Details(id) => (
            render::details_form_title(id),
            vec![
                input("title", render::title_field(policy, false), None),
                input("description", render::description_field(policy), None),
                input("service", render::service_field(policy), None),
            ],
        ),
    };
    CreateModal::new(form_id(form), title).components(inputs)
}

/// A submitted form's inputs by custom id, the empty ones left out.
pub fn values(rows: &[ActionRow]) -> HashMap<String, String> {
    rows.iter()
        .flat_map(|r| r.components.iter())
        .filter_map(|c| match c {
            ActionRowComponent::InputText(t) => {
                let v = t.value.as_deref().unwrap_or_default().trim();
                (!v.is_empty()).then(|| (t.custom_id.clone(), v.to_owned()))
            }
            _ => None,
        })
        .collect()
}

/// The command a button stands for, when it performs one at once (the
/// others open a form or answer a question).
pub fn command_of(action: CardAction) -> Option<Command> {
    Some(match action {
        CardAction::Take(id) => Command::Take { id },
        CardAction::Start(id) => Command::Status {
            id,
            state: State::InProgress,
            hold: None,
            reason: None,
        },
        CardAction::Escalate(id) => Command::Escalate {
            id,
            up: false,
            reason: None,
        },
        CardAction::Reopen(id) => Command::Reopen { id, reason: None },
        CardAction::Hold(_) | CardAction::Resolve(_) | CardAction::CompleteDetails(_) | CardAction::WhyNoVote(_) => {
            return None
        }
    })
}

/// The form a button opens, with the command whose parties may fill it in
/// (checked before the form opens, so a refusal comes at once).
pub fn form_of(action: CardAction) -> Option<(Form, Command)> {
    Some(match action {
        CardAction::Hold(id) => (
            Form::Hold(id),
            Command::Status {
                id,
                state: State::OnHold,
                hold: Some(HoldReason::AwaitingCaller),
                reason: None,
            },
        ),
        CardAction::Resolve(id) => (
            Form::Resolve(id),
            Command::Resolve {
                id,
                resolution: String::new(),
            },
        ),
        CardAction::CompleteDetails(id) => (
            Form::Details(id),
            Command::Edit {
                id,
                title: None,
                service: None,
                category: None,
            },
        ),
        _ => return None,
    })
}

fn typed(name: &str, positional: Vec<String>, named: &[(&str, Option<&String>)]) -> Result<Command, UsageError> {
    let spec = command::spec(name).expect("a command of the table");
    let args = Args {
        positional,
        named: named
            .iter()
            .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v.clone())))
            .collect(),
        unknown: None,
    };
    command::build(spec, args)
}

/// What a submitted form performs: one or two commands (the details form
/// corrects the incident and adds its description as a note), each typed
/// through the same builder as chat text, so bad input gets the command's
/// own usage refusal. Each comes with the suffix of its event key.
pub fn form_commands(form: Form, values: &HashMap<String, String>) -> Vec<(&'static str, Result<Command, UsageError>)> {
    let get = |k: &str| values.get(k);
    match form {
        Form::Resolve(id) => vec![(
            "",
            typed(
                "resolve",
                [id.to_string()].into_iter().chain(get("resolution").cloned()).collect(),
                &[],
            ),
        )],
        Form::Hold(id) => {
            // `caller` and `awaiting_caller` are both what it waits for.
            let kind = get("kind").map(|k| {
                let k = k.trim().to_ascii_lowercase().replace([' ', '-'], "_");
                if k.starts_with("awaiting_") {
                    k
                } else {
                    format!("awaiting_{k}")
                }
            });
            let reason = match (kind, get("why")) {
                (Some(k), Some(why)) => Some(format!("{k} {why}")),
                (Some(k), None) => Some(k),
                (None, _) => None,
            };
            let positional = [id.to_string(), "on_hold".to_owned()]
                .into_iter()
                .chain(reason)
                .collect();
            vec![("", typed("status", positional, &[]))]
        }
        Form::Report => {
            let cmd = typed(
                "incident",
                get("title").cloned().into_iter().collect(),
                &[
                    ("impact", get("impact")),
                    ("urgency", get("urgency")),
                    ("service", get("service")),
                ],
            )
            .map(|mut cmd| {
                if let Command::Incident { description, .. } = &mut cmd {
                    *description = get("description").cloned();
                }
                cmd
            });
            vec![("", cmd)]
        }
        Form::Details(id) => {
            let mut out = Vec::new();
            if get("title").is_some() || get("service").is_some() {
                out.push((
                    "",
                    typed(
                        "edit",
                        vec![id.to_string()],
                        &[("title", get("title")), ("service", get("service"))],
                    ),
                ));
            }
            if let Some(text) = get("description") {
                out.push((":note", Ok(Command::Note { id, text: text.clone() })));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Button;

    #[test]
    fn every_action_and_form_reads_back_from_its_custom_id() {
        let inc = IncidentId::parse("INC-12").unwrap();
        let chg = ChangeId::parse("CHG-3").unwrap();
        let actions = [
            CardAction::Take(inc),
            CardAction::Start(inc),
            CardAction::Hold(inc),
            CardAction::Resolve(inc),
            CardAction::Escalate(inc),
            CardAction::Reopen(inc),
            CardAction::CompleteDetails(inc),
            CardAction::WhyNoVote(chg),
        ];
        for a in actions {
            let id = button_id(a);
            assert!(id.len() <= CUSTOM_ID_MAX, "{id}");
            assert_eq!(parse(&id), Some(Pressed::Button(a)), "{id}");
        }
        assert_eq!(button_id(CardAction::Take(inc)), "opsdesk:take:INC-12");
        for f in [Form::Resolve(inc), Form::Hold(inc), Form::Report, Form::Details(inc)] {
            assert_eq!(parse(&form_id(f)), Some(Pressed::Submitted(f)));
        }
        for foreign in [
            "",
            "take:INC-1",
            "opsdesk:take",
            "opsdesk:take:CHG-1",
            "opsdesk:fly:INC-1",
            "opsdesk:take:INC-1:x",
        ] {
            assert_eq!(parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn rendered_rows_stay_within_discords_limits() {
        let inc = IncidentId::parse("INC-999999999999").unwrap();
        let button = Button {
            action: CardAction::Take(inc),
            label: "x".repeat(300),
            style: ButtonStyle::Primary,
        };
        let many = vec![vec![button; 9]; 8];
        let json = serde_json::to_value(rows(&many)).unwrap();
        let rows = json.as_array().unwrap();
        assert_eq!(rows.len(), ROWS_MAX);
        for row in rows {
            let buttons = row["components"].as_array().unwrap();
            assert_eq!(buttons.len(), BUTTONS_PER_ROW_MAX);
            for b in buttons {
                assert!(b["label"].as_str().unwrap().chars().count() <= render::LABEL_MAX);
                assert!(b["custom_id"].as_str().unwrap().len() <= CUSTOM_ID_MAX);
            }
        }
    }
}
