//! The page's frame: login, the top bar with the link state, and the routes.
//!
//! Routes: `/` the agent view, `/supervisor`, `/wallboard`, `/events` (the raw event
//! log), `/console` (the AMI console, for accounts allowed it), `/pop` (the CRM's
//! screen-pop). A tiny router over `history.pushState` keeps the bundle small.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::action::{Action, ActionRequest};
use shared::protocol::{ClientMessage, LinkState, LoginRequest, ServerInfo};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::api::{self, ApiFailure};
use crate::event_log::{EventLog, EventLogView};
use crate::socket::{self, Sender, SocketState};
use crate::store::Live;
use crate::{agent, console, pop, supervisor, wallboard};

/// What every view reads and how it acts; `Copy`, so closures take it freely.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub live: RwSignal<Live>,
    /// Raw events, only while the event log is open.
    pub log: RwSignal<EventLog>,
    pub socket: RwSignal<SocketState>,
    pub sender: StoredValue<Sender, LocalStorage>,
    /// Milliseconds since the epoch, ticking once a second for live durations.
    pub now: RwSignal<f64>,
    next_id: StoredValue<u64>,
}

impl Ctx {
    /// Sends an action for the logged-in server; its answer shows in the toast.
    pub fn act(self, action: Action) {
        self.send_action(action);
    }

    /// Sends an action for the console, whose answer shows there instead.
    pub fn ask_console(self, action: Action) {
        let id = self.send_action(action);
        self.live.update(|l| {
            l.console_id = id;
            l.console_result = None;
        });
    }

    /// Starts or stops the raw events the event log shows.
    pub fn subscribe_events(self, enabled: bool) {
        // Also called from a cleanup, when the page may already be gone.
        let _ = self.sender.try_with_value(|s| s.want_events(enabled));
    }

    /// Sends an action; its id, or `None` (and a failed answer) when it could not go.
    fn send_action(self, action: Action) -> Option<String> {
        let server = self
            .live
            .with_untracked(|l| l.hello.as_ref().map(|h| h.server.clone()))?;
        let n = self.next_id.get_value() + 1;
        self.next_id.set_value(n);
        let id = format!("a{n}");
        let request = ActionRequest {
            id: Some(id.clone()),
            server,
            action,
        };
        let sent = self
            .sender
            .with_value(|s| s.send(&ClientMessage::Action(request)));
        if sent {
            return Some(id);
        }
        self.live.update(|l| {
            l.last_result = Some(shared::action::ActionResult::failed(
                None,
                "Not connected to the relay",
            ))
        });
        None
    }

    /// `build` over the model, rebuilt only when `revision` (a counter in [`Live`] of the
    /// changes that matter to it) moves, not on every delta.
    pub fn model_memo<T: PartialEq + Send + Sync + 'static>(
        self,
        revision: fn(&Live) -> u64,
        build: fn(&shared::model::ServerModel) -> T,
    ) -> Memo<T> {
        let live = self.live;
        let moved = Memo::new(move |_| live.with(revision));
        Memo::new(move |_| {
            // Read, not only tracked: a Memo that is only tracked is never computed, so
            // it would never learn of a change.
            moved.get();
            live.with_untracked(|l| build(&l.model))
        })
    }

    pub fn may(self, action: &'static str) -> impl Fn() -> bool + Copy + 'static {
        let live = self.live;
        move || live.with(|l| l.may(action))
    }
}

/// The current view's path (`/`, `/supervisor`, ...), and a way to go elsewhere
/// without reloading.
///
/// Paths are the app's own, below [`base_path`]: behind a proxy that serves the panel
/// under `/astpanel/`, `/supervisor` is `/astpanel/supervisor` in the address bar.
#[derive(Clone, Copy)]
pub struct Route(pub RwSignal<String>);

impl Route {
    pub fn go(&self, path: &str) {
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let url = href(path);
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
        self.0.set(path.to_owned());
    }
}

/// Where the app is served: the folder of the page it was loaded from (`/`, or
/// `/astpanel/` behind a proxy), as its assets, the API (`api/v1/...`) and the socket
/// (`ws`) are asked for relative to it. Every view is one level below it, so a reload
/// on any view gives the same folder.
pub fn base_path() -> String {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    match path.rfind('/') {
        Some(end) => path[..=end].to_owned(),
        None => "/".to_owned(),
    }
}

/// The address-bar path of the app path `path`.
pub fn href(path: &str) -> String {
    format!("{}{}", base_path(), path.trim_start_matches('/'))
}

fn current_path() -> String {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let view = path.rsplit('/').next().unwrap_or_default();
    format!("/{view}")
}

/// Login state: checked with `/api/v1/me` at start, so a reload keeps the session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Session {
    Checking,
    LoggedOut,
    LoggedIn,
}

#[component]
pub fn App() -> impl IntoView {
    let route = Route(RwSignal::new(current_path()));
    provide_context(route);
    // Back and forward buttons move between views too.
    let on_pop = Closure::<dyn FnMut()>::new(move || route.0.set(current_path()));
    if let Some(window) = web_sys::window() {
        window.set_onpopstate(Some(on_pop.as_ref().unchecked_ref()));
    }
    on_pop.forget();

    let is_pop = route.0.get_untracked() == "/pop";
    if is_pop {
        return view! { <pop::ScreenPop /> }.into_any();
    }
    let session = RwSignal::new(Session::Checking);
    spawn_local(async move {
        session.set(match api::me(None).await {
            Ok(_) => Session::LoggedIn,
            Err(_) => Session::LoggedOut,
        });
    });
    view! {
        {move || match session.get() {
            Session::Checking => view! { <p class="muted centre">"Loading…"</p> }.into_any(),
            Session::LoggedOut => view! { <Login on_login=move || session.set(Session::LoggedIn) /> }.into_any(),
            Session::LoggedIn => view! { <Panel on_logout=move || session.set(Session::LoggedOut) /> }.into_any(),
        }}
    }
    .into_any()
}

/// Starts the socket and the clock, and hands them to the views.
pub fn start(token: Option<String>) -> Ctx {
    let live = RwSignal::new(Live::default());
    let log = RwSignal::new(EventLog::default());
    let state = RwSignal::new(SocketState::Connecting);
    let sender = socket::connect(live, log, state, token);
    let now = RwSignal::new(js_sys::Date::now());
    set_interval(
        move || now.set(js_sys::Date::now()),
        std::time::Duration::from_secs(1),
    );
    Ctx {
        live,
        log,
        socket: state,
        sender: StoredValue::new_local(sender),
        now,
        next_id: StoredValue::new(0),
    }
}

#[component]
fn Login(on_login: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let servers = RwSignal::new(Vec::<ServerInfo>::new());
    let server = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    spawn_local(async move {
        match api::servers().await {
            Ok(list) => {
                if let Some(first) = list.first() {
                    server.set(first.name.clone());
                }
                servers.set(list);
            }
            Err(failure) => error.set(Some(failure.message())),
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let request = LoginRequest {
            server: server.get_untracked(),
            username: username.get_untracked(),
            secret: secret.get_untracked(),
        };
        spawn_local(async move {
            match api::login(&request).await {
                Ok(_) => on_login(),
                Err(ApiFailure::Unauthorized(words)) => {
                    error.set(Some(format!("Login refused: {words}")))
                }
                Err(other) => error.set(Some(other.message())),
            }
            busy.set(false);
        });
    };
    let demo = move || {
        servers.with(|list| {
            list.iter()
                .find(|s| s.name == server.get())
                .map(|s| s.demo_accounts.clone())
                .unwrap_or_default()
        })
    };
    view! {
        <main class="login">
            <form class="card" on:submit=submit aria-label="Log in">
                <h1>"AstPanel"</h1>
                <label>"Server"
                    <select data-testid="login-server" on:change=move |ev| server.set(event_target_value(&ev)) prop:value=move || server.get()>
                        <For each=move || servers.get() key=|s| s.name.clone() let:s>
                            <option value=s.name.clone()>{s.name.clone()}</option>
                        </For>
                    </select>
                </label>
                <label>"Username"
                    <input data-testid="login-username" autocomplete="username" required
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                </label>
                <label>"Secret"
                    <input data-testid="login-secret" type="password" autocomplete="current-password" required
                        prop:value=move || secret.get() on:input=move |ev| secret.set(event_target_value(&ev)) />
                </label>
                <button data-testid="login-submit" type="submit" disabled=move || busy.get()>"Log in"</button>
                <p data-testid="login-error" class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
                <Show when=move || !demo().is_empty()>
                    <div class="demo">
                        <p class="muted">"Demo accounts (click to fill in):"</p>
                        <For each=demo key=|a| a.username.clone() let:account>
                            <button type="button" class="chip" on:click={
                                let account = account.clone();
                                move |_| { username.set(account.username.clone()); secret.set(account.secret.clone()); }
                            }>
                                <b>{account.username.clone()}</b>" / "{account.secret.clone()}" — "{account.role.clone()}
                            </button>
                        </For>
                    </div>
                </Show>
            </form>
        </main>
    }
}

#[component]
fn Panel(on_logout: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let ctx = start(None);
    provide_context(ctx);
    let route = expect_context::<Route>();
    // A socket that keeps failing may mean the login expired: check, then go to login.
    Effect::new(move |_| {
        if ctx.socket.get() == SocketState::Retrying {
            spawn_local(async move {
                if let Err(ApiFailure::Unauthorized(_)) = api::me(None).await {
                    on_logout();
                }
            });
        }
    });
    let logout = move |_| {
        spawn_local(async move {
            api::logout().await;
            on_logout();
        });
    };
    let link = move || {
        if ctx.socket.get() != SocketState::Open {
            return "reconnecting";
        }
        match ctx.live.with(|l| l.link_state()) {
            Some(LinkState::Up) => "up",
            Some(LinkState::Resyncing) => "resyncing",
            Some(LinkState::Down) => "down",
            Some(LinkState::Connecting) | None => "connecting",
        }
    };
    let nav = move |path: &'static str, label: &'static str| {
        view! {
            <a href=href(path) class:active=move || route.0.get() == path
                on:click=move |ev| { ev.prevent_default(); route.go(path); }>{label}</a>
        }
    };
    let who = move || {
        ctx.live.with(|l| {
            l.hello
                .as_ref()
                .map(|h| format!("{}@{}", h.username, h.server))
                .unwrap_or_default()
        })
    };
    view! {
        <header class="topbar">
            <h1>"AstPanel"</h1>
            <nav aria-label="Views">
                {nav("/", "Agent")}{nav("/supervisor", "Supervisor")}{nav("/wallboard", "Wallboard")}{nav("/events", "Events")}
                <Show when=ctx.may("ami")>{nav("/console", "Console")}{nav("/audit", "Audit")}</Show>
            </nav>
            <span class="pill" data-testid="link-state" data-state=link role="status">{link}</span>
            <span class="muted who">{who}</span>
            <button class="ghost" on:click=logout>"Log out"</button>
        </header>
        <Show when=move || link() != "up">
            <p class="banner" role="status">"The live view is not up to date: "{link}". It refreshes by itself once the link is back."</p>
        </Show>
        <Toast />
        {move || match route.0.get().as_str() {
            "/supervisor" => view! { <supervisor::Supervisor /> }.into_any(),
            "/wallboard" => view! { <wallboard::Wallboard /> }.into_any(),
            "/events" => view! { <EventLogView /> }.into_any(),
            "/console" => view! { <console::Console /> }.into_any(),
            "/audit" => view! { <crate::audit::AuditView /> }.into_any(),
            "/" => view! { <agent::Agent /> }.into_any(),
            other => view! { <p class="card centre">"There is no page "{other.to_owned()}" here."</p> }.into_any(),
        }}
    }
}

/// The answer to the last action, with Asterisk's words when it refused.
#[component]
fn Toast() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    view! {
        {move || ctx.live.with(|l| l.last_result.clone()).map(|result| {
            let class = if result.ok { "toast ok" } else { "toast failed" };
            let text = if result.message.is_empty() { if result.ok { "Done".to_owned() } else { "Refused".to_owned() } } else { result.message.clone() };
            view! {
                <div class=class role="status" data-testid="action-result" data-ok=result.ok.to_string()>
                    {text}
                    <button class="ghost" aria-label="Dismiss" on:click=move |_| ctx.live.update(|l| l.last_result = None)>"×"</button>
                </div>
            }
        })}
    }
}

/// `text` in lower case, as `str::to_lowercase` writes it: ASCII here, anything else by
/// the browser's own `toLowerCase` (the same Unicode mapping), which keeps Rust's case
/// tables (7 KB of the bundle after brotli) out of it.
pub fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        js_sys::JsString::from(text).to_lower_case().into()
    }
}

/// `1:05`, `12:00:03`: how long since `since_ms`.
pub fn duration(now_ms: f64, since_ms: i64) -> String {
    let seconds = ((now_ms as i64 - since_ms) / 1000).max(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The person's own extension, kept in this browser.
pub fn my_extension() -> RwSignal<String> {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let initial = storage
        .as_ref()
        .and_then(|s| s.get_item("astpanel.exten").ok().flatten())
        .unwrap_or_default();
    let exten = RwSignal::new(initial);
    Effect::new(move |_| {
        let value = exten.get();
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item("astpanel.exten", &value);
        }
    });
    exten
}

// The browser's `toLowerCase` is only there in the browser.
#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::lowercase;

    #[wasm_bindgen_test::wasm_bindgen_test]
    fn lowercase_is_what_rust_writes_in_ascii_and_beyond() {
        for text in [
            "PJSIP/1001 Alice",
            "ÉLODIE Ærø",
            "ΟΔΥΣΣΕΥΣ",
            "İstanbul",
            "ǅ ẞ",
        ] {
            assert_eq!(lowercase(text), text.to_lowercase(), "{text}");
        }
    }
}
