//! Text inputs carry no control characters. PostgreSQL cannot store NUL in text, and no
//! name, email or note needs U+0000–U+001F (but tab, newline, carriage return) or U+007F.
//! Checked once for every operation, over its variables and the string literals written
//! in the document, before anything runs: `BAD_USER_INPUT` naming the field (`input.name`
//! for `$input`'s `name`, the argument's name for a literal).

use async_graphql::parser::types::{Selection, SelectionSet};
use async_graphql::{Pos, Request, ServerResult};
use async_graphql_value::{ConstValue, Value};

use crate::error::AppError;

/// Refuses a request whose variables or document strings hold a control character (a
/// stage of [`super::pipeline::Pipeline`]).
pub(super) fn check(mut request: Request) -> ServerResult<Request> {
    let mut bad = None;
    for (name, value) in request.variables.iter() {
        bad = bad.or_else(|| in_const(value, name.as_str()));
    }
    if bad.is_none()
        && let Ok(document) = request.parsed_query()
    {
        for fragment in document.fragments.values() {
            bad = bad.or_else(|| in_set(&fragment.node.selection_set.node));
        }
        for (_, operation) in document.operations.iter() {
            bad = bad.or_else(|| in_set(&operation.node.selection_set.node));
        }
    }
    if let Some(field) = bad {
        let error = AppError::bad_input(field, "must not contain control characters");
        return Err(async_graphql::Error::from(error).into_server_error(Pos::default()));
    }
    Ok(request)
}

/// Whether `text` holds a character no text input may hold.
pub fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}')
}

fn in_const(value: &ConstValue, path: &str) -> Option<String> {
    match value {
        ConstValue::String(s) if has_control(s) => Some(path.to_owned()),
        ConstValue::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| in_const(v, &format!("{path}[{i}]"))),
        ConstValue::Object(fields) => fields
            .iter()
            .find_map(|(k, v)| in_const(v, &format!("{path}.{k}"))),
        _ => None,
    }
}

fn in_value(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(s) if has_control(s) => Some(path.to_owned()),
        Value::List(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| in_value(v, &format!("{path}[{i}]"))),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(k, v)| in_value(v, &format!("{path}.{k}"))),
        _ => None,
    }
}

fn in_set(set: &SelectionSet) -> Option<String> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => field
            .node
            .arguments
            .iter()
            .find_map(|(name, value)| in_value(&value.node, name.node.as_str()))
            .or_else(|| in_set(&field.node.selection_set.node)),
        Selection::InlineFragment(inline) => in_set(&inline.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_with_their_path() {
        assert!(has_control("a\u{0}b"));
        assert!(has_control("bell\u{7}"));
        assert!(!has_control("tab\tnew\nline\r"));
        assert!(!has_control("Duka ya Mama Wanjiru ✓"));
        let value = ConstValue::from_json(serde_json::json!({
            "name": "ok", "tags": ["fine", "bad\u{0}"]
        }))
        .unwrap();
        assert_eq!(in_const(&value, "input").as_deref(), Some("input.tags[1]"));
    }
}
