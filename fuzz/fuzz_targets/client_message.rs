//! What a browser or a script sends: WebSocket messages and the HTTP API's bodies.
//! Decoding any bytes never panics, and whatever decodes encodes and decodes again
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::action::ActionRequest;
use shared::protocol::{ClientMessage, ExchangeRequest, LoginRequest};

fuzz_target!(|input: &[u8]| {
    if let Ok(message) = serde_json::from_slice::<ClientMessage>(input) {
        let json = serde_json::to_vec(&message).expect("a decoded message encodes");
        let again: ClientMessage = serde_json::from_slice(&json).expect("and decodes again");
        assert_eq!(again, message);
    }
    if let Ok(request) = serde_json::from_slice::<ActionRequest>(input) {
        let json = serde_json::to_vec(&request).expect("a decoded action encodes");
        let again: ActionRequest = serde_json::from_slice(&json).expect("and decodes again");
        assert_eq!(again, request);
    }
    let _ = serde_json::from_slice::<LoginRequest>(input);
    let _ = serde_json::from_slice::<ExchangeRequest>(input);
});
