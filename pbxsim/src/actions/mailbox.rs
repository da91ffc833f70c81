//! MailboxCount and MailboxStatus, and app_voicemail's actions (`Voicemail*`).

use shared::ami::Message;

use super::{Reply, item, list_end, list_start, response};
use crate::clock::voicemail_date;
use crate::directory::Mailbox;
use crate::pbx::Pbx;
use crate::state::Core;

/// `MailboxCount` and `MailboxStatus` (`status`: only whether messages wait).
pub(super) fn count(pbx: &Pbx, m: &Message, id: Option<&[u8]>, status: bool) -> Reply {
    let Some(mailbox) = m.get_str("Mailbox").filter(|b| !b.is_empty()) else {
        return Reply::error(id, "Mailbox not specified");
    };
    let (urgent, new, old) = pbx.mailbox_count(&mailbox);
    let msg = if status {
        response("Success", id)
            .with("Message", "Mailbox Status")
            .with("Mailbox", &*mailbox)
            .with("Waiting", u8::from(new + urgent > 0).to_string())
    } else {
        response("Success", id)
            .with("Message", "Mailbox Message Count")
            .with("Mailbox", &*mailbox)
            .with("UrgMessages", urgent.to_string())
            .with("NewMessages", new.to_string())
            .with("OldMessages", old.to_string())
    };
    Reply::msg(&msg)
}

/// The mailbox a voicemail action names: `Mailbox` and `Context` (`default` when
/// missing, as app_voicemail reads it).
fn named_box(m: &Message) -> String {
    let context = m
        .get_str("Context")
        .filter(|c| !c.is_empty())
        .map_or_else(|| "default".to_owned(), |c| c.into_owned());
    format!("{}@{context}", m.get_str("Mailbox").unwrap_or_default())
}

/// A `VoicemailUserEntry` / `VoicemailUserDetail` item, every key as recorded (no
/// e-mail: `Email: (null)`).
fn user_item(name: &str, id: Option<&[u8]>, b: &Mailbox) -> Message {
    let (number, context) = b.mailbox.split_once('@').unwrap_or((&b.mailbox, "default"));
    let mut msg = item(name, id)
        .with("VMContext", context)
        .with("VoiceMailbox", number)
        .with("Fullname", &b.name)
        .with("Email", "(null)");
    for (k, v) in [
        ("Pager", ""),
        ("ServerEmail", "asterisk"),
        ("FromString", ""),
        ("MailCommand", "/usr/sbin/sendmail -t"),
        ("Language", ""),
        ("TimeZone", ""),
        ("Callback", ""),
        ("Dialout", ""),
        ("UniqueID", ""),
        ("ExitContext", ""),
        ("SayDurationMinimum", "2"),
        ("SayEnvelope", "Yes"),
        ("SayCID", "No"),
        ("AttachMessage", "No"),
        ("AttachmentFormat", ""),
        ("DeleteMessage", "No"),
        ("VolumeGain", "0.00"),
        ("CanReview", "No"),
        ("CanMarkUrgent", "Yes"),
        ("CallOperator", "No"),
        ("MaxMessageCount", "100"),
        ("MaxMessageLength", "0"),
    ] {
        msg.push(k, v);
    }
    msg.push("NewMessageCount", (b.new + b.urgent).to_string());
    msg.push("OldMessageCount", b.old.to_string());
    msg.build()
}

/// `VoicemailUsersList`: the list ends in `VoicemailUserEntryComplete` (recorded).
pub(super) fn users_list(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Voicemail user list will follow");
    for b in pbx.mailboxes() {
        reply.push(&user_item("VoicemailUserEntry", id, b));
    }
    list_end(
        &mut reply,
        "VoicemailUserEntryComplete",
        id,
        pbx.mailboxes().len(),
    );
    reply
}

/// `VoicemailUserStatus`: an unknown box is answered `Success` with no list (recorded).
pub(super) fn user_status(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(b) = pbx.mailbox(&named_box(m)) else {
        return Reply::success(id, "There is no voicemail user of the given info.");
    };
    let mut reply = list_start(id, "Voicemail user detail will follow");
    reply.push(&user_item("VoicemailUserDetail", id, b));
    list_end(&mut reply, "VoicemailUserDetailComplete", id, 1);
    reply
}

/// `VoicemailBoxSummary`: one `VoicemailBoxDetail` per message; an unknown box is
/// answered `Success` with no list (recorded).
pub(super) fn box_summary(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let mailbox = named_box(m);
    if pbx.mailbox(&mailbox).is_none() {
        return Reply::success(id, "There is no voicemail user matching the given user.");
    }
    let mut reply = list_start(id, "Voicemail box detail will follow");
    let mut n = 0;
    for v in pbx.voice_messages(&mailbox) {
        reply.push(
            &item("VoicemailBoxDetail", id)
                .with("Folder", &v.folder)
                .with("CallerID", &v.caller_id)
                .with("Date", voicemail_date(v.date))
                .with("Duration", v.duration.to_string())
                .with("Flag", if v.folder == "Urgent" { "Urgent" } else { "" })
                .with("ID", &v.id)
                .build(),
        );
        n += 1;
    }
    list_end(&mut reply, "VoicemailBoxDetailComplete", id, n);
    reply
}

/// `VoicemailRemove`: its success text ends in a bare LF (recorded), then
/// `MessageWaiting` and the `MWI:` device state follow.
pub(super) fn remove(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let header = |k: &str| m.get_str(k).map(|v| v.into_owned()).unwrap_or_default();
    let (folder, message_id) = (header("Folder"), header("ID"));
    if header("Mailbox").is_empty() || folder.is_empty() || message_id.is_empty() {
        return Reply::error(
            id,
            "Need 'Context', 'Mailbox', 'Folder' and 'ID' parameters.",
        );
    }
    let mailbox = named_box(m);
    if core.with_pbx(|pbx| pbx.remove_voice_message(&mailbox, &folder, &message_id)) {
        Reply::with_bare_lf("Success", id, "Message remove successful")
    } else {
        Reply::error(id, "Message remove failed on database update")
    }
}

/// `VoicemailRefresh`: nothing subscribes to MWI, so no event (recorded).
pub(super) fn refresh(id: Option<&[u8]>) -> Reply {
    Reply::success(id, "Refresh sent")
}
