//! The notifications' part of the frame: the header's two buttons (ask the browser's
//! permission, only on that click; the sound on or off) and what raises a notification:
//! a call ringing at my extension, with the caller and the queue it came through, and,
//! for supervisors and admins, each queue alarm the relay sends (`queue_alarm`).
//! [`crate::notify`] decides whether each shows, beeps, or (tab in front) neither.

use leptos::prelude::*;
use shared::model::ServerModel;
use shared::model::figures::AlarmLevel;
use shared::pop::Pops;
use shared::protocol::{CallPop, PopEvent};

use crate::context::{Ctx, stored_extension};
use crate::format;
use crate::i18n::{t, tr, tr_with};
use crate::notify::{self, Permission};

/// The header's buttons: notifications (asks for the permission on a click, then says
/// how it stands) and the sound.
#[component]
pub fn NotificationButtons() -> impl IntoView {
    let permission = RwSignal::new(notify::permission());
    let sound = RwSignal::new(notify::sound_on());
    let ask = move |_| notify::ask(move |answer| permission.set(answer));
    let state = move || match permission.get() {
        Permission::Ask => "ask",
        Permission::Granted => "granted",
        Permission::Denied => "denied",
        Permission::Unsupported => "unsupported",
    };
    let label = move || {
        t(match permission.get() {
            Permission::Ask => "notify.enable",
            Permission::Granted => "notify.enabled",
            Permission::Denied => "notify.blocked",
            Permission::Unsupported => "notify.unsupported",
        })
    };
    let toggle = move |_| {
        let on = !sound.get_untracked();
        notify::set_sound(on);
        sound.set(on);
    };
    view! {
        <button class="ghost" data-testid="notifications" data-permission=state
            disabled=move || permission.get() != Permission::Ask on:click=ask>{label}</button>
        <button class="ghost" data-testid="sound" aria-pressed=move || sound.get().to_string()
            title=tr("notify.sound") on:click=toggle>
            {move || t(if sound.get() { "notify.sound_on" } else { "notify.sound_off" })}
        </button>
    }
}

/// Raises the notifications; draws nothing.
#[component]
pub fn Notifier() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    // Each queue alarm once, as the relay counts them in.
    let alarms_seen = StoredValue::new(0u64);
    Effect::new(move |_| {
        let (count, alarm) = ctx.live.with(|l| (l.alarms, l.last_alarm.clone()));
        if count == alarms_seen.get_value() {
            return;
        }
        alarms_seen.set_value(count);
        let Some(alarm) = alarm else { return };
        let level = t(match alarm.level {
            AlarmLevel::Red => "alarm.red",
            AlarmLevel::Amber => "alarm.amber",
            AlarmLevel::None => "alarm.none",
        });
        let title = tr_with(
            "notify.alarm_title",
            &[("queue", &alarm.queue), ("level", &level)],
        );
        let body = tr_with(
            "notify.alarm_body",
            &[
                ("waiting", &alarm.waiting),
                ("wait", &format::seconds(alarm.longest_wait_s)),
            ],
        );
        notify::alert(&title, &body, &format!("alarm-{}", alarm.queue));
    });
    // The calls ringing at my extension: the relay account's, else this browser's.
    let pops = StoredValue::new((String::new(), Pops::new("")));
    Effect::new(move |_| {
        let ringing = ctx.live.with(|l| {
            let exten = l
                .hello
                .as_ref()
                .and_then(|h| h.extension.clone())
                .unwrap_or_else(stored_extension);
            if exten.is_empty() {
                return Vec::new();
            }
            let mut ringing = Vec::new();
            pops.update_value(|(mine, pops)| {
                if *mine != exten {
                    *pops = Pops::new(&exten);
                    mine.clone_from(&exten);
                }
                ringing = pops
                    .next(&l.model)
                    .into_iter()
                    .filter(|pop| rings_here(&l.model, pop))
                    .map(|pop| (queue_of(&l.model, &pop.uniqueid), pop))
                    .collect();
            });
            ringing
        });
        for (queue, pop) in ringing {
            let caller = match (pop.caller_id_name.as_str(), pop.caller_id_num.as_str()) {
                ("", num) => num.to_owned(),
                (name, "") => name.to_owned(),
                (name, num) => format!("{name} <{num}>"),
            };
            let title = tr_with("notify.ringing_title", &[("caller", &caller)]);
            let body = match queue {
                Some(queue) => tr_with(
                    "notify.ringing_queue",
                    &[("exten", &pop.exten), ("queue", &queue)],
                ),
                None => tr_with("notify.ringing_body", &[("exten", &pop.exten)]),
            };
            notify::alert(&title, &body, &format!("call-{}", pop.uniqueid));
        }
    });
}

/// Whether `pop` is my phone being called (Ringing, state 5), not my own call out.
fn rings_here(model: &ServerModel, pop: &CallPop) -> bool {
    pop.event == PopEvent::Ringing
        && model
            .channels
            .get(&pop.uniqueid)
            .is_some_and(|channel| channel.state == 5)
}

/// The queue a ringing channel's call waits in: the queue with a caller of the same call
/// (`linkedid`), as app_queue rings members while the caller still waits.
fn queue_of(model: &ServerModel, uniqueid: &str) -> Option<String> {
    let call = &model.channels.get(uniqueid)?.linkedid;
    model
        .queues
        .values()
        .find(|queue| {
            queue.callers.keys().any(|caller| {
                model
                    .channels
                    .get(caller)
                    .is_some_and(|c| &c.linkedid == call)
            })
        })
        .map(|queue| queue.name.clone())
}

#[cfg(test)]
mod tests {
    use shared::model::{Caller, Channel, Queue};

    use super::*;

    /// A caller (`1.1`) waiting in `support` while it rings 1001's phone (`1.5`, same
    /// call), and 1001 calling out on its own (`2.1`).
    fn model() -> ServerModel {
        let channel = |uniqueid: &str, channel: &str, linkedid: &str, state| Channel {
            uniqueid: uniqueid.into(),
            channel: channel.into(),
            linkedid: linkedid.into(),
            state,
            ..Channel::default()
        };
        let mut model = ServerModel {
            channels: [
                channel("1.1", "Local/100@test-00000001;1", "1.1", 6),
                channel("1.5", "PJSIP/1001-00000005", "1.1", 5),
                channel("2.1", "PJSIP/1001-00000007", "2.1", 4),
            ]
            .into_iter()
            .map(|c| (c.uniqueid.clone(), c))
            .collect(),
            ..ServerModel::default()
        };
        let mut support = Queue {
            name: "support".into(),
            ..Queue::default()
        };
        support.callers.insert(
            "1.1".into(),
            Caller {
                uniqueid: "1.1".into(),
                position: 1,
                ..Caller::default()
            },
        );
        model.queues.insert("support".into(), support);
        model
    }

    fn pop(uniqueid: &str, event: PopEvent) -> CallPop {
        CallPop {
            event,
            exten: "1001".into(),
            caller_id_num: "7201".into(),
            caller_id_name: "Support Caller".into(),
            channel: String::new(),
            uniqueid: uniqueid.into(),
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn my_phone_ringing_names_the_queue_its_caller_waits_in() {
        let model = model();
        assert!(rings_here(&model, &pop("1.5", PopEvent::Ringing)));
        assert_eq!(queue_of(&model, "1.5").as_deref(), Some("support"));
        // Calling out rings the other side, not my phone; an answer is no ring.
        assert!(!rings_here(&model, &pop("2.1", PopEvent::Ringing)));
        assert!(!rings_here(&model, &pop("1.5", PopEvent::Answered)));
        assert_eq!(queue_of(&model, "2.1"), None);
    }
}
