//! DBPut, DBGet, DBDel and DBDelTree: the answers of `main/db.c` (Asterisk 22's source;
//! no recording has them), including its texts' stray full stops.

use shared::ami::Message;

use super::{Reply, item, list_end, list_start};
use crate::state::Core;

/// `Family` and `Key`, both non-empty, or the error db.c sends: `DBPut` says
/// `No family specified`, the others end it with a full stop.
fn family_key(m: &Message, stop: &str) -> Result<(String, String), String> {
    let header = |name: &str| {
        m.get_str(name)
            .map(|v| v.into_owned())
            .filter(|v| !v.is_empty())
    };
    let family = header("Family").ok_or_else(|| format!("No family specified{stop}"))?;
    let key = header("Key").ok_or_else(|| format!("No key specified{stop}"))?;
    Ok((family, key))
}

/// `DBPut`: `Val` may be absent (an empty value).
pub(super) fn put(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (family, key) = match family_key(m, "") {
        Ok(found) => found,
        Err(text) => return Reply::error(id, &text),
    };
    let value = m.get_str("Val").map(|v| v.into_owned()).unwrap_or_default();
    match core.with_pbx(|pbx| pbx.db_put(&family, &key, &value)) {
        Ok(()) => Reply::success(id, "Updated database successfully"),
        Err(_) => Reply::error(id, "Failed to update entry"),
    }
}

/// `DBGet`: a one-item list; db.c writes the `ActionID` after `Val`.
pub(super) fn get(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (family, key) = match family_key(m, ".") {
        Ok(found) => found,
        Err(text) => return Reply::error(id, &text),
    };
    let Some(value) = core.with_pbx(|pbx| pbx.db_get(&family, &key).map(str::to_owned)) else {
        return Reply::error(id, "Database entry not found");
    };
    let mut reply = list_start(id, "Result will follow");
    let mut event = item("DBGetResponse", None)
        .with("Family", &family)
        .with("Key", &key)
        .with("Val", &value);
    if let Some(id) = id {
        event.push("ActionID", id);
    }
    reply.push(&event.build());
    list_end(&mut reply, "DBGetComplete", id, 1);
    reply
}

/// `DBDel`.
pub(super) fn del(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (family, key) = match family_key(m, ".") {
        Ok(found) => found,
        Err(text) => return Reply::error(id, &text),
    };
    if core.with_pbx(|pbx| pbx.db_del(&family, &key)) {
        Reply::success(id, "Key deleted successfully")
    } else {
        Reply::error(id, "Database entry could not be deleted")
    }
}

/// `DBDelTree`: `Key` is optional (the whole family).
pub(super) fn del_tree(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(family) = m
        .get_str("Family")
        .map(|v| v.into_owned())
        .filter(|v| !v.is_empty())
    else {
        return Reply::error(id, "No family specified.");
    };
    let key = m
        .get_str("Key")
        .map(|v| v.into_owned())
        .filter(|v| !v.is_empty());
    match core.with_pbx(|pbx| pbx.db_del_tree(&family, key.as_deref())) {
        0 => Reply::error(id, "Database entry not found"),
        _ => Reply::success(id, "Key tree deleted successfully"),
    }
}
