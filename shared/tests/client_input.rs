//! Property tests for what browsers and scripts send: WebSocket messages and the HTTP
//! API's bodies decode to a value or an error, never a panic; unknown types, unknown
//! actions and fields of the wrong type are errors.
//!
//! Each property runs proptest's default 256 cases (`PROPTEST_CASES` changes that).
#![cfg(not(target_arch = "wasm32"))] // proptest is a native-only dev-dependency

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared::action::{ActionRequest, PANEL_ACTIONS};
use shared::protocol::{ClientMessage, ExchangeRequest, LoginRequest};

const TYPES: [&str; 3] = ["resync", "action", "events"];

/// Every panel action's name, and the raw console's.
fn known_action(name: &str) -> bool {
    name == "ami" || PANEL_ACTIONS.iter().any(|(known, _)| *known == name)
}

/// Field names the decoders know, so that objects often come close to valid ones.
const FIELDS: [&str; 22] = [
    "type",
    "action",
    "id",
    "server",
    "enabled",
    "channel",
    "exten",
    "context",
    "from",
    "to",
    "caller_id",
    "space",
    "target_channel",
    "mode",
    "queue",
    "interface",
    "paused",
    "penalty",
    "headers",
    "username",
    "secret",
    "token",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(&FIELDS[..]).prop_map(str::to_owned),
        1 => "[a-z_]{0,8}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(&TYPES[..]).prop_map(str::to_owned),
        proptest::sample::select(PANEL_ACTIONS).prop_map(|(name, _)| name.to_owned()),
        Just("listen".to_owned()),
        Just("PJSIP/1001-00000001".to_owned()),
        any::<String>(),
    ]
}

/// JSON values of every type, nested a little, with the known keys and words.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Text as it may arrive: valid JSON, JSON cut short or with a stray character, or
/// anything at all.
fn json_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => json_value().prop_map(|v| v.to_string()),
        2 => (json_value(), any::<usize>(), any::<char>()).prop_map(|(v, at, c)| {
            let mut text = v.to_string();
            let at = text.char_indices().map(|(i, _)| i).nth(at % text.len().max(1)).unwrap_or(0);
            text.insert(at, c);
            text
        }),
        1 => (json_value(), any::<usize>()).prop_map(|(v, at)| {
            let text = v.to_string();
            text.chars().take(at % (text.len() + 1)).collect()
        }),
        1 => any::<String>(),
    ]
}

/// A JSON object of `fields` with the `pinned` ones set over them.
fn object(fields: Vec<(String, Value)>, pinned: &[(&str, Value)]) -> String {
    let mut object: Map<String, Value> = fields.into_iter().collect();
    for (key, value) in pinned {
        object.insert((*key).to_owned(), value.clone());
    }
    Value::Object(object).to_string()
}

/// Decodes `text` as `T`; whatever decodes must encode and decode to the same value.
fn decode_round_trip<T>(text: &str) -> Result<Option<T>, TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let Ok(value) = serde_json::from_str::<T>(text) else {
        return Ok(None);
    };
    let json = serde_json::to_string(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let again: T =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{json}: {e}")))?;
    prop_assert_eq!(&again, &value);
    Ok(Some(value))
}

proptest! {
    #[test]
    fn any_text_decodes_or_is_refused_and_what_decodes_round_trips(text in json_ish()) {
        decode_round_trip::<ClientMessage>(&text)?;
        decode_round_trip::<ActionRequest>(&text)?;
        decode_round_trip::<LoginRequest>(&text)?;
        decode_round_trip::<ExchangeRequest>(&text)?;
    }

    #[test]
    fn a_message_of_an_unknown_type_is_an_error(
        kind in any::<String>().prop_filter("unknown", |k| !TYPES.contains(&k.as_str())),
        fields in proptest::collection::vec((key(), json_value()), 0..6),
    ) {
        let text = object(fields, &[("type", Value::String(kind))]);
        prop_assert!(serde_json::from_str::<ClientMessage>(&text).is_err(), "{}", text);
    }

    #[test]
    fn an_unknown_action_is_an_error(
        action in any::<String>().prop_filter("unknown", |a| !known_action(a)),
        fields in proptest::collection::vec((key(), json_value()), 0..6),
    ) {
        let pinned = [("action", Value::String(action)), ("server", json!("demo"))];
        let request = object(fields.clone(), &pinned);
        prop_assert!(serde_json::from_str::<ActionRequest>(&request).is_err(), "{}", request);
        let message = object(fields, &[pinned[0].clone(), pinned[1].clone(), ("type", json!("action"))]);
        prop_assert!(serde_json::from_str::<ClientMessage>(&message).is_err(), "{}", message);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_an_error(
        value in json_value().prop_filter("not a bool", |v| !v.is_boolean()),
        not_text in json_value().prop_filter("not a string", |v| !v.is_string()),
    ) {
        let events = json!({"type": "events", "enabled": value}).to_string();
        prop_assert!(serde_json::from_str::<ClientMessage>(&events).is_err(), "{}", events);
        let login = json!({"server": not_text, "username": "u", "secret": "s"}).to_string();
        prop_assert!(serde_json::from_str::<LoginRequest>(&login).is_err(), "{}", login);
        let hangup = json!({"server": "demo", "action": "hangup", "channel": not_text}).to_string();
        prop_assert!(serde_json::from_str::<ActionRequest>(&hangup).is_err(), "{}", hangup);
    }
}
