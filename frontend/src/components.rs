//! The panel's views. They read the panel state; only [`crate::socket`] writes it.

use leptos::prelude::*;
use shared::protocol::LinkState;
use shared::state::PanelState;

use crate::socket::{self, SocketState};

/// The whole page: it opens the relay socket and lays out the views.
#[component]
pub fn App() -> impl IntoView {
    let panel = RwSignal::new(PanelState::default());
    let socket_state = RwSignal::new(SocketState::Connecting);
    socket::connect(panel, socket_state);
    view! { <Panel panel socket_state /> }
}

/// The layout, given its state: split from [`App`] so tests can mount it without a relay.
#[component]
pub fn Panel(panel: RwSignal<PanelState>, socket_state: RwSignal<SocketState>) -> impl IntoView {
    view! {
        <header class="topbar">
            <h1>"AstPanel"</h1>
            <span class="pill" data-testid="relay-state" data-state=move || socket_state.get().label()>
                "Relay: " {move || socket_state.get().label()}
            </span>
        </header>
        <main class="content">
            <section class="card">
                <h2>"Events received"</h2>
                <p class="big-number" data-testid="event-count">
                    {move || panel.with(PanelState::events_received)}
                </p>
                <p class="muted caption">"AMI events since the relay started"</p>
            </section>
            <section class="card">
                <h2>"Asterisk servers"</h2>
                <ServerList panel />
            </section>
            <section class="card wide">
                <h2>"Latest events"</h2>
                <RecentEvents panel />
            </section>
        </main>
    }
}

#[component]
fn ServerList(panel: RwSignal<PanelState>) -> impl IntoView {
    let names =
        move || panel.with(|p| p.servers.iter().map(|s| s.name.clone()).collect::<Vec<_>>());
    view! {
        <ul class="servers" data-testid="servers">
            <Show when=move || panel.with(|p| p.servers.is_empty())>
                <li class="muted">"Waiting for the relay…"</li>
            </Show>
            <For each=names key=|name| name.clone() let:name>
                <ServerRow panel name />
            </For>
        </ul>
    }
}

#[component]
fn ServerRow(panel: RwSignal<PanelState>, name: String) -> impl IntoView {
    // A memo, because two views read it and it is Copy, unlike a closure over `name`.
    let status = {
        let name = name.clone();
        Memo::new(move |_| panel.with(|p| p.servers.iter().find(|s| s.name == name).cloned()))
    };
    let link = move || link_label(status.get().map_or(LinkState::Connecting, |s| s.link));
    let detail = move || status.get().and_then(|s| s.detail).unwrap_or_default();
    view! {
        <li class="server" data-testid="server">
            <span class="server-name">{name}</span>
            <span class="pill" data-testid="link-state" data-state=link>
                "AMI: " {link}
            </span>
            <span class="muted detail">{detail}</span>
        </li>
    }
}

pub fn link_label(link: LinkState) -> &'static str {
    match link {
        LinkState::Connecting => "connecting",
        LinkState::Up => "up",
        LinkState::Down => "down",
    }
}

#[component]
fn RecentEvents(panel: RwSignal<PanelState>) -> impl IntoView {
    view! {
        <ol class="recent" data-testid="recent-events">
            <Show when=move || panel.with(|p| p.recent.is_empty())>
                <li class="muted placeholder">"Waiting for the next event…"</li>
            </Show>
            <For each=move || panel.with(|p| p.recent.clone()) key=|event| event.seq let:event>
                <li>{event.name}</li>
            </For>
        </ol>
    }
}
