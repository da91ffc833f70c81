//! PresenceState and PresenceStateList.

use shared::ami::Message;

use super::{Reply, item, list_end, list_start, response};
use crate::pbx::Pbx;

/// `PresenceStateList`: one `PresenceStateChange` per provider that has a state.
pub(super) fn list(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Presence State Changes will follow");
    let mut n = 0;
    for p in pbx.presences() {
        reply.push(
            &item("PresenceStateChange", id)
                .with("Presentity", &p.provider)
                .with("Status", &p.state)
                .with("Subtype", &p.subtype)
                .with("Message", &p.message)
                .build(),
        );
        n += 1;
    }
    list_end(&mut reply, "PresenceStateListComplete", id, n);
    reply
}

/// `PresenceState`: `Subtype` and the message only when set; the message comes twice
/// (`Message`, deprecated, then `PresenceMessage`), as `manager.c` writes and the recording shows.
pub(super) fn state(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(provider) = m.get_str("Provider").filter(|p| !p.is_empty()) else {
        return Reply::error(id, "No provider specified");
    };
    let Some(p) = pbx.presence_of(&provider) else {
        return Reply::error(
            id,
            &format!("Invalid provider {provider} or provider in invalid state"),
        );
    };
    let mut msg = response("Success", id)
        .with("Message", "Presence State")
        .with("State", &p.state);
    if !p.subtype.is_empty() {
        msg.push("Subtype", &p.subtype);
    }
    if !p.message.is_empty() {
        msg.push("Message", &p.message);
        msg.push("PresenceMessage", &p.message);
    }
    Reply::msg(&msg)
}
