//! Who is on the simulated PBX: phones with hints, presence, mailboxes, agents and queues.
//!
//! Three set-ups: [`Directory::none`] (the stock fixtures' dialplan: no hints, which is what
//! `ami-events-stream.txt` was recorded with), [`Directory::recorded`] (the hints, custom
//! devices and presence providers `ami-session-2.txt` added at run time) and
//! [`Directory::call_centre`] (the demo: three dozen named phones, agents and queues).

/// One extension with a hint (`exten => 1001,hint,PJSIP/1001,CustomPresence:1001`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone {
    /// The extension, `1001`.
    pub exten: String,
    /// Who sits there (its caller ID name); empty for the recorded hints.
    pub name: String,
    /// The hint text: devices joined by `&`, then `,` and the presence provider if any.
    pub hint: String,
    /// `1001@default`, if the phone has a voicemail box.
    pub mailbox: Option<String>,
}

impl Phone {
    /// The devices of the hint (`Custom:1003&Custom:1004` gives two).
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.hint
            .split(',')
            .next()
            .unwrap_or_default()
            .split('&')
            .filter(|d| !d.is_empty())
    }

    /// The presence provider of the hint (`CustomPresence:1005`), if any.
    pub fn presence(&self) -> Option<&str> {
        self.hint.split_once(',').map(|(_, p)| p)
    }
}

/// A presence state as `PRESENCE_STATE()` stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// `CustomPresence:1001`.
    pub provider: String,
    /// One of [`PRESENCE_STATES`].
    pub state: String,
    /// Free text (`Lunch`).
    pub subtype: String,
    /// Free text (`Back at 2`).
    pub message: String,
}

/// The presence states `presencestate.c` knows, in its order.
pub const PRESENCE_STATES: [&str; 7] = [
    "not_set",
    "unavailable",
    "available",
    "away",
    "xa",
    "chat",
    "dnd",
];

/// A voicemail box and its message counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// `1001@default`.
    pub mailbox: String,
    /// The owner's full name (voicemail.conf), `Fullname` in the voicemail lists.
    pub name: String,
    /// Urgent messages.
    pub urgent: u32,
    /// New (unheard) messages.
    pub new: u32,
    /// Old (heard) messages.
    pub old: u32,
}

/// A queue agent: its name and the phone whose device state it follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    /// `MemberName`.
    pub name: String,
    /// `StateInterface` (`PJSIP/1001`).
    pub device: String,
}

/// A queue and who is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDef {
    /// `support`.
    pub name: String,
    /// `rrmemory`, `ringall`…
    pub strategy: String,
    /// Indexes into [`Directory::agents`].
    pub members: Vec<usize>,
    /// Members paused at start, with their reason.
    pub paused: Vec<(usize, String)>,
}

/// Everything the PBX knows about its people.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    /// The dialplan context of the hints.
    pub context: String,
    /// Hinted extensions, in the order `ExtensionStateList` lists them.
    pub phones: Vec<Phone>,
    /// Presence states set at start, in the order `PresenceStateList` lists them.
    pub presence: Vec<Presence>,
    /// Voicemail boxes (app_voicemail loaded); empty: every mailbox counts 0, as recorded.
    pub mailboxes: Vec<Mailbox>,
    /// Devices with a state at start other than `NOT_INUSE` (unregistered phones).
    pub device_states: Vec<(String, String)>,
    /// Queue agents; empty: the fixtures' `Agent One`, `Agent Two`… on `Local/agentN@agents/n`.
    pub agents: Vec<Agent>,
    /// Queues; empty: the fixtures' `support`, `sales` (no members), `queue3`…
    pub queues: Vec<QueueDef>,
}

/// The member interface of the directory's agent `i` (0-based): `Local/agent1@agents/n`…,
/// dialled the way the fixtures' queues dial their agents.
pub fn agent_interface(i: usize) -> String {
    format!("Local/agent{}@agents/n", i + 1)
}

fn available(provider: &str) -> Presence {
    Presence {
        provider: provider.into(),
        state: "available".into(),
        subtype: String::new(),
        message: String::new(),
    }
}

impl Directory {
    /// The stock fixtures: no hints, no presence, no voicemail.
    pub fn none() -> Directory {
        Directory {
            context: "test".into(),
            ..Directory::default()
        }
    }

    /// What `ami-session-2.txt` set up before it ran: hints 1005 (with presence), 1001,
    /// 1002, 1003 (two custom devices) and 1201 (`Local/201@test`), in its listing order,
    /// and the providers `CustomPresence:1005` … `1001`, all `available`.
    pub fn recorded() -> Directory {
        let phone = |exten: &str, hint: &str| Phone {
            exten: exten.into(),
            name: String::new(),
            hint: hint.into(),
            mailbox: None,
        };
        Directory {
            context: "test".into(),
            phones: vec![
                phone("1005", "Custom:1005,CustomPresence:1005"),
                phone("1001", "Custom:1001"),
                phone("1002", "Custom:1002"),
                phone("1003", "Custom:1003&Custom:1004"),
                phone("1201", "Local/201@test"),
            ],
            presence: (1001..=1005)
                .rev()
                .map(|n| available(&format!("CustomPresence:{n}")))
                .collect(),
            ..Directory::none()
        }
    }

    /// The demo's call centre: 36 named phones on `PJSIP/10xx` with presence and voicemail,
    /// twelve of them agents in `support`, `sales` and `billing` (two paused with a reason),
    /// a few people away or in a meeting, a few messages waiting, two phones unregistered.
    pub fn call_centre() -> Directory {
        const NAMES: [&str; 36] = [
            "Alice Martin",
            "Bruno Silva",
            "Chloe Dubois",
            "David Okafor",
            "Elena Rossi",
            "Farid Haddad",
            "Grace Kim",
            "Hugo Novak",
            "Ines Moreau",
            "Jonas Berg",
            "Keiko Tanaka",
            "Liam Walsh",
            "Maya Patel",
            "Nils Larsen",
            "Olivia Brown",
            "Pablo Ortega",
            "Quinn Murphy",
            "Rosa Costa",
            "Samir Aziz",
            "Tara Singh",
            "Umar Farouk",
            "Vera Ivanova",
            "Wen Li",
            "Ximena Lopez",
            "Yusuf Demir",
            "Zoe Fischer",
            "Arjun Rao",
            "Bea Schmidt",
            "Carlos Mendez",
            "Dana Cohen",
            "Emil Nowak",
            "Fatima Zahra",
            "Goran Petrovic",
            "Hana Sato",
            "Ivan Horvat",
            "Julia Weber",
        ];
        let exten = |i: usize| format!("{}", 1001 + i);
        let phones: Vec<Phone> = NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| Phone {
                exten: exten(i),
                name: (*name).into(),
                hint: format!("PJSIP/{0},CustomPresence:{0}", exten(i)),
                mailbox: Some(format!("{}@default", exten(i))),
            })
            .collect();
        let mut presence: Vec<Presence> = phones
            .iter()
            .map(|p| available(&format!("CustomPresence:{}", p.exten)))
            .collect();
        for (i, state, subtype, message) in [
            (13, "away", "Lunch", "Back at 2"),
            (17, "dnd", "", "In a meeting"),
            (22, "xa", "vacation", "Back Monday"),
            (29, "away", "Coffee", "Back in 5"),
        ] {
            presence[i].state = state.into();
            presence[i].subtype = subtype.into();
            presence[i].message = message.into();
        }
        let mailboxes = phones
            .iter()
            .enumerate()
            .map(|(i, p)| Mailbox {
                mailbox: p.mailbox.clone().unwrap_or_default(),
                name: p.name.clone(),
                urgent: u32::from(i == 4),
                new: [2, 1, 0, 3].get(i % 7).copied().unwrap_or(0),
                old: (i % 4) as u32,
            })
            .collect();
        let agents: Vec<Agent> = phones[..12]
            .iter()
            .map(|p| Agent {
                name: p.name.clone(),
                device: format!("PJSIP/{}", p.exten),
            })
            .collect();
        let queue =
            |name: &str, strategy: &str, members: Vec<usize>, paused: Vec<(usize, &str)>| {
                QueueDef {
                    name: name.into(),
                    strategy: strategy.into(),
                    members,
                    paused: paused.into_iter().map(|(m, r)| (m, r.into())).collect(),
                }
            };
        Directory {
            context: "test".into(),
            device_states: vec![
                ("PJSIP/1033".into(), "UNAVAILABLE".into()),
                ("PJSIP/1036".into(), "UNAVAILABLE".into()),
            ],
            queues: vec![
                queue("support", "rrmemory", (0..6).collect(), vec![(2, "Lunch")]),
                queue("sales", "ringall", (6..9).collect(), Vec::new()),
                queue(
                    "billing",
                    "rrmemory",
                    (9..12).collect(),
                    vec![(10, "Training")],
                ),
            ],
            phones,
            presence,
            mailboxes,
            agents,
        }
    }

    /// `ami-session-3.txt`'s voicemail.conf: mailboxes 1001-1005 in context `default`,
    /// no message, no e-mail.
    pub fn recorded_mailboxes() -> Vec<Mailbox> {
        ["Alice", "Bob", "Erin", "Frank", "Grace"]
            .iter()
            .zip(1001..)
            .map(|(name, n)| Mailbox {
                mailbox: format!("{n}@default"),
                name: format!("{name} Caller"),
                urgent: 0,
                new: 0,
                old: 0,
            })
            .collect()
    }

    /// Queue sign-in seats of the directory's agents: each agent's extension (the phone
    /// whose device is its state interface), its member interface and its queues, as
    /// `(exten, interface, queues)`.
    pub fn seats(&self) -> Vec<(String, String, Vec<String>)> {
        self.agents
            .iter()
            .enumerate()
            .filter_map(|(i, agent)| {
                let exten = agent.device.rsplit('/').next()?.to_string();
                let queues = self
                    .queues
                    .iter()
                    .filter(|q| q.members.contains(&i))
                    .map(|q| q.name.clone())
                    .collect();
                Some((exten, agent_interface(i), queues))
            })
            .collect()
    }

    /// A set-up by name: `none`, `recorded` or `call-centre` (for config files and flags).
    pub fn named(name: &str) -> Option<Directory> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "none" => Some(Directory::none()),
            "recorded" => Some(Directory::recorded()),
            "call-centre" | "call-center" => Some(Directory::call_centre()),
            _ => None,
        }
    }

    /// The phones whose hint has `device`.
    pub fn phones_of<'a>(&'a self, device: &'a str) -> impl Iterator<Item = &'a Phone> + 'a {
        self.phones
            .iter()
            .filter(move |p| p.devices().any(|d| d == device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_split_into_devices_and_presence() {
        let d = Directory::recorded();
        let devices: Vec<&str> = d.phones[3].devices().collect();
        assert_eq!(devices, ["Custom:1003", "Custom:1004"]);
        assert_eq!(d.phones[0].presence(), Some("CustomPresence:1005"));
        assert_eq!(d.phones[1].presence(), None);
        assert_eq!(d.phones_of("Custom:1004").count(), 1);
        assert_eq!(
            Directory::named("Call_Centre"),
            Some(Directory::call_centre())
        );
        assert_eq!(Directory::named("recorded"), Some(d));
        assert_eq!(Directory::named("nonsense"), None);
    }

    #[test]
    fn the_call_centre_is_consistent() {
        let d = Directory::call_centre();
        assert_eq!(d.phones.len(), 36);
        assert!(
            d.queues
                .iter()
                .all(|q| q.members.iter().all(|&m| m < d.agents.len()))
        );
        assert!(
            d.presence
                .iter()
                .all(|p| PRESENCE_STATES.contains(&p.state.as_str()))
        );
        assert!(d.mailboxes.iter().any(|m| m.new > 0));
        assert!(d.queues.iter().any(|q| !q.paused.is_empty()));
    }
}
