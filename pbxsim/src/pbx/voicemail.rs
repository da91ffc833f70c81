//! Voicemail (app_voicemail): the messages in each box, a caller redirected to the
//! voicemail context leaving one, and `MessageWaiting` with the `MWI:` device state, as
//! ami-session-3.txt recorded them.

use super::*;

/// The dialplan context whose extension `<n>` runs `VoiceMail(<n>@default,u)` (the
/// recording's extension 1100 does it for 1001 in `test`).
pub const VOICEMAIL_CONTEXT: &str = "voicemail";

/// How long a redirected caller talks to VoiceMail before the message is saved: its
/// prompts took about 7 s in ami-session-3, the recording about 4 s.
const LEAVING_MS: u64 = 6_000;

/// One message, as `VoicemailBoxDetail` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceMessage {
    /// `1001@default`.
    pub mailbox: String,
    /// `INBOX` (new), `Old` or `Urgent`.
    pub folder: String,
    /// `"VM Caller" <6001>`.
    pub caller_id: String,
    /// Epoch seconds when it was left.
    pub date: u64,
    /// Seconds of audio.
    pub duration: u32,
    /// `1796677741-00000000`: the epoch and a counter, as app_voicemail's `msg_id`.
    pub id: String,
}

impl Pbx {
    /// The directory's starting counts as messages, so that `VoicemailBoxSummary`
    /// lists what `MailboxCount` counts.
    pub(super) fn seed_voice_messages(&mut self) {
        let boxes: Vec<(String, u32, u32, u32)> = self
            .mailboxes
            .iter()
            .map(|m| (m.mailbox.clone(), m.urgent, m.new, m.old))
            .collect();
        for (mailbox, urgent, new, old) in boxes {
            for (folder, count) in [("Urgent", urgent), ("INBOX", new), ("Old", old)] {
                for _ in 0..count {
                    self.store_message(&mailbox, folder, "\"Unknown\" <0>", 0);
                }
            }
        }
    }

    pub(super) fn store_message(
        &mut self,
        mailbox: &str,
        folder: &str,
        caller_id: &str,
        duration: u32,
    ) {
        let date = self.epoch_now();
        let id = format!("{date}-{:08x}", self.voice_messages.len());
        self.voice_messages.push(VoiceMessage {
            mailbox: mailbox.into(),
            folder: folder.into(),
            caller_id: caller_id.into(),
            date,
            duration,
            id,
        });
    }

    /// The voicemail boxes, in `VoicemailUsersList` order.
    pub fn mailboxes(&self) -> &[Mailbox] {
        &self.mailboxes
    }

    /// The box `mailbox@context`, if configured.
    pub fn mailbox(&self, mailbox: &str) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| m.mailbox == mailbox)
    }

    /// The messages of a box, oldest first.
    pub fn voice_messages(&self, mailbox: &str) -> impl Iterator<Item = &VoiceMessage> {
        self.voice_messages
            .iter()
            .filter(move |m| m.mailbox == mailbox)
    }

    /// `VoicemailRemove`: deletes a message; `MessageWaiting` (no channel) and the
    /// `MWI:` device state follow. False if there is no such message.
    pub fn remove_voice_message(&mut self, mailbox: &str, folder: &str, id: &str) -> bool {
        let Some(i) = self
            .voice_messages
            .iter()
            .position(|m| m.mailbox == mailbox && m.folder == folder && m.id == id)
        else {
            return false;
        };
        self.voice_messages.remove(i);
        if let Some(m) = self.mailboxes.iter_mut().find(|m| m.mailbox == mailbox) {
            let count = match folder {
                "INBOX" => &mut m.new,
                "Urgent" => &mut m.urgent,
                _ => &mut m.old,
            };
            *count = count.saturating_sub(1);
        }
        self.message_waiting(mailbox, None);
        true
    }

    /// `MessageWaiting` with the box's counts (the channel block of the caller who
    /// left a message first, when there is one), then `DeviceStateChange` of
    /// `MWI:<mailbox>`, as recorded.
    pub(super) fn message_waiting(&mut self, mailbox: &str, caller: Option<&str>) {
        let Some(m) = self.mailbox(mailbox) else {
            return;
        };
        let (new, old) = (m.new + m.urgent, m.old);
        let mut msg = Self::head("MessageWaiting", Classes::CALL);
        if let Some(ch) = caller.and_then(|uid| self.channels.get(uid)) {
            ch.push_headers(&mut msg, "");
        }
        msg.push("Mailbox", mailbox);
        msg.push("Waiting", u8::from(new > 0).to_string());
        msg.push("New", new.to_string());
        msg.push("Old", old.to_string());
        self.emit(Classes::CALL, msg);
        let state = if new > 0 { "INUSE" } else { "NOT_INUSE" };
        self.set_device_state(&format!("MWI:{mailbox}"), state);
    }

    /// A `Redirect` of channel `name` into [`VOICEMAIL_CONTEXT`] at `exten`: the channel
    /// leaves its queue or its call (the other side hangs up, as in a Redirect), runs
    /// `VoiceMail(<exten>@default,u)`, and after [`LEAVING_MS`] the message is saved and
    /// the channel hangs up. False if there is no such channel.
    pub fn voicemail_redirect(&mut self, name: &str, exten: &str) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        let mailbox = format!("{exten}@default");
        let call = self
            .calls
            .iter()
            .find(|(_, c)| c.a1 == uid)
            .map(|(&id, c)| (id, c.clone()));
        if let Some((id, call)) = &call {
            if let Some((q, _)) = self.queue_pos(&uid) {
                self.queue_leave(q, &uid);
            }
            if let Some((q, m)) = call.queue {
                self.member_done(q, m);
            }
            if let Some(bid) = call.bridge.clone() {
                self.bridge_leave(&bid, &uid);
            }
            if let (Some(b1), Some(b2)) = (call.b1.clone(), call.b2.clone()) {
                self.end_peer_pair(&b1, &b2);
            }
            self.hand_desk_over(*id, call.phone.clone());
            if let Some(c) = self.calls.get_mut(id) {
                c.b1 = None;
                c.b2 = None;
                c.bridge = None;
                c.queue = None;
            }
        }
        self.exten(&uid, exten, 1, "VoiceMail", &format!("{mailbox},u"));
        self.schedule(
            LEAVING_MS,
            Step::VoicemailSaved(call.map(|(id, _)| id), uid, mailbox),
        );
        true
    }

    /// The redirected caller's message is saved (into a configured box only) and the
    /// caller hangs up.
    pub(super) fn voicemail_saved(&mut self, id: Option<CallId>, uid: &str, mailbox: &str) {
        if self.mailbox(mailbox).is_some() && self.channels.contains_key(uid) {
            let caller_id = self.channels.get(uid).map_or_else(String::new, |c| {
                format!("\"{}\" <{}>", c.cid_name, c.cid_num)
            });
            let duration = (LEAVING_MS / 1_000) as u32;
            self.store_message(mailbox, "INBOX", &caller_id, duration);
            if let Some(m) = self.mailboxes.iter_mut().find(|m| m.mailbox == mailbox) {
                m.new += 1;
            }
            self.message_waiting(mailbox, Some(uid));
        }
        match id.filter(|id| self.calls.contains_key(id)) {
            Some(id) => self.end_call(id, 16, false),
            None => self.hangup_chan(uid, 16, false),
        }
    }
}
