//! Which arguments of an action are secrets, and their masking before they are stored.
//!
//! The rule, by name and case-insensitive, at any depth of the arguments:
//! - a field or header whose name contains `secret`, `password`, `passwd`, `token`,
//!   `authorization` or `credential` has its value replaced by [`MASK`];
//! - a `Variable` header (`NAME=value`, one or several) keeps `NAME` and masks the value
//!   when `NAME` matches the same words (`Variable: DB_PASSWORD=...`);
//! - a `Setvar`-shaped object (`Variable: NAME`, `Value: ...`) masks `Value` when `NAME`
//!   matches.
//!
//! Names are kept, so an auditor still sees that a secret was set, and which one.

use serde_json::{Map, Value};

/// What a masked value becomes.
pub const MASK: &str = "********";

const SECRET_WORDS: [&str; 6] = [
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "credential",
];

fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// `arguments` with every secret in it masked.
pub fn masked(arguments: Value) -> Value {
    match arguments {
        Value::Object(object) => Value::Object(masked_object(object)),
        Value::Array(items) => Value::Array(items.into_iter().map(masked).collect()),
        other => other,
    }
}

fn masked_object(object: Map<String, Value>) -> Map<String, Value> {
    let setvar_of_secret = object.iter().any(|(key, value)| {
        key.eq_ignore_ascii_case("variable") && value.as_str().is_some_and(names_a_secret)
    });
    object
        .into_iter()
        .map(|(key, value)| {
            let value = if names_a_secret(&key)
                || (setvar_of_secret && key.eq_ignore_ascii_case("value"))
            {
                Value::String(MASK.into())
            } else if key.eq_ignore_ascii_case("variable") {
                masked_assignments(value)
            } else {
                masked(value)
            };
            (key, value)
        })
        .collect()
}

/// `NAME=value` (or a list of them) with the values of secret names masked.
fn masked_assignments(value: Value) -> Value {
    match value {
        Value::String(assignment) => Value::String(masked_assignment(assignment)),
        Value::Array(items) => Value::Array(items.into_iter().map(masked_assignments).collect()),
        other => masked(other),
    }
}

fn masked_assignment(assignment: String) -> String {
    match assignment.split_once('=') {
        Some((name, _)) if names_a_secret(name) => format!("{name}={MASK}"),
        _ => assignment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_fields_and_headers_are_masked_at_any_depth() {
        let arguments = json!({
            "headers": {"Action": "Login", "Username": "admin", "Secret": "s3", "AuthToken": "t"},
            "password": "p",
            "channel": "PJSIP/100-1",
        });
        assert_eq!(
            masked(arguments),
            json!({
                "headers": {"Action": "Login", "Username": "admin", "Secret": MASK, "AuthToken": MASK},
                "password": MASK,
                "channel": "PJSIP/100-1",
            })
        );
    }

    #[test]
    fn variables_keep_their_names_and_lose_secret_values() {
        let arguments = json!({
            "Action": "Originate",
            "Variable": ["DURATION=5", "DB_PASSWORD=hunter2", "API_TOKEN=abc=def", "PLAIN"],
        });
        assert_eq!(
            masked(arguments)["Variable"],
            json!([
                "DURATION=5",
                format!("DB_PASSWORD={MASK}"),
                format!("API_TOKEN={MASK}"),
                "PLAIN"
            ])
        );
        let one = json!({"Action": "Originate", "variable": "MYSECRET=x"});
        assert_eq!(masked(one)["variable"], format!("MYSECRET={MASK}"));
    }

    #[test]
    fn setvar_of_a_secret_name_masks_its_value_only() {
        let secret = json!({"Action": "Setvar", "Variable": "SIP_PASSWORD", "Value": "x"});
        assert_eq!(
            masked(secret),
            json!({"Action": "Setvar", "Variable": "SIP_PASSWORD", "Value": MASK})
        );
        let plain = json!({"Action": "Setvar", "Variable": "LANGUAGE", "Value": "fr"});
        assert_eq!(masked(plain.clone()), plain);
    }
}
