//! ExtensionState and ExtensionStateList: the hints and their states.

use shared::ami::Message;

use super::{Reply, item, list_end, list_start, response};
use crate::pbx::{Pbx, status_text};

/// `ExtensionStateList`: one `ExtensionStatus` per hint, in the directory's order.
pub(super) fn list(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Extension Statuses will follow");
    let mut n = 0;
    for (phone, context, status) in pbx.hints() {
        reply.push(
            &item("ExtensionStatus", id)
                .with("Exten", &phone.exten)
                .with("Context", context)
                .with("Hint", &phone.hint)
                .with("Status", status.to_string())
                .with("StatusText", status_text(status))
                .build(),
        );
        n += 1;
    }
    list_end(&mut reply, "ExtensionStateListComplete", id, n);
    reply
}

/// `ExtensionState`: an extension without a hint answers `Status: -1`, as recorded;
/// `Context` defaults to `default`, as `manager.c` does.
pub(super) fn state(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(exten) = m.get_str("Exten").filter(|e| !e.is_empty()) else {
        return Reply::error(id, "Extension not specified");
    };
    let context = m
        .get_str("Context")
        .filter(|c| !c.is_empty())
        .map_or_else(|| "default".to_string(), |c| c.into_owned());
    let (hint, status) = pbx.extension_state(&exten, &context);
    Reply::msg(
        &response("Success", id)
            .with("Message", "Extension Status")
            .with("Exten", &*exten)
            .with("Context", &context)
            .with("Hint", hint)
            .with("Status", status.to_string())
            .with("StatusText", status_text(status)),
    )
}
