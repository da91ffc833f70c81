//! The conference room cards of the supervisor view: who is in each room, who talks,
//! who is muted or an admin, whether the room is locked or recorded, and the mute,
//! kick, lock and record buttons the account may use.

use leptos::prelude::*;
use shared::action::Action;
use shared::model::{Conference, Participant};

use crate::context::Ctx;
use crate::i18n::{tr, tr_with};

/// Every room, redrawn when one changes (a server has a few rooms at most).
#[component]
pub fn Conferences() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let rooms = move || {
        ctx.live
            .with(|l| l.model.conferences.values().cloned().collect::<Vec<_>>())
    };
    move || {
        rooms()
            .into_iter()
            .map(|room| view! { <RoomCard room /> })
            .collect_view()
    }
}

#[component]
fn RoomCard(room: Conference) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let name = room.name.clone();
    let (locked, recording) = (room.locked, room.recording);
    let lock = {
        let room = name.clone();
        move |_| {
            ctx.act(Action::ConfLock {
                room: room.clone(),
                locked: !locked,
            })
        }
    };
    let record = {
        let room = name.clone();
        move |_| {
            ctx.act(Action::ConfRecord {
                room: room.clone(),
                recording: !recording,
            })
        }
    };
    let people = room
        .participants
        .values()
        .cloned()
        .map(|p| view! { <ParticipantRow room=name.clone() p /> })
        .collect_view();
    let title = {
        let name = name.clone();
        move || tr_with("conf.title", &[("room", &name)])
    };
    let label = title.clone();
    let count = room.participants.len();
    view! {
        <section class="card" data-testid="conference" data-room=name.clone()
            data-locked=locked.to_string() data-recording=recording.to_string() aria-label=label>
            <h2>{title}</h2>
            <p class="muted">
                {move || tr_with("conf.count", &[("count", &count)])}
                <Show when=move || locked><span data-testid="conf-locked">" · "{tr("conf.locked")}</span></Show>
                <Show when=move || recording><span data-testid="conf-recording">" · "{tr("conf.recording")}</span></Show>
            </p>
            <ul class="members">{people}</ul>
            <Show when=ctx.may("conf_lock")>
                <button class="small" data-testid="conf-lock" on:click=lock.clone()>
                    {move || if locked { tr("conf.unlock")() } else { tr("conf.lock")() }}
                </button>
            </Show>
            <Show when=ctx.may("conf_record")>
                <button class="small" data-testid="conf-record" on:click=record.clone()>
                    {move || if recording { tr("conf.stop_record")() } else { tr("conf.record")() }}
                </button>
            </Show>
        </section>
    }
}

#[component]
fn ParticipantRow(room: String, p: Participant) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let muted = p.muted;
    let mute = {
        let (room, channel) = (room.clone(), p.channel.clone());
        move |_| {
            ctx.act(Action::ConfMute {
                room: room.clone(),
                channel: channel.clone(),
                mute: !muted,
            })
        }
    };
    let kick = {
        let channel = p.channel.clone();
        move |_| {
            ctx.act(Action::ConfKick {
                room: room.clone(),
                channel: channel.clone(),
            })
        }
    };
    let who = if p.caller_id_name.is_empty() || p.caller_id_name == "<unknown>" {
        p.channel.clone()
    } else {
        format!("{} {}", p.caller_id_num, p.caller_id_name)
    };
    let talking = p.talking;
    let admin = p.admin;
    view! {
        <li class="member" data-testid="participant" data-channel=p.channel.clone()
            data-muted=muted.to_string() data-talking=talking.to_string() data-admin=admin.to_string()>
            <span>{who}</span>
            <span class="muted">
                <Show when=move || talking><span>" "{tr("conf.talking")}</span></Show>
                <Show when=move || muted><span>" "{tr("conf.muted")}</span></Show>
                <Show when=move || admin><span>" "{tr("conf.admin")}</span></Show>
            </span>
            <Show when=ctx.may("conf_mute")>
                <button class="small" data-testid="conf-mute" on:click=mute.clone()>
                    {move || if muted { tr("conf.unmute")() } else { tr("conf.mute")() }}
                </button>
            </Show>
            <Show when=ctx.may("conf_kick")>
                <button class="small danger" data-testid="conf-kick" on:click=kick.clone()>{tr("conf.kick")}</button>
            </Show>
        </li>
    }
}
