//! Slash commands, generated from the same command table as the prefix parser
//! and `!help`, so the two never drift. One difference: `/incident`'s title
//! is optional, because without one it opens the report form.

use serenity::all::{CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand, CreateCommandOption};

use crate::command::{self, Args, Command, CommandSpec, OptionKind, UsageError, COMMANDS};

/// Discord's limit on descriptions.
const DESCRIPTION_MAX: usize = 100;

fn short(s: &str) -> String {
    crate::render::truncate(s, DESCRIPTION_MAX)
}

/// The slash command for one row of the table.
pub fn definition(spec: &CommandSpec) -> CreateCommand {
    let mut options: Vec<&command::OptionSpec> = spec.options.iter().collect();
    // Discord wants required options first; the table lists them first already,
    // but a stable sort keeps that true whatever the table says.
    options.sort_by_key(|o| !o.required);
    let mut cmd = CreateCommand::new(spec.name).description(short(spec.summary));
    for o in options {
        let kind = match o.kind {
            OptionKind::User => CommandOptionType::User,
            _ => CommandOptionType::String,
        };
        // `/incident` with no title opens the report form instead (see `components`).
        let required = o.required && !(spec.name == "incident" && o.name == "title");
        let mut opt = CreateCommandOption::new(kind, o.name, short(o.description)).required(required);
        if let OptionKind::Choice(words) = o.kind {
            for w in words.iter().take(25) {
                opt = opt.add_string_choice(*w, *w);
            }
        }
        cmd = cmd.add_option(opt);
    }
    cmd
}

/// Every slash command.
pub fn definitions() -> Vec<CreateCommand> {
    COMMANDS.iter().map(definition).collect()
}

/// Types a slash command's options through the same builder as chat text.
pub fn parse(name: &str, options: &[CommandDataOption]) -> Result<Command, UsageError> {
    let Some(spec) = command::spec(name) else {
        return Ok(Command::Unknown {
            name: name.chars().take(40).collect(),
            suggestion: None,
        });
    };
    let mut args = Args::default();
    let value = |v: &CommandDataOptionValue| -> Option<String> {
        match v {
            CommandDataOptionValue::String(s) => Some(s.clone()),
            CommandDataOptionValue::User(u) => Some(format!("<@{u}>")),
            CommandDataOptionValue::Integer(n) => Some(n.to_string()),
            CommandDataOptionValue::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut positional: Vec<Option<String>> = Vec::new();
    for (i, o) in spec.options.iter().filter(|o| !o.named).enumerate() {
        let given = options.iter().find(|d| d.name == o.name).and_then(|d| value(&d.value));
        if positional.len() <= i {
            positional.push(given);
        }
    }
    // Positional values must be contiguous: a missing optional one ends the list.
    args.positional = positional.into_iter().map_while(|v| v).collect();
    for o in spec.options.iter().filter(|o| o.named) {
        if let Some(v) = options.iter().find(|d| d.name == o.name).and_then(|d| value(&d.value)) {
            args.named.insert(o.name.to_owned(), v);
        }
    }
    command::build(spec, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::priority::Impact;

    #[test]
    fn every_command_has_a_valid_slash_definition() {
        let defs = definitions();
        assert_eq!(defs.len(), COMMANDS.len());
        for (spec, def) in COMMANDS.iter().zip(&defs) {
            let json = serde_json::to_value(def).unwrap();
            assert_eq!(json["name"], spec.name);
            let desc = json["description"].as_str().unwrap();
            assert!(!desc.is_empty() && desc.chars().count() <= DESCRIPTION_MAX);
            let opts = json["options"].as_array().cloned().unwrap_or_default();
            let mut seen_optional = false;
            for o in &opts {
                let name = o["name"].as_str().unwrap();
                assert!(
                    name.len() <= 32 && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{name}"
                );
                let required = o["required"].as_bool().unwrap_or(false);
                assert!(
                    !(required && seen_optional),
                    "{}: required option after an optional one",
                    spec.name
                );
                seen_optional |= !required;
            }
        }
        let incident = serde_json::to_value(definition(command::spec("incident").unwrap())).unwrap();
        let impact = incident["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "impact")
            .unwrap()
            .clone();
        assert_eq!(impact["choices"].as_array().unwrap().len(), 3);
    }

    fn opt(name: &str, value: CommandDataOptionValue) -> CommandDataOption {
        serde_json::from_value(
            serde_json::json!({"name": name, "type": u8::from(value.kind()), "value": match &value {
                CommandDataOptionValue::String(s) => serde_json::json!(s),
                CommandDataOptionValue::User(u) => serde_json::json!(u.to_string()),
                _ => serde_json::Value::Null,
            }}),
        )
        .unwrap()
    }

    #[test]
    fn slash_options_type_through_the_same_builder_as_chat_text() {
        let cmd = parse(
            "incident",
            &[
                opt("title", CommandDataOptionValue::String("VPN down impact=low".into())),
                opt("impact", CommandDataOptionValue::String("high".into())),
            ],
        )
        .unwrap();
        // Option-looking words inside a slash title stay in the title.
        assert!(
            matches!(cmd, Command::Incident { ref title, impact: Some(Impact::High), .. } if title == "VPN down impact=low"),
            "{cmd:?}"
        );
        let err = parse("show", &[]).unwrap_err();
        assert_eq!(err.problem, "missing <id>");
        let cmd = parse(
            "assign",
            &[
                opt("id", CommandDataOptionValue::String("INC-2".into())),
                opt("user", CommandDataOptionValue::User(serenity::all::UserId::new(42))),
            ],
        )
        .unwrap();
        assert!(
            matches!(
                cmd,
                Command::Assign {
                    user: command::UserRef::Id(42),
                    ..
                }
            ),
            "{cmd:?}"
        );
    }
}
