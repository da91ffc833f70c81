//! The supervisor's extension grid: every extension with its state, presence and
//! messages, searchable by number, name or hint and filterable by state, and windowed
//! (only the tiles in view are drawn), so a PBX of 2,000 phones stays quick.

use leptos::prelude::*;
use shared::action::Action;
use shared::model::ServerModel;
use std::collections::BTreeMap;

use crate::context::Ctx;
use crate::format::{extension_state, lowercase, state_label};
use crate::i18n::{tr, tr_with};
use crate::selection::Selection;
use crate::windowing::{ScrollBox, padding, pixels, visible_rows};
use wasm_bindgen::JsCast;
use web_sys::HtmlDivElement;

/// The states the filter offers, in the order a supervisor scans for them.
const STATES: [&str; 8] = [
    "idle",
    "ringing",
    "inuse",
    "busy",
    "onhold",
    "paused",
    "unavailable",
    "unknown",
];

/// Used until the grid has been laid out once: CSS's `grid-auto-rows` plus `row-gap`.
const FALLBACK_PITCH: f64 = 120.0;

/// An extension tile's data: state folds in a paused queue member on that device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    pub exten: String,
    pub hint: String,
    /// Who sits there, as a queue names its member on that device; empty if no queue does.
    pub name: String,
    pub state: &'static str,
    pub presence: Option<String>,
    pub messages: u32,
    /// Number, name, hint and state in lower case: what a search looks in.
    search: String,
}

impl Tile {
    pub fn new(
        exten: String,
        hint: String,
        name: String,
        state: &'static str,
        presence: Option<String>,
        messages: u32,
    ) -> Tile {
        Tile {
            search: lowercase(&format!("{exten}\n{name}\n{hint}\n{state}")),
            exten,
            hint,
            name,
            state,
            presence,
            messages,
        }
    }

    /// Whether the tile matches a search (lower case) and a state (empty: any).
    pub fn matches(&self, needle: &str, state: &str) -> bool {
        (state.is_empty() || self.state == state) && self.search.contains(needle)
    }
}

/// Every extension as a tile, in the model's order.
pub fn tiles(model: &ServerModel) -> Vec<Tile> {
    // Device → (member name, paused in any queue), built once rather than per tile.
    let mut members: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for member in model.queues.values().flat_map(|q| q.members.values()) {
        for device in [member.state_interface.as_str(), member.interface.as_str()] {
            let entry = members
                .entry(device)
                .or_insert((member.name.as_str(), false));
            entry.1 |= member.paused;
            if entry.0.is_empty() {
                entry.0 = member.name.as_str();
            }
        }
    }
    model
        .extensions
        .values()
        .map(|e| {
            let devices: Vec<&str> = e.hint.split(['&', ',']).collect();
            let member = |d: &&str| members.get(*d).copied();
            let paused = devices.iter().filter_map(member).any(|(_, p)| p);
            let name = devices
                .iter()
                .filter_map(member)
                .map(|(n, _)| n)
                .find(|n| !n.is_empty())
                .unwrap_or_default();
            let presence = devices.iter().find_map(|d| {
                d.strip_prefix("CustomPresence:") // not text: Asterisk's device prefix
                    .and_then(|_| model.presence.get(*d))
                    .filter(|p| !p.status.is_empty() && p.status != "available")
                    .map(|p| p.status.clone())
            });
            let messages = model
                .mailboxes
                .get(&format!("{}@default", e.exten))
                .map_or(0, |m| m.new);
            Tile::new(
                e.exten.clone(),
                e.hint.clone(),
                name.to_owned(),
                extension_state(e.status, paused),
                presence,
                messages,
            )
        })
        .collect()
}

/// The search, the state filter and the windowed grid.
#[component]
pub fn Extensions(mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let search = RwSignal::new(String::new());
    let state = RwSignal::new(String::new());
    // Rebuilt only when something a tile shows changed, not on every channel's change.
    let all = ctx.model_memo(|l| l.tiles_revision, tiles);
    let matching = Memo::new(move |_| {
        let needle = lowercase(search.get().trim());
        let state = state.get();
        all.with(|all| {
            all.iter()
                .filter(|t| t.matches(&needle, &state))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let count = move || {
        let (shown, total) = (matching.with(Vec::len), all.with(Vec::len));
        if shown == total {
            tr_with("extensions.count_all", &[("total", &total)])
        } else {
            tr_with(
                "extensions.count_some",
                &[("shown", &shown), ("total", &total)],
            )
        }
    };
    // Enter in the search selects the first extension shown and leaves the box, so the
    // keyboard shortcuts (`c` to call it) work at once.
    let selection = Selection::get();
    let pick_first = move |ev: leptos::ev::KeyboardEvent| {
        // not text: a key's name
        if ev.key() != "Enter" {
            return;
        }
        let first = matching.with(|m| m.first().map(|t| t.exten.clone()));
        if let (Some(selection), Some(first)) = (selection, first) {
            selection.exten.set(Some(first));
            if let Some(input) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = input.blur();
            }
        }
    };
    view! {
        <div class="row">
            <h2>{tr("extensions.title")}</h2>
            <input class="filter" type="search" placeholder=tr("extensions.search_example") aria-label=tr("extensions.search")
                data-testid="extension-search" on:keydown=pick_first
                prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev)) />
            <select aria-label=tr("extensions.state_filter") data-testid="extension-state-filter"
                prop:value=move || state.get() on:change=move |ev| state.set(event_target_value(&ev))>
                <option value="">{tr("extensions.any_state")}</option>
                // Owned strings: the same view type as the pause reasons' options.
                {STATES.into_iter().map(|s| view! { <option value=s.to_owned()>{move || state_label(s)}</option> }).collect_view()}
            </select>
            <label class="muted">{tr("extensions.my_phone")}" "
                <input class="short" aria-label=tr("agent.my_extension") prop:value=move || mine.get() on:input=move |ev| mine.set(event_target_value(&ev)) />
            </label>
        </div>
        <ExtensionGrid matching mine />
        <p class="muted" data-testid="extension-count" role="status">{count}</p>
    }
}

/// The grid's columns and row pitch, read from its computed style (CSS decides them,
/// and they hold before any tile is drawn).
fn grid_metrics(scroll_box: &HtmlDivElement) -> Option<(usize, f64)> {
    let grid = scroll_box.first_element_child()?;
    let style = web_sys::window()?
        .get_computed_style(&grid)
        .ok()
        .flatten()?;
    let value = |name: &str| style.get_property_value(name).unwrap_or_default();
    let columns = value("grid-template-columns")
        .split_whitespace()
        .count()
        .max(1);
    let row = pixels(&value("grid-auto-rows"))?;
    Some((columns, row + pixels(&value("row-gap")).unwrap_or_default()))
}

#[component]
fn ExtensionGrid(matching: Memo<Vec<Tile>>, mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let scroll = ScrollBox::new(grid_metrics);
    // (first tile, last tile, padding above, padding below).
    let window = Memo::new(move |_| {
        let viewport = scroll.viewport.get();
        let (columns, pitch) = (
            viewport.columns.max(1),
            viewport.pitch.unwrap_or(FALLBACK_PITCH),
        );
        let count = matching.with(Vec::len);
        let rows = count.div_ceil(columns);
        let range = visible_rows(viewport, pitch, rows);
        let (above, below) = padding(&range, rows, pitch);
        let tiles = range.start * columns..(range.end * columns).min(count);
        (tiles.start, tiles.end, above as i64, below as i64)
    });
    let shown = move || {
        let (start, end, ..) = window.get();
        matching.with(|m| m.get(start..end).map(<[Tile]>::to_vec).unwrap_or_default())
    };
    // One subscription to the permissions, not one per tile.
    let may_dial = Memo::new(move |_| ctx.may("originate")());
    let dial = move || may_dial.get();
    view! {
        <div class="scroll-box extensions" node_ref=scroll.node on:scroll=move |_| scroll.measure()
            tabindex="0" role="region" aria-label=tr("extensions.grid")>
            <ul class="grid" role="list"
                style:padding-top=move || format!("{}px", window.get().2)
                style:padding-bottom=move || format!("{}px", window.get().3)>
                <For each=shown key=|t| t.clone() let:tile>
                    <ExtensionTile tile mine dial />
                </For>
            </ul>
        </div>
    }
}

#[component]
fn ExtensionTile(
    tile: Tile,
    mine: RwSignal<String>,
    dial: impl Fn() -> bool + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let exten = StoredValue::new(tile.exten.clone());
    let label = {
        let exten = tile.exten.clone();
        move || tr_with("extensions.call_label", &[("exten", &exten)])
    };
    let call = move |_| {
        let from = mine.get_untracked();
        if !from.is_empty() {
            ctx.act(Action::Originate {
                from,
                to: exten.get_value(),
                context: None,
                caller_id: None,
            });
        }
    };
    let selection = Selection::get();
    let selected = move || selection.is_some_and(|s| exten.with_value(|e| s.is_exten(e)));
    let pick = move |_| {
        if let Some(selection) = selection {
            selection.exten.set(Some(exten.get_value()));
        }
    };
    view! {
        <li class="tile" data-testid="extension" data-exten=tile.exten.clone() data-state=tile.state
            class:selected=selected data-selected=move || selected().to_string() on:click=pick>
            <span class="exten">{tile.exten.clone()}
                <span class="badges">
                    {tile.presence.map(|p| view! { <span class="presence" title=tr("extensions.presence")>{p}</span> })}
                    {(tile.messages > 0).then(|| view! { <span class="mwi" title=tr("extensions.voicemail")>{tile.messages}" ✉"</span> })}
                </span>
            </span>
            <span class="name">{tile.name.clone()}</span>
            <span class="line">
                <span class="state">{move || state_label(tile.state)}</span>
                <Show when=move || dial() && !mine.get().is_empty()>
                    <button class="small" aria-label=label.clone() on:click=call>{tr("extensions.call")}</button>
                </Show>
            </span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(exten: &str, name: &str, state: &'static str) -> Tile {
        Tile::new(
            exten.into(),
            format!("PJSIP/{exten}"),
            name.into(),
            state,
            None,
            0,
        )
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn search_looks_at_number_name_hint_and_state_and_the_filter_at_state() {
        let alice = tile("2999", "Alice Far", "ringing");
        assert!(alice.matches("", ""));
        assert!(alice.matches("299", ""));
        assert!(
            alice.matches("alice", ""),
            "names are searched in lower case"
        );
        assert!(alice.matches("pjsip/2999", ""));
        assert!(alice.matches("ring", ""));
        assert!(alice.matches("", "ringing"));
        assert!(!alice.matches("", "idle"));
        assert!(!alice.matches("bob", ""));
        assert!(!alice.matches("alice", "idle"), "both must hold");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn a_tile_takes_its_name_and_pause_from_the_queue_member_on_its_device() {
        use shared::model::{Extension, Member, Queue};
        let extension = |exten: &str, hint: &str, status| Extension {
            exten: exten.into(),
            hint: hint.into(),
            status,
            ..Extension::default()
        };
        let mut model = ServerModel::default();
        for e in [
            extension("1001", "PJSIP/1001,CustomPresence:1001", 0),
            extension("1002", "PJSIP/1002", 1),
        ] {
            model.extensions.insert(format!("{}@c", e.exten), e);
        }
        let member = Member {
            interface: "Local/1001@agents".into(),
            name: "Alice Martin".into(),
            state_interface: "PJSIP/1001".into(),
            paused: true,
            ..Member::default()
        };
        let mut support = Queue {
            name: "support".into(),
            ..Queue::default()
        };
        support.members.insert(member.interface.clone(), member);
        model.queues.insert("support".into(), support);
        let tiles = tiles(&model);
        assert_eq!(tiles.len(), 2);
        assert_eq!(
            (tiles[0].name.as_str(), tiles[0].state),
            ("Alice Martin", "paused")
        );
        assert_eq!((tiles[1].name.as_str(), tiles[1].state), ("", "inuse"));
    }
}
