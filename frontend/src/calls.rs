//! The supervisor's call list: every channel, grouped by the call (bridge) it is in,
//! with the actions the account may use. Up to [`UNWINDOWED_ROWS`] channels are all
//! drawn; beyond that only the rows in view are, so 500 calls scroll smoothly.

use leptos::prelude::*;
use shared::action::{Action, SpyMode};
use shared::model::{Channel, ServerModel};

use crate::components::{Ctx, duration};
use crate::windowing::{ScrollBox, padding, visible_rows};

/// Channels drawn in full before the list windows itself: a few hundred rows are
/// cheap, and every channel stays in the DOM for whoever reads the page whole.
pub const UNWINDOWED_ROWS: usize = 300;

/// Used until a row has been drawn once: CSS fixes a row's height.
const FALLBACK_PITCH: f64 = 56.0;

/// One row of the list: a channel and the call it belongs to (empty: not bridged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub call: String,
    pub channel: Channel,
}

/// Every channel, call by call, then the channels in no call.
pub fn rows(model: &ServerModel) -> Vec<Row> {
    let bridged = model.calls.values().flat_map(|call| {
        call.channels.iter().filter_map(|id| {
            Some(Row {
                call: call.id.clone(),
                channel: model.channels.get(id)?.clone(),
            })
        })
    });
    let alone = model
        .channels
        .values()
        .filter(|c| c.bridge.is_none())
        .map(|channel| Row {
            call: String::new(),
            channel: channel.clone(),
        });
    bridged.chain(alone).collect()
}

/// A call's id (empty: not bridged) and its channels that are drawn.
pub type Group = (String, Vec<Channel>);

/// What a row shows that can change: channel, state, caller, connected line, hold.
type Shown = (String, u8, String, String, bool);

/// Consecutive rows of one call, as the list draws them together.
pub fn grouped(rows: &[Row]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for row in rows {
        match groups.last_mut() {
            Some((call, members)) if *call == row.call => members.push(row.channel.clone()),
            _ => groups.push((row.call.clone(), vec![row.channel.clone()])),
        }
    }
    groups
}

/// What a drawn group shows: it is drawn again when any of it changes.
fn group_key(group: &Group) -> (String, Vec<Shown>) {
    let shown = group.1.iter().map(|c| {
        (
            c.channel.clone(),
            c.state,
            c.caller_id_num.clone(),
            c.connected_num.clone(),
            c.on_hold,
        )
    });
    (group.0.clone(), shown.collect())
}

#[component]
pub fn Calls(mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let all = Memo::new(move |_| ctx.live.with(|l| rows(&l.model)));
    let scroll = ScrollBox::new();
    // (first row, last row, padding above, padding below).
    let window = Memo::new(move |_| {
        let count = all.with(Vec::len);
        if count <= UNWINDOWED_ROWS {
            return (0, count, 0, 0);
        }
        let pitch = scroll.row_height(".channel").unwrap_or(FALLBACK_PITCH);
        let range = visible_rows(scroll.viewport.get(), pitch, count);
        let (above, below) = padding(&range, count, pitch);
        (range.start, range.end, above as i64, below as i64)
    });
    let groups = move || {
        let (start, end, ..) = window.get();
        all.with(|rows| rows.get(start..end).map(grouped).unwrap_or_default())
    };
    view! {
        <Show when=move || all.with(Vec::is_empty)>
            <p class="muted">"No calls right now."</p>
        </Show>
        <div class="scroll-box calls" node_ref=scroll.node on:scroll=move |_| scroll.measure()
            tabindex="0" role="region" aria-label="Call list">
            <div style:padding-top=move || format!("{}px", window.get().2)
                style:padding-bottom=move || format!("{}px", window.get().3)>
                <For each=groups key=group_key let:group>
                    <div class="call" data-bridge=group.0.clone()
                        aria-label=if group.0.is_empty() { "Not bridged" } else { "Call" }>
                        <ul class="channels">
                            {group.1.into_iter().map(|channel| view! { <ChannelRow channel mine /> }).collect_view()}
                        </ul>
                    </div>
                </For>
            </div>
        </div>
        <p class="muted" role="status">{move || format!("{} channels", all.with(Vec::len))}</p>
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
            <span class="about">
                <span class="name">{channel.channel.clone()}</span>
                <span class="caller">{caller}</span>
                <span class="muted">{(!connected.is_empty()).then(|| format!("→ {connected}"))}</span>
                <span class="state">{channel.state_desc.clone()}{channel.on_hold.then_some(" (on hold)")}</span>
                <span class="duration">{move || duration(ctx.now.get(), since)}</span>
            </span>
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

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::Call;

    fn channel(id: &str, bridge: Option<&str>) -> Channel {
        Channel {
            uniqueid: id.into(),
            channel: format!("PJSIP/{id}"),
            bridge: bridge.map(String::from),
            ..Channel::default()
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn rows_come_call_by_call_then_the_lone_channels_and_group_back() {
        let mut model = ServerModel::default();
        for c in [
            channel("a", Some("b1")),
            channel("b", Some("b1")),
            channel("c", None),
            channel("d", Some("b2")),
        ] {
            model.channels.insert(c.uniqueid.clone(), c);
        }
        for (id, members) in [("b1", vec!["a", "b"]), ("b2", vec!["d", "gone"])] {
            let call = Call {
                id: id.into(),
                channels: members.into_iter().map(String::from).collect(),
                ..Call::default()
            };
            model.calls.insert(id.into(), call);
        }
        let rows = rows(&model);
        let order: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.call.as_str(), r.channel.uniqueid.as_str()))
            .collect();
        assert_eq!(order, [("b1", "a"), ("b1", "b"), ("b2", "d"), ("", "c")]);
        let groups = grouped(&rows[1..]);
        let sizes: Vec<(&str, usize)> = groups.iter().map(|(c, m)| (c.as_str(), m.len())).collect();
        assert_eq!(
            sizes,
            [("b1", 1), ("b2", 1), ("", 1)],
            "a window may cut a call"
        );
    }
}
