//! Park and ParkedCalls (the `default` lot).

use shared::ami::{Message, MessageBuilder};

use super::{Reply, list_end, list_start, push_id};
use crate::pbx::Pbx;
use crate::state::Core;

/// `Park`: the channel goes to the next free space of the `default` lot.
pub(super) fn park(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(chan) = m.get_str("Channel").map(|c| c.into_owned()) else {
        return Reply::error(id, "Channel not specified");
    };
    let timeout = m
        .get_str("Timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(45, |ms| ms / 1_000);
    let ok = core.with_pbx(|pbx| pbx.park_channel(&chan, timeout));
    // Asterisk's `astman_send_ack(s, m, "Park successful\n")`, and its errors alike.
    if ok {
        Reply::with_bare_lf("Success", id, "Park successful")
    } else {
        Reply::with_bare_lf("Error", id, "Unable to park")
    }
}

/// `ParkedCalls`: one `ParkedCall` per parked channel.
pub(super) fn parked_calls(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Parked calls will follow");
    let mut n = 0;
    for p in &pbx.parked {
        let mut msg = MessageBuilder::new().with("Event", "ParkedCall");
        if pbx.parked_headers(&mut msg, &p.uniqueid, None) {
            push_id(&mut msg, id);
            reply.push(&msg.build());
            n += 1;
        }
    }
    list_end(&mut reply, "ParkedCallsComplete", id, n);
    reply
}
