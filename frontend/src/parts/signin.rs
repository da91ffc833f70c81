//! Queue sign-in: the seats the hello lists (an agent's own, every configured one for a
//! supervisor), each queue with whether the seat's member is in it and a button to sign
//! in or out of it, and buttons for all of the seat's queues at once. Offered only
//! with `queue_add`/`queue_remove`; the relay checks the seat again.

use leptos::prelude::*;
use shared::action::Action;
use shared::protocol::Seat;

use crate::context::Ctx;
use crate::i18n::{t, tr, tr_with};

#[component]
pub fn SignIn() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let seats = move || {
        ctx.live.with(|l| {
            l.hello
                .as_ref()
                .map(|h| h.seats.clone())
                .unwrap_or_default()
        })
    };
    let offered =
        move || !seats().is_empty() && ctx.may("queue_add")() && ctx.may("queue_remove")();
    view! {
        <Show when=offered>
            <section class="card" data-testid="signin" aria-label=tr("signin.title")>
                <h2>{tr("signin.title")}</h2>
                <For each=seats key=|s| s.exten.clone() let:seat>
                    <SeatRow seat />
                </For>
            </section>
        </Show>
    }
}

#[component]
fn SeatRow(seat: Seat) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let seat = StoredValue::new(seat);
    let signed_in = move |queue: &str| {
        ctx.live.with(|l| {
            seat.with_value(|s| {
                l.model
                    .queues
                    .get(queue)
                    .is_some_and(|q| q.members.contains_key(&s.interface))
            })
        })
    };
    let set = move |queue: String, on: bool| {
        let interface = seat.with_value(|s| s.interface.clone());
        ctx.act(if on {
            Action::QueueAdd {
                queue,
                interface,
                penalty: None,
                paused: None,
            }
        } else {
            Action::QueueRemove { queue, interface }
        });
    };
    let all = move |on: bool| {
        move |_| {
            for queue in seat.with_value(|s| s.queues.clone()) {
                if signed_in(&queue) != on {
                    set(queue, on);
                }
            }
        }
    };
    let (exten, interface) = seat.with_value(|s| (s.exten.clone(), s.interface.clone()));
    let queues = seat.with_value(|s| s.queues.clone()).into_iter().map(|queue| {
        let q = StoredValue::new(queue.clone());
        let on = move || q.with_value(|q| signed_in(q));
        view! {
            <li data-testid="seat-queue" data-queue=queue.clone() data-signed-in=move || on().to_string()>
                <span>{queue.clone()}</span>" "
                <span class="muted">{move || t(if on() { "signin.signed_in" } else { "signin.signed_out" })}</span>" "
                <button class="small" on:click=move |_| set(q.get_value(), !on())>{move || t(if on() { "signin.out" } else { "signin.in" })}</button>
            </li>
        }
    }).collect_view();
    let title = {
        let exten = exten.clone();
        move || tr_with("signin.seat", &[("exten", &exten)])
    };
    view! {
        <div class="seat" data-testid="seat" data-exten=exten>
            <p><b>{title}</b>" "<span class="muted">{interface}</span></p>
            <p class="row">
                <button class="small" data-testid="signin-all" on:click=all(true)>{tr("signin.all_in")}</button>
                <button class="small" data-testid="signout-all" on:click=all(false)>{tr("signin.all_out")}</button>
            </p>
            <ul class="members">{queues}</ul>
        </div>
    }
}
