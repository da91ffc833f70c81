//! Browser tests: the panel mounted in a real Chromium, driven through its state.
#![cfg(target_arch = "wasm32")]

use frontend::components::Panel;
use frontend::socket::SocketState;
use leptos::prelude::*;
use shared::protocol::{LinkState, ServerMessage, ServerStatus};
use shared::state::PanelState;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn text_of(testid: &str) -> String {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a browser document");
    let selector = format!("[data-testid='{testid}']");
    let element = document
        .query_selector(&selector)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no {selector}"));
    element.text_content().unwrap_or_default()
}

/// Lets Leptos run the effects a signal change scheduled.
async fn settle() {
    leptos::task::tick().await;
}

#[wasm_bindgen_test]
async fn the_panel_shows_link_state_and_counts_events() {
    let panel = RwSignal::new(PanelState::default());
    let socket_state = RwSignal::new(SocketState::Connecting);
    leptos::mount::mount_to_body(move || view! { <Panel panel socket_state /> });
    settle().await;
    assert_eq!(text_of("event-count"), "0");
    assert_eq!(text_of("relay-state"), "Relay: connecting");

    let demo = ServerStatus {
        name: "demo".into(),
        link: LinkState::Up,
        detail: None,
        events_received: 0,
    };
    panel.update(|p| {
        p.apply(&ServerMessage::Snapshot {
            servers: vec![demo],
        })
    });
    panel.update(|p| {
        p.apply(&ServerMessage::Events {
            server: "demo".into(),
            names: vec!["Newchannel".into(), "Hangup".into()],
        })
    });
    socket_state.set(SocketState::Open);
    settle().await;

    assert_eq!(text_of("event-count"), "2");
    assert_eq!(text_of("relay-state"), "Relay: connected");
    assert_eq!(text_of("link-state"), "AMI: up");
    assert!(text_of("recent-events").starts_with("Hangup"));
}
