//! Manager privilege classes: the `read=` / `write=` lists of `manager.conf` as a bit set.
//!
//! The relay, pbxsim and the SPA all reason about them: which events a reader sees,
//! which actions a writer may send, which parts of the model a person may look at.

/// A set of AMI privilege classes (`system`, `call`, `agent`, …), as Asterisk keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes(u32);

/// The class names Asterisk knows, in its own order (`manager.c`, `perms[]`).
const NAMES: &[&str] = &[
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
];

impl Classes {
    /// No class at all: an empty `write=`.
    pub const NONE: Classes = Classes(0);
    /// Every class: `read=all`.
    pub const ALL: Classes = Classes((1 << 19) - 1);
    /// `system`.
    pub const SYSTEM: Classes = Classes::bit(0);
    /// `call`.
    pub const CALL: Classes = Classes::bit(1);
    /// `log`.
    pub const LOG: Classes = Classes::bit(2);
    /// `verbose`.
    pub const VERBOSE: Classes = Classes::bit(3);
    /// `command`.
    pub const COMMAND: Classes = Classes::bit(4);
    /// `agent`.
    pub const AGENT: Classes = Classes::bit(5);
    /// `user`.
    pub const USER: Classes = Classes::bit(6);
    /// `config`.
    pub const CONFIG: Classes = Classes::bit(7);
    /// `dtmf`.
    pub const DTMF: Classes = Classes::bit(8);
    /// `reporting`.
    pub const REPORTING: Classes = Classes::bit(9);
    /// `cdr`.
    pub const CDR: Classes = Classes::bit(10);
    /// `dialplan`.
    pub const DIALPLAN: Classes = Classes::bit(11);
    /// `originate`.
    pub const ORIGINATE: Classes = Classes::bit(12);
    /// `agi`.
    pub const AGI: Classes = Classes::bit(13);
    /// `cc`.
    pub const CC: Classes = Classes::bit(14);
    /// `aoc`.
    pub const AOC: Classes = Classes::bit(15);
    /// `test`.
    pub const TEST: Classes = Classes::bit(16);
    /// `security`.
    pub const SECURITY: Classes = Classes::bit(17);
    /// `message`.
    pub const MESSAGE: Classes = Classes::bit(18);

    const fn bit(n: u32) -> Classes {
        Classes(1 << n)
    }

    /// Parses a comma-separated list such as `call,agent,user` (unknown names are ignored,
    /// as Asterisk does; `all` means every class, `on` too when used as an event mask).
    pub fn parse(list: &str) -> Classes {
        let mut out = Classes::NONE;
        for word in list.split(',').map(str::trim) {
            if word.eq_ignore_ascii_case("all") {
                out = Classes::ALL;
            } else if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(word)) {
                out.0 |= 1 << i;
            }
        }
        out
    }

    /// The classes of an event, from its `Privilege:` header (`call,all`). The trailing
    /// `all` is how Asterisk writes every event's list, not a class; an event without
    /// the header has no class.
    pub fn of_event(event: &super::Message) -> Classes {
        let Some(privilege) = event.get_str("Privilege") else {
            return Classes::NONE;
        };
        let mut out = Classes::NONE;
        for word in privilege.split(',').map(str::trim) {
            if !word.eq_ignore_ascii_case("all") {
                out = out.or(Classes::parse(word));
            }
        }
        out
    }

    /// Whether `event` reaches a reader of these classes, as manager.c decides for an
    /// AMI session and for WaitEvent: the reader must hold every class of the event
    /// (an event with none reaches everyone). The one rule for every raw event reader.
    pub fn reads(self, event: &super::Message) -> bool {
        self.contains(Classes::of_event(event))
    }

    /// Union of two sets.
    pub const fn or(self, other: Classes) -> Classes {
        Classes(self.0 | other.0)
    }

    /// The classes of `self` that are not in `other`.
    pub const fn and_not(self, other: Classes) -> Classes {
        Classes(self.0 & !other.0)
    }

    /// Whether the two sets share a class: an event of class `self` reaches a reader of `other`.
    pub const fn intersects(self, other: Classes) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether every class of `needed` is in `self` (an action's write privilege check).
    pub const fn contains(self, needed: Classes) -> bool {
        self.0 & needed.0 == needed.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the classes in the set, in Asterisk's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }

    /// The `Privilege:` text of an event of this class, e.g. `call,all` (Asterisk always appends `all`).
    pub fn privilege(self) -> String {
        let mut out = String::new();
        for name in self.names() {
            out.push_str(name);
            out.push(',');
        }
        out.push_str("all");
        out
    }
}

/// A list of names in JSON (`["call", "agent"]`), so that the SPA and scripts can read it.
impl serde::Serialize for Classes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

/// Accepts the JSON list, or a `manager.conf` style string (`"call,agent"`), as config files hold.
impl<'de> serde::Deserialize<'de> for Classes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<String>),
            Text(String),
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::List(names) => Classes::parse(&names.join(",")),
            Form::Text(text) => Classes::parse(&text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(privilege: &str) -> super::super::Message {
        super::super::Message::new()
            .with("Event", "X")
            .with("Privilege", privilege)
    }

    #[test]
    fn an_events_classes_leave_out_the_trailing_all() {
        assert_eq!(Classes::of_event(&event("call,all")), Classes::CALL);
        assert_eq!(Classes::of_event(&event("Call")), Classes::CALL);
        assert_eq!(Classes::of_event(&event("agent,all")), Classes::AGENT);
        let none = super::super::Message::new().with("Event", "X");
        assert_eq!(Classes::of_event(&none), Classes::NONE);
    }

    #[test]
    fn a_reader_needs_every_class_of_the_event_as_manager_c_decides() {
        let viewer = Classes::CALL;
        assert!(viewer.reads(&event("call,all")));
        assert!(!viewer.reads(&event("agent,all")));
        assert!(!viewer.reads(&event("call,agent,all")));
        assert!(Classes::ALL.reads(&event("call,agent,all")));
        assert!(viewer.reads(&super::super::Message::new().with("Event", "X")));
    }

    #[test]
    fn parses_manager_conf_lists() {
        let agent = Classes::parse("call,agent,user,dtmf");
        assert!(agent.intersects(Classes::CALL));
        assert!(agent.intersects(Classes::DTMF));
        assert!(!agent.intersects(Classes::DIALPLAN));
        assert!(Classes::parse("").is_empty());
        assert_eq!(Classes::parse("all"), Classes::ALL);
    }

    #[test]
    fn privilege_text_matches_recordings() {
        assert_eq!(Classes::CALL.privilege(), "call,all");
        assert_eq!(
            Classes::SYSTEM.or(Classes::REPORTING).privilege(),
            "system,reporting,all"
        );
        assert_eq!(Classes::SECURITY.privilege(), "security,all");
    }

    #[test]
    fn json_is_a_list_of_names_and_accepts_manager_conf_text() {
        let agent = Classes::parse("call,agent");
        assert_eq!(
            serde_json::to_string(&agent).unwrap(),
            r#"["call","agent"]"#
        );
        assert_eq!(
            serde_json::from_str::<Classes>(r#"["agent","call"]"#).unwrap(),
            agent
        );
        assert_eq!(
            serde_json::from_str::<Classes>(r#""call, agent""#).unwrap(),
            agent
        );
        assert_eq!(
            serde_json::from_str::<Classes>(r#""all""#).unwrap(),
            Classes::ALL
        );
    }
}
