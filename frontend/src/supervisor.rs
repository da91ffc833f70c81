//! The supervisor view: every extension, every call grouped by bridge, parked calls
//! and queues, with the actions the account may use. Strings from the PBX are only
//! ever shown as text.

use leptos::prelude::*;
use shared::action::{Action, SpyMode};
use shared::model::{Channel, Queue, ServerModel};

use crate::components::{Ctx, duration, my_extension};
use crate::store::{extension_state, state_label};

/// Tiles drawn at most; a filter narrows a larger system down.
const MAX_TILES: usize = 300;

#[component]
pub fn Supervisor() -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let mine = my_extension();
    view! {
        <main class="content supervisor">
            <section class="card wide" aria-label="Extensions">
                <div class="row">
                    <h2>"Extensions"</h2>
                    <input class="filter" type="search" placeholder="Filter by number, hint or state" aria-label="Filter extensions"
                        prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev)) />
                    <label class="muted">"My phone "
                        <input class="short" aria-label="My extension" prop:value=move || mine.get() on:input=move |ev| mine.set(event_target_value(&ev)) />
                    </label>
                </div>
                <ExtensionGrid filter mine />
            </section>
            <section class="card wide" aria-label="Calls">
                <h2>"Calls"</h2>
                <Calls mine />
            </section>
            <section class="card" aria-label="Parked calls">
                <h2>"Parked"</h2>
                <Parked mine />
            </section>
            <Queues />
        </main>
    }
}

/// An extension tile's data: state folds in a paused queue member on that device.
struct Tile {
    exten: String,
    hint: String,
    state: &'static str,
    presence: Option<String>,
    messages: u32,
}

fn tiles(model: &ServerModel) -> Vec<Tile> {
    model
        .extensions
        .values()
        .map(|e| {
            let devices: Vec<&str> = e.hint.split(['&', ',']).collect();
            let paused = model
                .queues
                .values()
                .flat_map(|q| q.members.values())
                .any(|m| {
                    m.paused
                        && (devices.contains(&m.state_interface.as_str())
                            || devices.contains(&m.interface.as_str()))
                });
            let presence = devices.iter().find_map(|d| {
                d.strip_prefix("CustomPresence:")
                    .and_then(|_| model.presence.get(*d))
                    .filter(|p| !p.status.is_empty() && p.status != "available")
                    .map(|p| p.status.clone())
            });
            let messages = model
                .mailboxes
                .get(&format!("{}@default", e.exten))
                .map_or(0, |m| m.new);
            Tile {
                exten: e.exten.clone(),
                hint: e.hint.clone(),
                state: extension_state(e.status, paused),
                presence,
                messages,
            }
        })
        .collect()
}

#[component]
fn ExtensionGrid(filter: RwSignal<String>, mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let shown = move || {
        let needle = filter.get().to_lowercase();
        ctx.live.with(|l| {
            let all = tiles(&l.model);
            let total = all.len();
            let matching: Vec<Tile> = all
                .into_iter()
                .filter(|t| {
                    needle.is_empty()
                        || t.exten.contains(&needle)
                        || t.hint.to_lowercase().contains(&needle)
                        || t.state.contains(&needle)
                })
                .collect();
            (total, matching)
        })
    };
    let dial = ctx.may("originate");
    view! {
        {move || {
            let (total, matching) = shown();
            let hidden = matching.len().saturating_sub(MAX_TILES);
            let tiles = matching.into_iter().take(MAX_TILES).map(|t| {
                let exten = StoredValue::new(t.exten.clone());
                let label = format!("Call {}", t.exten);
                let call = move |_| {
                    let from = mine.get_untracked();
                    if !from.is_empty() {
                        ctx.act(Action::Originate { from, to: exten.get_value(), context: None, caller_id: None });
                    }
                };
                view! {
                    <li class="tile" data-testid="extension" data-exten=t.exten.clone() data-state=t.state>
                        <span class="exten">{t.exten.clone()}</span>
                        <span class="state">{state_label(t.state)}</span>
                        {t.presence.map(|p| view! { <span class="presence">{p}</span> })}
                        {(t.messages > 0).then(|| view! { <span class="mwi" title="New voicemail">{t.messages}" ✉"</span> })}
                        <Show when=move || dial() && !mine.get().is_empty()>
                            <button class="small" aria-label=label.clone() on:click=call>"Call"</button>
                        </Show>
                    </li>
                }
            }).collect_view();
            view! {
                <ul class="grid" role="list">{tiles}</ul>
                <p class="muted">{format!("{total} extensions")}{(hidden > 0).then(|| format!(", {hidden} more not drawn: narrow the filter"))}</p>
            }
        }}
    }
}

/// One channel row with its actions.
#[component]
pub fn ChannelRow(channel: Channel, mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let name = StoredValue::new(channel.channel.clone());
    let id = StoredValue::new(channel.uniqueid.clone());
    let since = channel.started_ms;
    let recording = move || {
        ctx.live
            .with(|l| l.model.recordings.contains_key(&id.get_value()))
    };
    let act = move |make: fn(String, String) -> Action| {
        move |_| ctx.act(make(name.get_value(), mine.get_untracked()))
    };
    let spy = move |mode: SpyMode| {
        move |_| {
            let from = mine.get_untracked();
            if !from.is_empty() {
                ctx.act(Action::Spy {
                    target_channel: name.get_value(),
                    from,
                    mode,
                });
            }
        }
    };
    let caller = if channel.caller_id_name.is_empty() {
        channel.caller_id_num.clone()
    } else {
        format!("{} <{}>", channel.caller_id_name, channel.caller_id_num)
    };
    let connected = channel.connected_num.clone();
    view! {
        <li class="channel" data-testid="channel" data-channel=channel.channel.clone() data-state=channel.state_desc.clone()>
            <span class="name">{channel.channel.clone()}</span>
            <span class="caller">{caller}</span>
            <span class="muted">{(!connected.is_empty()).then(|| format!("→ {connected}"))}</span>
            <span class="state">{channel.state_desc.clone()}{channel.on_hold.then_some(" (on hold)")}</span>
            <span class="duration">{move || duration(ctx.now.get(), since)}</span>
            <span class="actions">
                <Show when=ctx.may("hangup")><button class="small danger" on:click=act(|c, _| Action::Hangup { channel: c })>"Hang up"</button></Show>
                <Show when=ctx.may("park")><button class="small" on:click=act(|c, _| Action::Park { channel: c })>"Park"</button></Show>
                <Show when=ctx.may("spy")>
                    <button class="small" on:click=spy(SpyMode::Listen)>"Listen"</button>
                    <button class="small" on:click=spy(SpyMode::Whisper)>"Whisper"</button>
                    <button class="small" on:click=spy(SpyMode::Barge)>"Barge"</button>
                </Show>
                <Show when=move || ctx.may("record_start")() && !recording()>
                    <button class="small" on:click=act(|c, _| Action::RecordStart { channel: c, file: None })>"Record"</button>
                </Show>
                <Show when=move || ctx.may("record_stop")() && recording()>
                    <button class="small" on:click=act(|c, _| Action::RecordStop { channel: c })>"Stop recording"</button>
                </Show>
            </span>
        </li>
    }
}

#[component]
fn Calls(mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let groups = move || {
        ctx.live.with(|l| {
            let model = &l.model;
            let mut groups: Vec<(String, Vec<Channel>)> = model
                .calls
                .values()
                .filter(|c| !c.channels.is_empty())
                .map(|c| {
                    let members = c
                        .channels
                        .iter()
                        .filter_map(|id| model.channels.get(id).cloned())
                        .collect();
                    (c.id.clone(), members)
                })
                .collect();
            let alone: Vec<Channel> = model
                .channels
                .values()
                .filter(|c| c.bridge.is_none())
                .cloned()
                .collect();
            if !alone.is_empty() {
                groups.push((String::new(), alone));
            }
            groups
        })
    };
    view! {
        <Show when=move || ctx.live.with(|l| l.model.channels.is_empty())>
            <p class="muted">"No calls right now."</p>
        </Show>
        <For each=groups key=|(id, members)| (id.clone(), members.clone().into_iter().map(|c| (c.channel, c.state, c.caller_id_num, c.on_hold)).collect::<Vec<_>>()) let:group>
            <div class="call" data-bridge=group.0.clone()>
                <h3 class="muted">{if group.0.is_empty() { "Not bridged".to_owned() } else { "Call".to_owned() }}</h3>
                <ul class="channels">
                    {group.1.into_iter().map(|channel| view! { <ChannelRow channel mine /> }).collect_view()}
                </ul>
            </div>
        </For>
    }
}

#[component]
fn Parked(mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let parked = move || {
        ctx.live
            .with(|l| l.model.parked.values().cloned().collect::<Vec<_>>())
    };
    view! {
        <Show when=move || parked().is_empty()><p class="muted">"Nobody is parked."</p></Show>
        <ul class="parked">
            <For each=parked key=|p| (p.uniqueid.clone(), p.space.clone()) let:p>
                <li data-testid="parked" data-space=p.space.clone()>
                    <b>{p.space.clone()}</b>" "{p.caller_id_num.clone()}" "{p.caller_id_name.clone()}
                    <span class="muted">{let since = p.since_ms; move || duration(ctx.now.get(), since)}</span>
                    {
                        let space = StoredValue::new(p.space.clone());
                        view! {
                            <Show when=ctx.may("pickup")>
                                <button class="small" on:click=move |_| {
                                    let from = mine.get_untracked();
                                    if !from.is_empty() { ctx.act(Action::Pickup { space: space.get_value(), from }); }
                                }>"Pick up"</button>
                            </Show>
                        }
                    }
                </li>
            </For>
        </ul>
    }
}

#[component]
pub fn Queues() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let queues = move || {
        ctx.live
            .with(|l| l.model.queues.values().cloned().collect::<Vec<_>>())
    };
    view! {
        <For each=queues key=|q| format!("{q:?}") let:queue>
            <QueueCard queue />
        </For>
    }
}

#[component]
fn QueueCard(queue: Queue) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let reasons = move || {
        ctx.live.with(|l| {
            l.hello
                .as_ref()
                .map(|h| h.pause_reasons.clone())
                .unwrap_or_default()
        })
    };
    let name = queue.name.clone();
    let members = queue.members.values().cloned().map(|m| {
        let reason = RwSignal::new(reasons().first().cloned().unwrap_or_default());
        let interface = m.interface.clone();
        let queue_name = name.clone();
        let toggle = move |_| {
            ctx.act(Action::QueuePause {
                queue: Some(queue_name.clone()),
                interface: interface.clone(),
                paused: !m.paused,
                reason: (!m.paused).then(|| reason.get_untracked()),
            })
        };
        view! {
            <li class="member" data-interface=m.interface.clone() data-paused=m.paused.to_string()>
                <span>{if m.name.is_empty() { m.interface.clone() } else { m.name.clone() }}</span>
                <span class="muted">{if m.paused { format!("paused: {}", m.paused_reason) } else if m.in_call { "in a call".to_owned() } else { "ready".to_owned() }}</span>
                <Show when=ctx.may("queue_pause")>
                    <Show when=move || !m.paused>
                        <select aria-label="Pause reason" on:change=move |ev| reason.set(event_target_value(&ev))>
                            {reasons().into_iter().map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                        </select>
                    </Show>
                    <button class="small" on:click=toggle.clone()>{if m.paused { "Unpause" } else { "Pause" }}</button>
                </Show>
            </li>
        }
    }).collect_view();
    let callers = queue.callers.values().map(|c| {
        let joined = c.joined_ms;
        view! { <li>{c.position}". "{c.caller_id_num.clone()}" "{c.caller_id_name.clone()}" "<span class="muted">{move || duration(ctx.now.get(), joined)}</span></li> }
    }).collect_view();
    view! {
        <section class="card" data-testid="queue" data-queue=queue.name.clone() aria-label=format!("Queue {}", queue.name)>
            <h2>"Queue "{queue.name.clone()}</h2>
            <p class="muted">{format!("{} waiting · {} answered · {} abandoned", queue.callers.len(), queue.completed, queue.abandoned)}</p>
            <ul class="members">{members}</ul>
            <ol class="callers">{callers}</ol>
        </section>
    }
}
