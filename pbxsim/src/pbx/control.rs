//! What clients do to calls: hangup, transfer, hold, user events, variables.

use super::*;

impl Pbx {
    /// AMI `Atxfer`: the feature hook puts the peer on hold, and (as recorded) the transfer
    /// drops at once, giving `MusicOnHoldStart` then `Unhold`.
    pub fn atxfer(&mut self, name: &str) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        // The feature code arrives as DTMF, the transferer is held and its peer hears music;
        // the recorded transfer then drops at once (Unhold, music stops).
        for digit in ["*", "2"] {
            self.chan_event(
                "DTMFEnd",
                Classes::DTMF,
                &uid,
                &[
                    ("Digit", digit),
                    ("DurationMs", "0"),
                    ("Direction", "Received"),
                ],
            );
        }
        self.chan_event("Hold", Classes::CALL, &uid, &[]);
        let peer = self.bridge_peer(&uid);
        if let Some(peer) = &peer {
            self.chan_event(
                "MusicOnHoldStart",
                Classes::CALL,
                peer,
                &[("Class", "default")],
            );
        }
        self.schedule(200, Step::Unhold(uid, peer));
        true
    }

    /// The other channel in `uid`'s bridge, if any.
    pub(super) fn bridge_peer(&self, uid: &str) -> Option<String> {
        let bid = self.channels.get(uid)?.bridge.as_ref()?;
        self.bridges
            .get(bid)?
            .members
            .iter()
            .find(|m| *m != uid)
            .cloned()
    }

    /// The demo's trickle: a random bridged channel goes on hold for a moment. False if
    /// no channel is bridged.
    pub fn trickle(&mut self) -> bool {
        let bridged: Vec<String> = self
            .channels
            .values()
            .filter(|c| c.bridge.is_some())
            .map(|c| c.name.clone())
            .collect();
        if bridged.is_empty() {
            return false;
        }
        let i = self.rand(0, bridged.len() as u64 - 1) as usize;
        self.atxfer(&bridged[i])
    }

    /// AMI `Hangup` of a channel by name; returns false if it does not exist.
    pub fn hangup_by_name(&mut self, name: &str, cause: u32) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        let call = self
            .calls
            .iter()
            .find(|(_, c)| {
                c.a1 == uid
                    || c.a2 == uid
                    || c.b1.as_deref() == Some(&uid)
                    || c.b2.as_deref() == Some(&uid)
            })
            .map(|(&id, _)| id);
        // An AMI Hangup is a soft hangup: no HangupRequest for the channel itself.
        if self.parked.iter().any(|p| p.uniqueid == uid) {
            self.park_end(&uid, "ParkedCallGiveUp");
        }
        let Some(id) = call else {
            self.hangup_chan(&uid, cause, true);
            return true;
        };
        let Some(c) = self.calls.get(&id).cloned() else {
            return true;
        };
        if c.b1.as_deref() == Some(uid.as_str())
            && let Some(bid) = c.bridge.clone()
        {
            // The callee goes: the bridge breaks up, the caller's Dial returns and its
            // dialplan ends; then the callee pair goes.
            self.bridge_leave(&bid, &uid);
            self.bridge_leave(&bid, &c.a1);
            self.end_call(id, 16, false);
            return true;
        }
        self.phone_hangup(id, c.a2 == uid);
        true
    }

    /// Names of live channels matching a `/regex/`-style pattern (a plain prefix match here).
    pub fn channels_matching(&self, prefix: &str) -> Vec<String> {
        self.channels
            .values()
            .filter(|c| c.name.starts_with(prefix))
            .map(|c| c.name.clone())
            .collect()
    }

    /// `Redirect` (`blind = false`) or `BlindTransfer` (`blind = true`) of `name` to `exten`
    /// (250: `Dial(Local/202@test)`), in the recorded orders.
    ///
    /// Redirect moves the channel itself: it leaves its bridge, its old peer pair hangs up,
    /// and it dials the target. BlindTransfer sends the *peer* there and hangs up the
    /// transferer's side: the transferee's pair becomes the caller of a new dial.
    pub fn blind_transfer(&mut self, name: &str, exten: &str, blind: bool) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        let call = self
            .calls
            .iter()
            .find(|(_, c)| c.a1 == uid && c.bridge.is_some())
            .map(|(&id, c)| (id, c.clone()));
        let Some((id, call)) = call else {
            // Not the caller leg of a bridged call we drive: just move it in the dialplan.
            self.exten(&uid, exten, 1, "NoOp", "Transferred to 250");
            return true;
        };
        let (Some(b1), Some(b2), Some(bid)) =
            (call.b1.clone(), call.b2.clone(), call.bridge.clone())
        else {
            return false;
        };
        if let Some((q, m)) = call.queue {
            self.member_done(q, m);
        }
        if blind {
            self.blind_transfer_event(&uid, &b1, &bid, exten);
            // The transferer's pair goes; the transferee (b1) runs the target, b2 is its phone.
            self.bridge_leave(&bid, &uid);
            self.chan_event("SoftHangupRequest", Classes::CALL, &uid, &[("Cause", "16")]);
            self.chan_event("HangupRequest", Classes::CALL, &call.a2, &[("Cause", "16")]);
            let (num, name) = (
                self.field(&b1, |c| &c.cid_num),
                self.field(&b1, |c| &c.cid_name),
            );
            self.set_callerid(&call.a2, &num, &name);
            self.hangup_chan(&call.a2, 16, true);
            self.exten(&b1, exten, 1, "NoOp", "Transferred to 250");
            self.bridge_leave(&bid, &b1);
            self.hangup_chan(&uid, 16, false);
            if let Some(c) = self.calls.get_mut(&id) {
                c.a1 = b1.clone();
                c.a2 = b2;
            }
            // The transferer's desk hung up; the transferee's desk now holds the call.
            self.hand_desk_over(id, call.callee.map(|c| c.device));
        } else {
            self.exten(&uid, exten, 1, "NoOp", "Transferred to 250");
            self.bridge_leave(&bid, &uid);
            self.end_peer_pair(&b1, &b2);
            // The transferee's desk hung up; the transferer's keeps the call.
            self.hand_desk_over(id, call.phone);
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
            c.bridge = None;
            c.queue = None;
        }
        let caller = if blind { b1 } else { uid };
        self.exten(&caller, exten, 3, "Dial", "Local/202@test,30");
        self.dial(id, "202");
        self.schedule(30, Step::DialRinging(id));
        self.schedule(1_000, Step::DialAnswer(id));
        true
    }

    /// `Redirect` with `ExtraChannel`: both legs leave the bridge at once. When the extra
    /// channel is the peer of a bridged caller leg, the caller dials the target as in a
    /// plain Redirect and the peer's pair runs `extra_exten` on its own (it is not hung up);
    /// otherwise each channel is moved on its own. False if either channel does not exist.
    pub fn dual_redirect(
        &mut self,
        name: &str,
        exten: &str,
        extra: &str,
        extra_exten: &str,
    ) -> bool {
        let (Some(uid), Some(xuid)) = (
            self.channel_by_name(name).map(|c| c.uniqueid.clone()),
            self.channel_by_name(extra).map(|c| c.uniqueid.clone()),
        ) else {
            return false;
        };
        let peer_call = self
            .calls
            .iter()
            .find(|(_, c)| {
                c.a1 == uid && c.b1.as_deref() == Some(xuid.as_str()) && c.bridge.is_some()
            })
            .map(|(&id, c)| (id, c.clone()));
        let Some((id, call)) = peer_call else {
            self.exten(
                &xuid,
                extra_exten,
                1,
                "NoOp",
                &format!("Redirected to {extra_exten}"),
            );
            return self.blind_transfer(name, exten, false);
        };
        let (Some(b2), Some(bid)) = (call.b2.clone(), call.bridge.clone()) else {
            return false;
        };
        self.exten(&uid, exten, 1, "NoOp", "Transferred to 250");
        self.exten(&xuid, extra_exten, 1, "Wait", &call.duration_s.to_string());
        self.bridge_leave(&bid, &uid);
        self.bridge_leave(&bid, &xuid);
        // The peer pair is a call of its own now, which ends when its Wait does.
        let own = self.next_call;
        self.next_call += 1;
        let mut alone = call.clone();
        (alone.a1, alone.a2) = (xuid, b2);
        (alone.b1, alone.b2, alone.bridge, alone.queue) = (None, None, None, None);
        (alone.phone, alone.callee) = (None, None);
        self.calls.insert(own, alone);
        self.schedule(call.duration_s * 1_000, Step::PhoneHangup(own));
        if let Some(c) = self.calls.get_mut(&id) {
            (c.b1, c.b2, c.bridge, c.queue) = (None, None, None, None);
        }
        if let Some((q, m)) = call.queue {
            self.member_done(q, m);
        }
        self.exten(&uid, exten, 3, "Dial", "Local/202@test,30");
        self.dial(id, "202");
        self.schedule(30, Step::DialRinging(id));
        self.schedule(1_000, Step::DialAnswer(id));
        true
    }

    fn blind_transfer_event(&mut self, transferer: &str, transferee: &str, bid: &str, exten: &str) {
        let (Some(t), Some(p), Some(b)) = (
            self.channels.get(transferer),
            self.channels.get(transferee),
            self.bridges.get(bid),
        ) else {
            return;
        };
        let mut msg = Self::head("BlindTransfer", Classes::CALL).with("Result", "Success");
        t.push_headers(&mut msg, "Transferer");
        p.push_headers(&mut msg, "Transferee");
        b.push_headers(&mut msg);
        msg.push("IsExternal", "Yes");
        msg.push("Context", "test");
        msg.push("Extension", exten);
        self.emit(Classes::CALL, msg);
        self.cel(transferer, "BLINDTRANSFER", "");
    }

    /// Raises `UserEvent` from the AMI action (it carries the action's ActionID).
    pub fn user_event(&mut self, name: &str, extra: &[(String, String)]) {
        let mut msg = Self::head("UserEvent", Classes::USER).with("UserEvent", name);
        for (k, v) in extra {
            msg.push(k, v);
        }
        self.emit(Classes::USER, msg);
    }

    /// An Originate's `Variable:` headers, set on its first channel without events (they
    /// were set before the channel existed).
    pub fn set_channel_vars(&mut self, a1: &str, vars: &[(String, String)]) {
        if let Some(ch) = self.ch(a1) {
            for (k, v) in vars {
                ch.set_var(k, v);
            }
        }
    }

    /// `Setvar` on a channel: a `VarSet` of that channel. False if there is no such channel.
    pub fn set_channel_var(&mut self, name: &str, var: &str, value: &str) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        self.varset(&uid, var, value);
        true
    }

    /// Sets a global variable; `VarSet` with `Channel: none`. `DEVICE_STATE(Custom:x)` and
    /// `PRESENCE_STATE(CustomPresence:x)` set a device or presence state instead, as
    /// `func_devstate` and `func_presencestate` do, and may be refused.
    pub fn set_global(&mut self, var: &str, value: &str) -> Result<(), FunctionError> {
        if let Some(result) = self.write_function(var, value) {
            return result;
        }
        self.globals.insert(var.to_string(), value.to_string());
        if self.opts.noise {
            let msg = Self::head("VarSet", Classes::DIALPLAN)
                .with("Channel", "none")
                .with("Uniqueid", "none")
                .with("Variable", var)
                .with("Value", value);
            self.emit(Classes::DIALPLAN, msg);
        }
        Ok(())
    }
}
