//! The supervisor's call list: every channel, grouped by the call (bridge) it is in,
//! with the actions the account may use. Up to [`UNWINDOWED_ROWS`] channels are all
//! drawn; beyond that only the rows in view are, so 500 calls scroll smoothly.

use leptos::prelude::*;
use shared::action::{Action, SpyMode};
use shared::model::{Channel, ServerModel};

use crate::context::Ctx;
use crate::format::{channel_state, duration};
use crate::i18n::{t, tr, tr_with};
use crate::selection::Selection;
use crate::windowing::{ScrollBox, padding, row_height, visible_rows};

/// Channels drawn in full before the list windows itself: a few hundred rows are
/// cheap, and every channel stays in the DOM for whoever reads the page whole.
pub const UNWINDOWED_ROWS: usize = 300;

/// Used until a row has been drawn once: CSS fixes a row's height.
const FALLBACK_PITCH: f64 = 56.0;

/// One row of the list: a channel's uniqueid and the call it belongs to (empty: not
/// bridged). Only ids, so the list's order costs little to rebuild on every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub call: String,
    pub uniqueid: String,
}

/// Every channel, call by call, then the channels in no call.
pub fn rows(model: &ServerModel) -> Vec<Row> {
    // Every live channel gets exactly one row: in its own call's run when the call
    // lists it, else among the lone channels. A call's list and a channel's `bridge`
    // come from different events, so the one never hides or doubles the other.
    let in_its_call = |id: &String, call: &str| {
        model
            .channels
            .get(id)
            .is_some_and(|c| c.bridge.as_deref() == Some(call))
    };
    let mut placed = std::collections::HashSet::new();
    let bridged: Vec<Row> = model
        .calls
        .values()
        .flat_map(|call| {
            call.channels
                .iter()
                .filter(move |id| in_its_call(id, &call.id))
                .map(|id| Row {
                    call: call.id.clone(),
                    uniqueid: id.clone(),
                })
        })
        .filter(|row| placed.insert(row.uniqueid.clone()))
        .collect();
    let alone = model
        .channels
        .values()
        .filter(|c| !placed.contains(&c.uniqueid))
        .map(|channel| Row {
            call: String::new(),
            uniqueid: channel.uniqueid.clone(),
        });
    bridged.into_iter().chain(alone).collect()
}

/// A drawn row: whether it starts its call's run of rows (a line above it), its call,
/// and the channel. Keyed by all of it, so a change redraws that row alone.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Drawn {
    first: bool,
    call: String,
    channel: Channel,
}

/// The rows `range` of `rows` with their channels, each marked when it starts a
/// call's run.
fn drawn(rows: &[Row], range: std::ops::Range<usize>, model: &ServerModel) -> Vec<Drawn> {
    let start = range.start;
    rows.get(range)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, row)| {
            Some(Drawn {
                first: i == 0 || rows[start + i - 1].call != row.call,
                call: row.call.clone(),
                channel: model.channels.get(&row.uniqueid)?.clone(),
            })
        })
        .collect()
}

/// What a row shows that can change: call, line above, channel, state, caller,
/// connected line, hold.
type Shown = (String, bool, String, u8, String, String, bool);

fn row_key(row: &Drawn) -> Shown {
    let c = &row.channel;
    (
        row.call.clone(),
        row.first,
        c.channel.clone(),
        c.state,
        c.caller_id_num.clone(),
        c.connected_num.clone(),
        c.on_hold,
    )
}

#[component]
pub fn Calls(mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    // Re-sorted only when a row moves; a row's content is read as it is drawn.
    let all = ctx.model_memo(|l| l.rows_revision, rows);
    let scroll = ScrollBox::new(|list| Some((1, row_height(list, ".channel")?)));
    // The first rows drawn give the pitch.
    Effect::new(move |_| {
        if !all.with(Vec::is_empty) {
            scroll.measure_if_unmeasured();
        }
    });
    // (first row, last row, padding above, padding below).
    let window = Memo::new(move |_| {
        let count = all.with(Vec::len);
        if count <= UNWINDOWED_ROWS {
            return (0, count, 0, 0);
        }
        let viewport = scroll.viewport.get();
        let pitch = viewport.pitch.unwrap_or(FALLBACK_PITCH);
        let range = visible_rows(viewport, pitch, count);
        let (above, below) = padding(&range, count, pitch);
        (range.start, range.end, above as i64, below as i64)
    });
    let shown = move || {
        let (start, end, ..) = window.get();
        all.with(|rows| ctx.live.with(|l| drawn(rows, start..end, &l.model)))
    };
    view! {
        <Show when=move || all.with(Vec::is_empty)>
            <p class="muted">{tr("calls.none")}</p>
        </Show>
        <div class="scroll-box calls" node_ref=scroll.node on:scroll=move |_| scroll.measure()
            tabindex="0" role="region" aria-label=tr("calls.list")>
            <ul class="channels"
                style:padding-top=move || format!("{}px", window.get().2)
                style:padding-bottom=move || format!("{}px", window.get().3)>
                <For each=shown key=row_key let:row>
                    <ChannelRow channel=row.channel call=row.call first=row.first mine />
                </For>
            </ul>
        </div>
        <p class="muted" data-testid="channel-count" role="status">{move || tr_with("calls.count", &[("count", &all.with(Vec::len))])}</p>
    }
}

/// One channel row with its actions; `call` is its bridge (empty: none), `first` when
/// it starts its call's run of rows.
#[component]
fn ChannelRow(
    channel: Channel,
    call: String,
    first: bool,
    mine: RwSignal<String>,
) -> impl IntoView {
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
    let selection = Selection::get();
    let selected = move || selection.is_some_and(|s| name.with_value(|n| s.is_channel(n)));
    let pick = move |_| {
        if let Some(selection) = selection {
            selection.channel.set(Some(name.get_value()));
        }
    };
    view! {
        <li class="channel" class:first=first data-testid="channel" data-channel=channel.channel.clone()
            data-state=channel.state_desc.clone() data-bridge=call
            class:selected=selected data-selected=move || selected().to_string() on:click=pick>
            <span class="about">
                <span class="name">{channel.channel.clone()}</span>
                <span class="caller">{caller}</span>
                <span class="muted">{(!connected.is_empty()).then(|| format!("→ {connected}"))}</span>
                <span class="state">{let desc = channel.state_desc.clone(); move || channel_state(&desc)}{channel.on_hold.then_some(move || format!(" {}", t("call.on_hold")))}</span>
                <span class="duration">{move || duration(ctx.now.get(), since)}</span>
            </span>
            <span class="actions">
                <Show when=ctx.may("hangup")><button class="small danger" on:click=act(|c, _| Action::Hangup { channel: c })>{tr("call.hangup")}</button></Show>
                <Show when=ctx.may("park")><button class="small" on:click=act(|c, _| Action::Park { channel: c })>{tr("call.park")}</button></Show>
                <Show when=ctx.may("spy")>
                    <button class="small" on:click=spy(SpyMode::Listen)>{tr("call.listen")}</button>
                    <button class="small" on:click=spy(SpyMode::Whisper)>{tr("call.whisper")}</button>
                    <button class="small" on:click=spy(SpyMode::Barge)>{tr("call.barge")}</button>
                </Show>
                <Show when=move || ctx.may("record_start")() && !recording()>
                    <button class="small" on:click=act(|c, _| Action::RecordStart { channel: c, file: None })>{tr("call.record")}</button>
                </Show>
                <Show when=move || ctx.may("record_stop")() && recording()>
                    <button class="small" on:click=act(|c, _| Action::RecordStop { channel: c })>{tr("call.stop_recording")}</button>
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

    fn drawn_firsts(model: &ServerModel, range: std::ops::Range<usize>) -> Vec<bool> {
        drawn(&rows(model), range, model)
            .iter()
            .map(|d| d.first)
            .collect()
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn rows_come_call_by_call_then_the_lone_channels_and_each_call_starts_a_run() {
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
            .map(|r| (r.call.as_str(), r.uniqueid.as_str()))
            .collect();
        assert_eq!(order, [("b1", "a"), ("b1", "b"), ("b2", "d"), ("", "c")]);
        assert_eq!(
            drawn_firsts(&model, 1..4),
            [true, true, true],
            "a window may start inside a call; each new call starts a run"
        );
        assert_eq!(
            drawn_firsts(&model, 0..2),
            [true, false],
            "the second channel of a call continues its run"
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn every_channel_has_one_row_when_calls_and_channels_disagree() {
        let mut model = ServerModel::default();
        for c in [
            // Listed by b1 and by b2, but in b2 by its own word.
            channel("a", Some("b2")),
            // In b1 by its own word, but b1 does not list it (yet).
            channel("b", Some("b1")),
            // In a call the model does not have.
            channel("c", Some("b9")),
        ] {
            model.channels.insert(c.uniqueid.clone(), c);
        }
        for (id, members) in [("b1", vec!["a"]), ("b2", vec!["a", "a"])] {
            let call = Call {
                id: id.into(),
                channels: members.into_iter().map(String::from).collect(),
                ..Call::default()
            };
            model.calls.insert(id.into(), call);
        }
        let mut order: Vec<(String, String)> = rows(&model)
            .into_iter()
            .map(|r| (r.call, r.uniqueid))
            .collect();
        order.sort();
        assert_eq!(
            order,
            [
                ("".into(), "b".into()),
                ("".into(), "c".into()),
                ("b2".into(), "a".into()),
            ]
        );
    }
}
