//! The call centre's desk phones: their device states follow the calls they make and take,
//! they put calls on hold, transfer them, change presence and get voicemail.
//!
//! Calls still run through the Local channels of the test dialplan (so every event keeps a
//! recorded shape); a desk phone is the device whose state, and so whose hint, follows the
//! call, as `PJSIP/1001` would follow a real SIP phone's channel.

use super::*;

impl Pbx {
    /// The call-centre phones of the directory (those with a name) that are registered
    /// (not `UNAVAILABLE`): number, name and device, for the generator and Originate.
    pub fn desk_phones(&self) -> Vec<(String, String, String)> {
        self.opts
            .directory
            .phones
            .iter()
            .filter(|p| !p.name.is_empty())
            .filter_map(|p| {
                let device = p.devices().next()?.to_string();
                Some((p.exten.clone(), p.name.clone(), device))
            })
            .filter(|(_, _, device)| self.device_state_of(device) != "UNAVAILABLE")
            .collect()
    }

    /// The desk phones in no call now, for the generator: a person at a desk takes one
    /// call at a time, and a desk's device state then follows that one call.
    pub fn free_desk_phones(&self) -> Vec<(String, String, String)> {
        let mut desks = self.desk_phones();
        desks.retain(|(_, _, device)| !self.agent_busy(device) && !self.desk_in_a_call(device));
        desks
    }

    /// Whether `device` is the phone of a queue member ringing or in a queue call.
    fn agent_busy(&self, device: &str) -> bool {
        self.queues
            .iter()
            .flat_map(|q| &q.members)
            .any(|m| m.state_interface == device && (m.in_call || m.status == 6 || m.status == 2))
    }

    /// Whether a call the generator or an Originate made holds `device` (as the
    /// caller's desk or the dialled one).
    pub(super) fn desk_in_a_call(&self, device: &str) -> bool {
        self.calls.values().any(|c| {
            c.phone.as_deref() == Some(device)
                || c.callee
                    .as_ref()
                    .is_some_and(|callee| callee.device == device)
        })
    }

    /// Ties the call whose first channel is `a1` to desk phones: `caller` is in use at once;
    /// `callee` (number, name, device) rings when dialled and answers by that name.
    pub fn attach_desk_phones(
        &mut self,
        a1: &str,
        caller: Option<&str>,
        callee: Option<(&str, &str, &str)>,
    ) {
        let Some(call) = self.calls.values_mut().find(|c| c.a1 == a1) else {
            return;
        };
        call.phone = caller.map(str::to_string);
        call.callee = callee.map(|(num, name, device)| Callee {
            num: num.into(),
            name: name.into(),
            device: device.into(),
        });
        if let Some(device) = caller {
            self.set_device_state(device, "INUSE");
        }
    }

    /// After a transfer, call `id` is held by `phone` alone (or no desk): the desk that
    /// left it is free, unless it is in another call.
    pub(super) fn hand_desk_over(&mut self, id: CallId, phone: Option<String>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let before = call.clone();
        call.phone = phone;
        call.callee = None;
        // The desk that keeps the call is held by it again, so only the one that left
        // is freed.
        self.desk_phones_free(&before);
    }

    /// The call is over (and gone from `calls`): its desk phones are free again, unless
    /// another call still holds one, or its agent is in a queue call: it stays in use.
    pub(super) fn desk_phones_free(&mut self, call: &Call) {
        let devices = [
            call.phone.clone(),
            call.callee.as_ref().map(|c| c.device.clone()),
        ];
        for device in devices.into_iter().flatten() {
            if !self.desk_in_a_call(&device) && !self.agent_busy(&device) {
                self.set_device_state(&device, "NOT_INUSE");
            }
        }
    }

    /// A desk phone puts its bridged call on hold for `secs`: `Hold` on its channel, music
    /// for the peer, `ONHOLD` for the phone; then `Unhold`. False if no such call is up.
    pub fn hold(&mut self, secs: u64) -> bool {
        let held: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.phone.is_some() && c.bridge.is_some())
            .map(|(&id, _)| id)
            .collect();
        if held.is_empty() {
            return false;
        }
        let id = held[self.rand(0, held.len() as u64 - 1) as usize];
        let Some(call) = self.calls.get(&id).cloned() else {
            return false;
        };
        self.chan_event("Hold", Classes::CALL, &call.a1, &[]);
        if let Some(peer) = self.bridge_peer(&call.a1) {
            self.chan_event(
                "MusicOnHoldStart",
                Classes::CALL,
                &peer,
                &[("Class", "default")],
            );
        }
        if let Some(phone) = &call.phone {
            self.set_device_state(phone, "ONHOLD");
        }
        self.schedule(secs * 1_000, Step::HoldEnd(id));
        true
    }

    /// The end of a hold, if the call is still up.
    pub(super) fn hold_end(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        self.chan_event("Unhold", Classes::CALL, &call.a1, &[]);
        if let Some(peer) = self.bridge_peer(&call.a1) {
            self.chan_event("MusicOnHoldStop", Classes::CALL, &peer, &[]);
        }
        if let Some(phone) = &call.phone {
            self.set_device_state(phone, "INUSE");
        }
    }

    /// Something happens at a desk when the call centre has been quiet: a hold, a blind
    /// transfer, a presence change (DND among them), an agent signing out of a queue or
    /// back in, a voicemail, or a waiting caller sent to voicemail. False if nothing
    /// could happen.
    pub fn desk_trickle(&mut self) -> bool {
        let named: Vec<usize> = (0..self.opts.directory.phones.len())
            .filter(|&i| !self.opts.directory.phones[i].name.is_empty())
            .collect();
        if named.is_empty() {
            return false;
        }
        let phone = named[self.rand(0, named.len() as u64 - 1) as usize];
        match self.rand(0, 11) {
            0..=3 => {
                let secs = self.rand(3, 10);
                self.hold(secs)
            }
            4 | 5 => {
                let bridged: Vec<String> = self
                    .calls
                    .values()
                    .filter(|c| c.phone.is_some() && c.bridge.is_some())
                    .filter_map(|c| self.channels.get(&c.a1).map(|ch| ch.name.clone()))
                    .collect();
                match bridged.first() {
                    Some(name) => self.blind_transfer(&name.clone(), "250", true),
                    None => false,
                }
            }
            6 | 7 => {
                let Some(provider) = self.opts.directory.phones[phone]
                    .presence()
                    .map(str::to_string)
                else {
                    return false;
                };
                let (state, subtype, message) = match self.rand(0, 3) {
                    0 => ("away", "Coffee", "Back in 5"),
                    1 => ("dnd", "", "In a meeting"),
                    _ => ("available", "", ""),
                };
                self.set_presence(&provider, state, subtype, message);
                true
            }
            8 | 9 => self.sign_in_or_out(),
            10 => {
                // A caller who waited long enough is sent to the voicemail of the
                // queue's first agent, as a supervisor does from the panel.
                let waiting = self.queues.iter().find_map(|q| {
                    let (uid, _) = q.callers.first()?;
                    let member = q.members.first()?;
                    let exten = member.state_interface.rsplit('/').next()?.to_string();
                    Some((self.channels.get(uid)?.name.clone(), exten))
                });
                match waiting {
                    Some((name, exten)) => self.voicemail_redirect(&name, &exten),
                    None => false,
                }
            }
            _ => {
                let Some(mailbox) = self.opts.directory.phones[phone].mailbox.clone() else {
                    return false;
                };
                let left = self.rand(0, 1) == 0;
                self.voicemail(&mailbox, left);
                true
            }
        }
    }

    /// One agent of the directory signs out of one of its queues, or, when two are out
    /// already, one signs back in (`QueueRemove` / `QueueAdd` of its member, following
    /// its phone). False without agents.
    fn sign_in_or_out(&mut self) -> bool {
        let seats = self.opts.directory.seats();
        let out: Vec<(String, String)> = seats
            .iter()
            .flat_map(|(_, interface, queues)| {
                queues
                    .iter()
                    .filter(|q| {
                        !self.queues.iter().any(|x| {
                            &x.name == *q && x.members.iter().any(|m| &m.interface == interface)
                        })
                    })
                    .map(|q| (q.clone(), interface.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if out.len() >= 2 || (!out.is_empty() && self.rand(0, 1) == 0) {
            let (queue, interface) = out[0].clone();
            let Some(i) = seats.iter().position(|(_, x, _)| *x == interface) else {
                return false;
            };
            let agent = self.opts.directory.agents[i].clone();
            return self
                .queue_add(
                    &queue,
                    &interface,
                    &agent.name,
                    0,
                    None,
                    Some(&agent.device),
                )
                .is_ok();
        }
        if seats.is_empty() {
            return false;
        }
        let (_, interface, queues) = &seats[self.rand(0, seats.len() as u64 - 1) as usize];
        let Some(queue) = queues.first() else {
            return false;
        };
        // Not in the middle of a call: app_queue would let it go, the demo waits.
        let busy = self
            .queues
            .iter()
            .flat_map(|q| &q.members)
            .any(|m| &m.interface == interface && m.status != 1);
        !busy && self.queue_remove(queue, interface).is_ok()
    }
}
