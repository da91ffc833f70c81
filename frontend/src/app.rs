//! The page's frame, the top of the app: login, the top bar with the link state, and
//! the routes to the views.
//!
//! Routes: `/` the agent view, `/supervisor`, `/wallboard`, `/events` (the raw event
//! log) and `/console` (the AMI console), both for supervisors and admins only and the
//! console for accounts allowed the `ami` action, `/audit`, `/history` (the call
//! history, for everyone, with the missed-calls badge in the top bar), `/pop` (the CRM's
//! screen-pop). The logged-in panel owns the socket: logging out closes it, and a
//! socket the relay closes because the login ended brings the login form back.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::protocol::{LinkState, LoginRequest, ServerInfo};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use crate::api::{self, ApiFailure};
use crate::context::{Ctx, MissedCalls};
use crate::i18n::{self, Lang, t, tr, tr_with};
use crate::parts::notifications::{NotificationButtons, Notifier};
use crate::parts::shortcuts::Shortcuts;
use crate::route::{Route, current_path, href};
use crate::selection::Selection;
use crate::socket::SocketState;
use crate::views::{agent, audit, console, event_log, history, pop, supervisor, wallboard};

/// Login state: checked with `/api/v1/me` at start, so a reload keeps the session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Session {
    Checking,
    LoggedOut,
    LoggedIn,
    /// The relay ended the login (logged out elsewhere, expired, account removed).
    Ended,
}

#[component]
pub fn App() -> impl IntoView {
    let route = Route(RwSignal::new(current_path()));
    provide_context(route);
    // Back and forward buttons move between views too, while the app is mounted.
    let on_pop = Closure::<dyn FnMut()>::new(move || route.0.set(current_path()));
    if let Some(window) = web_sys::window() {
        window.set_onpopstate(Some(on_pop.as_ref().unchecked_ref()));
    }
    // Detached by the cleanup, dropped with the owner after it.
    StoredValue::new_local(on_pop);
    on_cleanup(|| {
        if let Some(window) = web_sys::window() {
            window.set_onpopstate(None);
        }
    });

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
            Session::Checking => view! { <p class="muted centre">{tr("app.loading")}</p> }.into_any(),
            Session::LoggedOut => view! { <Login on_login=move || session.set(Session::LoggedIn) /> }.into_any(),
            Session::Ended => view! { <Login on_login=move || session.set(Session::LoggedIn) ended=true /> }.into_any(),
            Session::LoggedIn => view! { <Panel session /> }.into_any(),
        }}
    }
    .into_any()
}

#[component]
fn Login(
    on_login: impl Fn() + Copy + Send + Sync + 'static,
    /// Whether the relay ended the last login, which the form then says.
    #[prop(optional)]
    ended: bool,
) -> impl IntoView {
    let servers = RwSignal::new(Vec::<ServerInfo>::new());
    let server = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let error = RwSignal::new(ended.then(|| t("login.ended")));
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
                    error.set(Some(tr_with("login.refused", &[("reason", &words)])))
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
            <form class="card" on:submit=submit aria-label=tr("login.form")>
                <div class="row login-head">
                    <h1>{tr("app.name")}</h1>
                    <LanguageSwitch />
                </div>
                <label>{tr("login.server")}
                    <select data-testid="login-server" on:change=move |ev| server.set(event_target_value(&ev)) prop:value=move || server.get()>
                        <For each=move || servers.get() key=|s| s.name.clone() let:s>
                            <option value=s.name.clone()>{s.name.clone()}</option>
                        </For>
                    </select>
                </label>
                <label>{tr("login.username")}
                    <input data-testid="login-username" autocomplete="username" required
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev)) />
                </label>
                <label>{tr("login.secret")}
                    <input data-testid="login-secret" type="password" autocomplete="current-password" required
                        prop:value=move || secret.get() on:input=move |ev| secret.set(event_target_value(&ev)) />
                </label>
                <button data-testid="login-submit" type="submit" disabled=move || busy.get()>{tr("login.submit")}</button>
                <p data-testid="login-error" class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
                <Show when=move || !demo().is_empty()>
                    <div class="demo">
                        <p class="muted">{tr("login.demo")}</p>
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
fn Panel(session: RwSignal<Session>) -> impl IntoView {
    let ctx = Ctx::start(None);
    provide_context(ctx);
    Selection::provide();
    let shortcuts = RwSignal::new(false);
    let route = expect_context::<Route>();
    Effect::new(move |_| match ctx.socket.get() {
        SocketState::Ended => session.set(Session::Ended),
        // A socket that keeps failing may mean the login expired: check, then go to login.
        SocketState::Retrying => spawn_local(async move {
            if let Err(ApiFailure::Unauthorized(_)) = api::me(None).await {
                session.set(Session::LoggedOut);
            }
        }),
        SocketState::Connecting | SocketState::Open => {}
    });
    let logout = move |_| {
        // No reconnect, and no socket left on a login that is about to end.
        ctx.close();
        spawn_local(async move {
            api::logout().await;
            session.set(Session::LoggedOut);
        });
    };
    let missed = MissedCalls(RwSignal::new(0));
    provide_context(missed);
    follow_missed_calls(ctx, missed);
    let raw_tools = ctx.raw_tools();
    let offers_raw = move || raw_tools.get() == Some(true);
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
    let link_text = move || {
        t(match link() {
            "up" => "link.up",
            "reconnecting" => "link.reconnecting",
            "resyncing" => "link.resyncing",
            "down" => "link.down",
            _ => "link.connecting",
        })
    };
    // `label` is a catalogue key.
    let nav = move |path: &'static str, label: &'static str| {
        view! {
            <a href=href(path) class:active=move || route.0.get() == path
                on:click=move |ev| { ev.prevent_default(); route.go(path); }>{tr(label)}</a>
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
            <h1>{tr("app.name")}</h1>
            <nav aria-label=tr("header.views")>
                {nav("/", "nav.agent")}{nav("/supervisor", "nav.supervisor")}{nav("/wallboard", "nav.wallboard")}
                <Show when=offers_raw>{nav("/events", "nav.events")}</Show>
                <Show when=move || offers_raw() && ctx.may("ami")()>{nav("/console", "nav.console")}</Show>
                <Show when=ctx.may("ami")>{nav("/audit", "nav.audit")}</Show>
                {nav("/history", "nav.history")}
                <Show when=move || missed.0.get() != 0>
                    <span class="pill missed" data-testid="missed-badge" role="status"
                        title=move || tr_with("history.badge", &[("count", &missed.0.get())])>
                        {move || badge_text(missed.0.get())}
                    </span>
                </Show>
            </nav>
            <span class="pill" data-testid="link-state" data-state=link role="status">{link_text}</span>
            <span class="muted who">{who}</span>
            <LanguageSwitch />
            <NotificationButtons />
            <button class="ghost" data-testid="shortcuts-button" aria-label=tr("keys.open") title=tr("keys.open")
                on:click=move |_| shortcuts.update(|open| *open = !*open)>"?"</button>
            <button class="ghost" on:click=logout>{tr("header.logout")}</button>
        </header>
        <Show when=move || link() != "up">
            <p class="banner" role="status">{move || tr_with("header.stale", &[("state", &link_text())])}</p>
        </Show>
        <Toast />
        <Notifier />
        <Shortcuts open=shortcuts />
        {move || match route.0.get().as_str() {
            "/supervisor" => view! { <supervisor::Supervisor /> }.into_any(),
            "/wallboard" => view! { <wallboard::Wallboard /> }.into_any(),
            // The raw tools wait for the hello, and are not there for an agent.
            "/events" | "/console" if raw_tools.get() != Some(true) => match raw_tools.get() {
                None => view! { <p class="muted centre">{tr("app.loading")}</p> }.into_any(),
                Some(_) => view! { <p class="card centre" data-testid="view-refused" role="alert">{tr("app.view_refused")}</p> }.into_any(),
            },
            "/events" => view! { <event_log::EventLogView /> }.into_any(),
            "/console" => view! { <console::Console /> }.into_any(),
            "/audit" => view! { <audit::AuditView /> }.into_any(),
            "/history" => view! { <history::HistoryView /> }.into_any(),
            "/" => view! { <agent::Agent /> }.into_any(),
            other => {
                let path = other.to_owned();
                view! { <p class="card centre">{move || tr_with("app.no_page", &[("path", &path)])}</p> }.into_any()
            }
        }}
    }
}

/// The badge's number: up to 99, then `99+`.
fn badge_text(count: u32) -> String {
    if count >= shared::protocol::HISTORY_UNSEEN_CAP {
        format!("{}+", shared::protocol::HISTORY_UNSEEN_CAP)
    } else {
        count.to_string()
    }
}

/// How often the badge asks the relay when no call ended meanwhile.
const MISSED_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Keeps the missed-calls badge: asked at once, a second after a call of the live model
/// ends (its `Cdr` reaches the relay as it hangs up), and every [`MISSED_EVERY`].
fn follow_missed_calls(ctx: Ctx, missed: MissedCalls) {
    let ask = move || {
        spawn_local(async move {
            if let Ok(page) = api::history("limit=1").await {
                missed.0.try_set(page.unseen_missed);
            }
        })
    };
    ask();
    let channels = Memo::new(move |_| ctx.live.with(|l| l.model.channels.len()));
    Effect::new(move |before: Option<usize>| {
        let now = channels.get();
        if before.is_some_and(|before| now < before) {
            set_timeout(ask, std::time::Duration::from_secs(1));
        }
        now
    });
    if let Ok(poll) = set_interval_with_handle(ask, MISSED_EVERY) {
        on_cleanup(move || poll.clear());
    }
}

/// The answer to the last action, with Asterisk's words when it refused.
#[component]
fn Toast() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    view! {
        {move || ctx.live.with(|l| l.last_result.clone()).map(|result| {
            let class = if result.ok { "toast ok" } else { "toast failed" };
            let message = result.message.clone();
            let ok = result.ok;
            let text = move || if !message.is_empty() { message.clone() } else if ok { t("toast.done") } else { t("toast.refused") };
            view! {
                <div class=class role="status" data-testid="action-result" data-ok=result.ok.to_string()>
                    {text}
                    <button class="ghost" aria-label=tr("toast.dismiss") on:click=move |_| ctx.live.update(|l| l.last_result = None)>"×"</button>
                </div>
            }
        })}
    }
}

/// The language switch: the panel's languages, each in its own name; the choice is
/// remembered in this browser.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let change = move |ev: leptos::ev::Event| {
        if let Some(lang) = Lang::from_tag(&event_target_value(&ev)) {
            i18n::set_lang(lang);
        }
    };
    view! {
        <select class="language" data-testid="language" aria-label=tr("header.language") on:change=change>
            {Lang::ALL.map(|lang| view! {
                <option value=lang.code() prop:selected=move || i18n::lang() == lang>{lang.native_name()}</option>
            })}
        </select>
    }
}
