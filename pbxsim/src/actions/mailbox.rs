//! MailboxCount and MailboxStatus.

use shared::ami::Message;

use super::{Reply, response};
use crate::pbx::Pbx;

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
