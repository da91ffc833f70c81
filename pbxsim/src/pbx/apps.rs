//! Originate into an application (`Application:`/`Data:`): ChanSpy on a named channel,
//! ParkedCall picks up a parked call, any other application runs until the caller phone
//! hangs up.

use super::*;

impl Pbx {
    /// Originates `Local/<phone>@test` straight into `app(data)`. `ChanSpy` spies on the
    /// first other channel whose name starts with the first argument of `data` (its
    /// options, `q`, `w` whisper, `B` barge…, change what the spyer hears, not the events):
    /// `ChanSpyStart` at once, `ChanSpyStop` when either side ends.
    pub fn originate_application(
        &mut self,
        phone: &str,
        app: &str,
        data: &str,
        callerid: (&str, &str),
        duration_s: u64,
        action_id: Option<&str>,
    ) -> String {
        let spy = app.eq_ignore_ascii_case("ChanSpy");
        let pickup = app.eq_ignore_ascii_case("ParkedCall");
        let target = match (spy, pickup) {
            (true, _) => Target::ChanSpy,
            (_, true) => Target::ParkPickup,
            _ => Target::Echo,
        };
        let (id, a1) = self.originate_leg(
            phone,
            target,
            Some((app, data)),
            callerid,
            duration_s,
            action_id,
        );
        if pickup {
            // `ParkedCall(default,701)` is what extension 701 of `parkedcalls` runs.
            let space = data.split(',').nth(1).and_then(|s| s.trim().parse().ok());
            self.run_pickup(id, space);
            return a1;
        }
        // Not through the dialplan: no Newexten, the channel just runs the application.
        if let Some(ch) = self.ch(&a1) {
            ch.app = app.to_string();
            ch.data = data.to_string();
        }
        let a2 = self
            .calls
            .get(&id)
            .map(|c| c.a2.clone())
            .unwrap_or_default();
        let prefix = data.split(',').next().unwrap_or_default();
        let spyee = self
            .channels
            .values()
            .filter(|c| spy && !prefix.is_empty() && c.uniqueid != a1 && c.uniqueid != a2)
            .find(|c| c.name.starts_with(prefix))
            .map(|c| c.uniqueid.clone());
        self.spy_start(id, &a1, spyee);
        self.schedule(duration_s * 1_000, Step::PhoneHangup(id));
        a1
    }

    /// Originates `Local/<phone>@test` to a parking space (`Exten: 701`…`720`): it picks up
    /// the call parked there, if any.
    pub fn originate_pickup(
        &mut self,
        phone: &str,
        space: u32,
        callerid: (&str, &str),
        duration_s: u64,
        action_id: Option<&str>,
    ) -> String {
        let (id, a1) = self.originate_leg(
            phone,
            Target::ParkPickup,
            None,
            callerid,
            duration_s,
            action_id,
        );
        self.run_pickup(id, Some(space));
        a1
    }

    fn run_pickup(&mut self, id: CallId, space: Option<u32>) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.space = space;
        }
        self.run_target(id);
    }

    /// The spyer `a1` of call `id` starts spying on `spyee`, if there is one: `ChanSpyStart`.
    pub(super) fn spy_start(&mut self, id: CallId, a1: &str, spyee: Option<String>) {
        let Some(spyee) = spyee else { return };
        self.two_chan_event(
            "ChanSpyStart",
            Classes::CALL,
            ("Spyer", a1),
            ("Spyee", &spyee),
            &[],
        );
        if let Some(c) = self.calls.get_mut(&id) {
            c.spyee = Some(spyee);
        }
    }

    /// A spied-on channel is going: its spyers get `ChanSpyStop` (and spy on nothing more).
    pub(super) fn spyee_gone(&mut self, uid: &str) {
        let spyers: Vec<(CallId, String)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.spyee.as_deref() == Some(uid))
            .map(|(&id, c)| (id, c.a1.clone()))
            .collect();
        for (id, spyer) in spyers {
            self.two_chan_event(
                "ChanSpyStop",
                Classes::CALL,
                ("Spyer", &spyer),
                ("Spyee", uid),
                &[],
            );
            if let Some(c) = self.calls.get_mut(&id) {
                c.spyee = None;
            }
        }
    }
}
