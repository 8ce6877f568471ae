//! Discord's checks on message components and modals (classic components,
//! API v10), as the fake applies them to every message create/edit, every
//! interaction message response and every modal response. A request that
//! breaks one gets Discord's 400 `50035 Invalid Form Body` with the error
//! nested at the offending field (`components.0.components.1.custom_id`).
//!
//! Limits: at most 5 action rows; a row holds 1–5 buttons (or one select);
//! a button has a custom_id of 1–100 characters (a link button a url
//! instead), a label of at most 80, a style 1–5; custom_ids are unique in a
//! message. A modal has a custom_id of 1–100, a title of 1–45 and 1–5 rows
//! of exactly one text input each: custom_id 1–100, label 1–45, style 1
//! (short) or 2 (paragraph), min_length 0–4000, max_length 1–4000, value
//! and placeholder within 4000 and 100.

use serde_json::{json, Map, Value};

/// A broken limit: where (path segments), Discord's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<String>,
    pub code: &'static str,
    pub message: String,
}

impl Violation {
    fn at(path: &[String], field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let mut path = path.to_vec();
        path.push(field.to_owned());
        Self {
            path,
            code,
            message: message.into(),
        }
    }

    /// Discord's 400 body for it: the error nested at its path.
    pub fn body(&self) -> Value {
        let mut errors = json!({"_errors": [{"code": self.code, "message": self.message}]});
        for segment in self.path.iter().rev() {
            let mut m = Map::new();
            m.insert(segment.clone(), errors);
            errors = Value::Object(m);
        }
        json!({"message": "Invalid Form Body", "code": 50035, "errors": errors})
    }
}

fn chars(v: &Value) -> Option<usize> {
    v.as_str().map(|s| s.chars().count())
}

fn length(path: &[String], obj: &Value, field: &str, min: usize, max: usize, required: bool) -> Result<(), Violation> {
    match chars(&obj[field]) {
        None if required => Err(Violation::at(
            path,
            field,
            "BASE_TYPE_REQUIRED",
            "This field is required",
        )),
        None => Ok(()),
        Some(n) if n < min || n > max => Err(Violation::at(
            path,
            field,
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between {min} and {max} in length."),
        )),
        Some(_) => Ok(()),
    }
}

fn too_many(path: &[String], field: &str, max: usize) -> Violation {
    Violation::at(
        path,
        field,
        "BASE_TYPE_MAX_LENGTH",
        format!("Must be {max} or fewer in length."),
    )
}

/// Checks a message's `components` (absent or null is fine).
pub fn check_message(components: &Value) -> Result<(), Violation> {
    let Some(rows) = components.as_array() else {
        return Ok(());
    };
    let root = vec!["components".to_owned()];
    if rows.len() > 5 {
        return Err(too_many(&[], "components", 5));
    }
    let mut ids = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let rpath: Vec<String> = [root.clone(), vec![r.to_string()]].concat();
        if row["type"] != 1 {
            return Err(Violation::at(
                &rpath,
                "type",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "A message's top-level components must be action rows (type 1).",
            ));
        }
        let Some(children) = row["components"].as_array() else {
            return Err(Violation::at(
                &rpath,
                "components",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            ));
        };
        if children.is_empty() {
            return Err(Violation::at(
                &rpath,
                "components",
                "BASE_TYPE_MIN_LENGTH",
                "Must be 1 or more in length.",
            ));
        }
        if children.len() > 5 {
            return Err(too_many(&rpath, "components", 5));
        }
        for (c, child) in children.iter().enumerate() {
            let cpath: Vec<String> = [rpath.clone(), vec!["components".to_owned(), c.to_string()]].concat();
            match child["type"].as_u64() {
                Some(2) => {
                    let style = child["style"].as_u64().unwrap_or(0);
                    if !(1..=6).contains(&style) {
                        return Err(Violation::at(
                            &cpath,
                            "style",
                            "BASE_TYPE_CHOICES",
                            "Value must be one of {1, 2, 3, 4, 5, 6}.",
                        ));
                    }
                    if style == 5 {
                        length(&cpath, child, "url", 1, 512, true)?;
                    } else {
                        length(&cpath, child, "custom_id", 1, 100, true)?;
                        let id = child["custom_id"].as_str().unwrap_or_default().to_owned();
                        if ids.contains(&id) {
                            return Err(Violation::at(
                                &cpath,
                                "custom_id",
                                "COMPONENT_CUSTOM_ID_DUPLICATED",
                                "Component custom id cannot be duplicated",
                            ));
                        }
                        ids.push(id);
                    }
                    length(&cpath, child, "label", 0, 80, false)?;
                }
                Some(3 | 5..=8) => {
                    if children.len() > 1 {
                        return Err(Violation::at(
                            &rpath,
                            "components",
                            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                            "A select menu takes a whole action row.",
                        ));
                    }
                    length(&cpath, child, "custom_id", 1, 100, true)?;
                }
                _ => {
                    return Err(Violation::at(
                        &cpath,
                        "type",
                        "COMPONENT_TYPE_INVALID",
                        "This component type is not allowed in a message action row.",
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Checks a modal response's `data`.
pub fn check_modal(data: &Value) -> Result<(), Violation> {
    let root = vec!["data".to_owned()];
    length(&root, data, "custom_id", 1, 100, true)?;
    length(&root, data, "title", 1, 45, true)?;
    let Some(rows) = data["components"].as_array() else {
        return Err(Violation::at(
            &root,
            "components",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        ));
    };
    if rows.is_empty() {
        return Err(Violation::at(
            &root,
            "components",
            "BASE_TYPE_MIN_LENGTH",
            "Must be 1 or more in length.",
        ));
    }
    if rows.len() > 5 {
        return Err(too_many(&root, "components", 5));
    }
    for (r, row) in rows.iter().enumerate() {
        let rpath: Vec<String> = [root.clone(), vec!["components".to_owned(), r.to_string()]].concat();
        let children = row["components"].as_array().cloned().unwrap_or_default();
        if row["type"] != 1 || children.len() != 1 {
            return Err(Violation::at(
                &rpath,
                "components",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "A modal's action row holds exactly one text input.",
            ));
        }
        let input = &children[0];
        let cpath: Vec<String> = [rpath.clone(), vec!["components".to_owned(), "0".to_owned()]].concat();
        if input["type"] != 4 {
            return Err(Violation::at(
                &cpath,
                "type",
                "COMPONENT_TYPE_INVALID",
                "Only text inputs (type 4) may be in a modal.",
            ));
        }
        length(&cpath, input, "custom_id", 1, 100, true)?;
        length(&cpath, input, "label", 1, 45, true)?;
        if !matches!(input["style"].as_u64(), Some(1 | 2)) {
            return Err(Violation::at(
                &cpath,
                "style",
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 2}.",
            ));
        }
        let min = input["min_length"].as_u64();
        let max = input["max_length"].as_u64();
        if min.is_some_and(|m| m > 4000) {
            return Err(Violation::at(
                &cpath,
                "min_length",
                "NUMBER_TYPE_MAX",
                "int value should be <= 4000.",
            ));
        }
        if max.is_some_and(|m| !(1..=4000).contains(&m)) {
            return Err(Violation::at(
                &cpath,
                "max_length",
                "NUMBER_TYPE_MAX",
                "int value should be between 1 and 4000.",
            ));
        }
        length(&cpath, input, "value", 0, max.unwrap_or(4000) as usize, false)?;
        length(&cpath, input, "placeholder", 0, 100, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(id: &str, label: &str) -> Value {
        json!({"type": 2, "style": 1, "custom_id": id, "label": label})
    }

    #[test]
    fn the_fake_refuses_components_beyond_discords_limits() {
        let ok = json!([{"type": 1, "components": [button("opsdesk:take:INC-1", "Take")]}]);
        assert_eq!(check_message(&ok), Ok(()));

        let six_rows = json!(vec![json!({"type": 1, "components": [button("a", "A")]}); 6]);
        assert_eq!(check_message(&six_rows).unwrap_err().path, vec!["components"]);

        let six_buttons: Vec<Value> = (0..6).map(|i| button(&format!("b{i}"), "B")).collect();
        let wide = json!([{"type": 1, "components": six_buttons}]);
        assert_eq!(
            check_message(&wide).unwrap_err().path,
            vec!["components", "0", "components"]
        );

        let long_id = json!([{"type": 1, "components": [button(&"x".repeat(101), "Take")]}]);
        let v = check_message(&long_id).unwrap_err();
        assert_eq!(v.path, vec!["components", "0", "components", "0", "custom_id"]);
        assert_eq!(
            v.body()["errors"]["components"]["0"]["components"]["0"]["custom_id"]["_errors"][0]["code"],
            "BASE_TYPE_BAD_LENGTH"
        );
        assert_eq!(v.body()["code"], 50035);

        let long_label = json!([{"type": 1, "components": [button("a", &"l".repeat(81))]}]);
        assert_eq!(check_message(&long_label).unwrap_err().path.last().unwrap(), "label");

        let twice = json!([{"type": 1, "components": [button("a", "A"), button("a", "B")]}]);
        assert_eq!(
            check_message(&twice).unwrap_err().code,
            "COMPONENT_CUSTOM_ID_DUPLICATED"
        );
    }

    #[test]
    fn the_fake_refuses_modals_beyond_discords_limits() {
        let input = |label: &str, max: u64| json!({"type": 1, "components": [{"type": 4, "custom_id": "t", "label": label, "style": 1, "max_length": max}]});
        let ok = json!({"custom_id": "opsdesk:form:report", "title": "Report an incident", "components": [input("Title", 200)]});
        assert_eq!(check_modal(&ok), Ok(()));

        let mut long_title = ok.clone();
        long_title["title"] = json!("t".repeat(46));
        assert_eq!(check_modal(&long_title).unwrap_err().path, vec!["data", "title"]);

        let mut long_label = ok.clone();
        long_label["components"] = json!([input(&"l".repeat(46), 200)]);
        assert_eq!(check_modal(&long_label).unwrap_err().path.last().unwrap(), "label");

        let mut too_long = ok.clone();
        too_long["components"] = json!([input("Title", 4001)]);
        assert_eq!(check_modal(&too_long).unwrap_err().path.last().unwrap(), "max_length");

        let mut six = ok.clone();
        six["components"] = json!(vec![input("Title", 10); 6]);
        assert_eq!(check_modal(&six).unwrap_err().path, vec!["data", "components"]);

        let mut select = ok;
        select["components"] = json!([{"type": 1, "components": [{"type": 3, "custom_id": "s", "options": []}]}]);
        assert_eq!(check_modal(&select).unwrap_err().code, "COMPONENT_TYPE_INVALID");
    }
}
