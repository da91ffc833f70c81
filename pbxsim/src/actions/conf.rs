//! The Confbridge actions (app_confbridge): the room lists, mute, kick, lock, record.

use shared::ami::Message;

use super::{Reply, item, list_end, list_start, secs_since};
use crate::pbx::conf::{NO_CONFERENCE, NO_CONFERENCES};
use crate::state::Core;

fn yes(flag: bool) -> &'static str {
    if flag { "Yes" } else { "No" }
}

/// Every Confbridge action, `action` in lower case; the checks in app_confbridge's order.
pub(super) fn confbridge(core: &Core, action: &str, m: &Message, id: Option<&[u8]>) -> Reply {
    let header = |k: &str| m.get_str(k).map(|v| v.into_owned()).unwrap_or_default();
    let (room, channel) = (header("Conference"), header("Channel"));
    if action == "confbridgelistrooms" {
        return core.with_pbx(|pbx| list_rooms(pbx, id));
    }
    if room.is_empty() {
        return Reply::error(id, "No Conference name provided.");
    }
    let needs_channel = matches!(
        action,
        "confbridgemute" | "confbridgeunmute" | "confbridgekick"
    );
    if needs_channel && channel.is_empty() {
        return Reply::error(id, "No channel name provided.");
    }
    let result = core.with_pbx(|pbx| match action {
        "confbridgelist" => Err(list(pbx, &room, id)),
        "confbridgemute" => Ok(pbx.conf_mute(&room, &channel, true)),
        "confbridgeunmute" => Ok(pbx.conf_mute(&room, &channel, false)),
        "confbridgekick" => Ok(pbx.conf_kick(&room, &channel)),
        "confbridgelock" => Ok(pbx.conf_lock(&room, true)),
        "confbridgeunlock" => Ok(pbx.conf_lock(&room, false)),
        "confbridgestartrecord" => Ok(pbx.conf_record(&room, true)),
        _ => Ok(pbx.conf_record(&room, false)),
    });
    match result {
        Err(list) => list,
        Ok(Ok(text)) => Reply::success(id, text),
        Ok(Err(text)) => Reply::error(id, text),
    }
}

/// `ConfbridgeListRooms`: one item per room, newest first.
fn list_rooms(pbx: &crate::pbx::Pbx, id: Option<&[u8]>) -> Reply {
    let rooms = pbx.conferences();
    if rooms.is_empty() {
        return Reply::error(id, NO_CONFERENCES);
    }
    let mut reply = list_start(id, "Confbridge conferences will follow");
    for (name, room) in &rooms {
        let marked = room.users.iter().filter(|u| u.admin).count();
        let msg = item("ConfbridgeListRooms", id)
            .with("Conference", name.as_str())
            .with("Parties", room.users.len().to_string())
            .with("Marked", marked.to_string())
            .with("Locked", yes(room.locked))
            .with("Muted", "No");
        reply.push(&msg.build());
    }
    list_end(&mut reply, "ConfbridgeListRoomsComplete", id, rooms.len());
    reply
}

/// `ConfbridgeList` of one room: its users, each with its flags and channel block.
fn list(pbx: &crate::pbx::Pbx, room: &str, id: Option<&[u8]>) -> Reply {
    if pbx.conferences().is_empty() {
        return Reply::error(id, NO_CONFERENCES);
    }
    let Some(r) = pbx.conference(room) else {
        return Reply::error(id, NO_CONFERENCE);
    };
    let mut reply = list_start(id, "Confbridge user list will follow");
    let mut count = 0;
    for user in &r.users {
        let Some(ch) = pbx.channel(&user.uid) else {
            continue;
        };
        let mut msg = item("ConfbridgeList", id)
            .with("Conference", room)
            .with("Admin", yes(user.admin))
            .with("MarkedUser", yes(user.admin))
            .with("WaitMarked", "No")
            .with("EndMarked", "No")
            .with("EndMarkedAny", "No")
            .with("Waiting", "No")
            .with("Muted", yes(user.muted))
            .with("Talking", yes(user.talking))
            .with("AnsweredTime", secs_since(pbx, user.joined_ms).to_string());
        ch.push_headers(&mut msg, "");
        reply.push(&msg.build());
        count += 1;
    }
    list_end(&mut reply, "ConfbridgeListComplete", id, count);
    reply
}
