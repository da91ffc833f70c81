//! Simulator settings: manager users, traffic profile, seed, limits; read from a `manager.conf`-style file.

use std::sync::Arc;
use std::time::Duration;

use crate::directory::Directory;
use crate::fault::Faults;
use crate::listcommands::{BOOT_MISSING, VOICEMAIL};
use crate::stats::Stats;
use shared::ami::Classes;

/// A manager user of `manager.conf`.
#[derive(Clone, Debug)]
pub struct User {
    /// Section name, the `Username:` of Login.
    pub name: String,
    /// `secret=`.
    pub secret: String,
    /// `read=`: the event classes the user receives.
    pub read: Classes,
    /// `write=`: the action classes the user may run.
    pub write: Classes,
}

impl User {
    /// A user from its `manager.conf` fields.
    pub fn new(name: &str, secret: &str, read: &str, write: &str) -> User {
        User {
            name: name.into(),
            secret: secret.into(),
            read: Classes::parse(read),
            write: Classes::parse(write),
        }
    }
}

/// How much traffic the generator makes.
#[derive(Clone, Debug, PartialEq)]
pub enum Traffic {
    /// No generated calls; only what clients originate.
    Off,
    /// Calls arrive at this mean rate per minute, in real time, plus a trickle (hold/unhold
    /// or a new call) whenever the PBX has been silent for `trickle`.
    Paced {
        /// Mean call arrivals per minute.
        calls_per_minute: f64,
        /// Longest silence before the trickle makes something happen.
        trickle: Duration,
    },
    /// Virtual time runs as fast as the slowest reader takes events, optionally capped.
    Load {
        /// Upper bound in events per second (`None`: as fast as possible).
        max_events_per_sec: Option<u64>,
    },
}

/// Everything `serve` needs to know.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Manager users.
    pub users: Vec<User>,
    /// Traffic profile.
    pub traffic: Traffic,
    /// Seed of the generator: same seed, same event sequence.
    pub seed: u64,
    /// Epoch seconds at start (Uniqueid prefix); `None` means the wall clock.
    pub epoch: Option<u64>,
    /// First Local channel number and Uniqueid sequence; `None` gives each `serve` run of
    /// the process a block of its own (a restart reuses no name), `Some(0)` numbers as a
    /// freshly started Asterisk does (for replays of the recordings).
    pub ids_from: Option<u64>,
    /// Emit `Newexten`/`VarSet`/`CEL`/`Cdr` (most of a real stream).
    pub noise: bool,
    /// In load mode, a `UserEvent: LoadStamp` with `SentUs` (wall-clock µs since the epoch)
    /// after every this many events; 0: none.
    pub stamp_every: u32,
    /// Agents of the call centre (2 in the fixtures).
    pub agents: usize,
    /// Queues: `support`, `sales`, then `queue3`… (2 in the fixtures).
    pub queues: usize,
    /// Events a session may fall behind before it is dropped as a slow client.
    pub max_lag_events: usize,
    /// How long one write to a client may block before the client is dropped.
    pub write_timeout: Duration,
    /// Delay before `Authentication failed` (Asterisk sleeps 1 s).
    pub failed_login_delay: Duration,
    /// Largest accepted action, bytes (Asterisk refuses long lines; we bound the message).
    pub max_action_len: usize,
    /// Most concurrent client connections.
    pub max_clients: usize,
    /// Fault switches, shared with whoever holds a clone.
    pub faults: Faults,
    /// Counters (logins per user, sessions, actions), shared with whoever holds a clone.
    pub stats: Stats,
    /// Phones with hints, presence, voicemail; and agents and queues unless the fixtures'.
    pub directory: Directory,
    /// Serve AMI over TLS with this configuration (Asterisk's `tlsenable`); plain TCP if `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Actions this Asterisk lacks, as when the module that registers them is `noload`ed
    /// in modules.conf (app_queue: every `Queue*` action): answered `Invalid/unknown
    /// command` and left out of `ListCommands`, booted or not.
    pub missing_actions: Vec<String>,
}

/// The three users of the fixtures' `manager.conf`.
fn fixture_users() -> Vec<User> {
    vec![
        User::new("admin", "admin-secret", "all", "all"),
        User::new(
            "agent",
            "agent-secret",
            "call,agent,user,dtmf",
            "call,agent,originate",
        ),
        User::new("viewer", "viewer-secret", "call", ""),
    ]
}

impl SimConfig {
    /// No generated traffic: for tests that drive every call themselves. The fixtures' users,
    /// queues and agents, with the hints and presence providers of `ami-session-2.txt`.
    pub fn quiet() -> SimConfig {
        SimConfig {
            users: fixture_users(),
            traffic: Traffic::Off,
            seed: 1,
            epoch: None,
            ids_from: None,
            noise: true,
            stamp_every: 0,
            agents: 2,
            queues: 2,
            max_lag_events: 65_536,
            write_timeout: Duration::from_secs(5),
            failed_login_delay: Duration::from_secs(1),
            max_action_len: 64 * 1024,
            max_clients: 256,
            faults: Faults::default(),
            stats: Stats::default(),
            directory: Directory::recorded(),
            tls: None,
            missing_actions: Vec::new(),
        }
    }

    /// Gentle traffic a person can watch: a few calls a minute and never more than ~1.5 s of
    /// silence, in a call centre of three dozen named phones and three staffed queues.
    pub fn demo() -> SimConfig {
        SimConfig {
            directory: Directory::call_centre(),
            traffic: Traffic::Paced {
                calls_per_minute: 20.0,
                trickle: Duration::from_millis(1_500),
            },
            ..SimConfig::quiet()
        }
    }

    /// As fast as the client reads, for load tests.
    pub fn load() -> SimConfig {
        SimConfig {
            traffic: Traffic::Load {
                max_events_per_sec: None,
            },
            ..SimConfig::quiet()
        }
    }

    /// Load at a steady `events_per_sec`, with a send-time stamp after every 100 events:
    /// what the end-to-end latency benchmark runs.
    pub fn load_at(events_per_sec: u64) -> SimConfig {
        SimConfig {
            traffic: Traffic::Load {
                max_events_per_sec: Some(events_per_sec),
            },
            stamp_every: 100,
            ..SimConfig::quiet()
        }
    }

    /// The fixtures' queues and agents (`support`, `sales`, `queue3`…), resized: what
    /// `agents` and `queues` set, in place of the directory's queues (its phones stay).
    pub fn fixture_queues(&mut self, agents: Option<usize>, queues: Option<usize>) {
        self.agents = agents.unwrap_or(self.agents);
        self.queues = queues.unwrap_or(self.queues);
        self.directory.queues.clear();
        self.directory.agents.clear();
    }

    /// Whether this Asterisk knows `action` now: not one of [`SimConfig::missing_actions`],
    /// nor, while it boots, of [`crate::listcommands::BOOT_MISSING`], nor app_voicemail's
    /// without mailboxes.
    pub(crate) fn has_action(&self, action: &str) -> bool {
        let named = |n: &str| n.eq_ignore_ascii_case(action);
        let loading = self.faults.booting() && BOOT_MISSING.iter().any(|n| named(n));
        let no_voicemail =
            self.directory.mailboxes.is_empty() && VOICEMAIL.iter().any(|n| named(n));
        !loading && !no_voicemail && !self.missing_actions.iter().any(|n| named(n))
    }

    /// The user named `name`, if configured.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// Reads a `manager.conf`-style file: `[name]` sections with `secret`/`read`/`write`
    /// define users (replacing the defaults if any is given); a `[pbxsim]` section may set
    /// `seed`, `calls_per_minute`, `agents`, `queues`, `noise` (yes/no), `load` (yes/no) and
    /// `stamp_every` (events between load stamps) and `directory` (`none`, `recorded`,
    /// `call-centre`).
    pub fn from_conf(text: &str, base: SimConfig) -> Result<SimConfig, ConfigError> {
        let mut cfg = base;
        let mut users: Vec<User> = Vec::new();
        let mut section = String::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split(';').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                if section != "general" && section != "pbxsim" {
                    users.push(User::new(&section, "", "", ""));
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError::Syntax { line: n + 1 });
            };
            let (key, value) = (key.trim(), value.trim().trim_start_matches('>').trim());
            match section.as_str() {
                "general" => {}
                "pbxsim" => apply_sim_key(&mut cfg, key, value, n + 1)?,
                _ => {
                    if let Some(user) = users.last_mut() {
                        match key {
                            "secret" => user.secret = value.to_string(),
                            "read" => user.read = Classes::parse(value),
                            "write" => user.write = Classes::parse(value),
                            _ => {}
                        }
                    }
                }
            }
        }
        if !users.is_empty() {
            cfg.users = users;
        }
        Ok(cfg)
    }
}

fn apply_sim_key(
    cfg: &mut SimConfig,
    key: &str,
    value: &str,
    line: usize,
) -> Result<(), ConfigError> {
    let bad = || ConfigError::Value {
        line,
        key: key.to_string(),
    };
    let yes = |v: &str| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1");
    match key {
        "seed" => cfg.seed = value.parse().map_err(|_| bad())?,
        "noise" => cfg.noise = yes(value),
        "agents" => cfg.fixture_queues(Some(value.parse().map_err(|_| bad())?), None),
        "queues" => cfg.fixture_queues(None, Some(value.parse().map_err(|_| bad())?)),
        "stamp_every" => cfg.stamp_every = value.parse().map_err(|_| bad())?,
        "directory" => cfg.directory = Directory::named(value).ok_or_else(bad)?,
        "calls_per_minute" => {
            let calls_per_minute: f64 = value.parse().map_err(|_| bad())?;
            cfg.traffic = if calls_per_minute > 0.0 {
                Traffic::Paced {
                    calls_per_minute,
                    trickle: Duration::from_millis(1_500),
                }
            } else {
                Traffic::Off
            };
        }
        "load" if yes(value) => {
            cfg.traffic = Traffic::Load {
                max_events_per_sec: None,
            }
        }
        _ => {}
    }
    Ok(())
}

/// A configuration file the simulator cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A line is neither a `[section]` nor `key = value`: fix the file at that line.
    #[error("line {line}: expected `[section]` or `key = value`")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A `[pbxsim]` value has the wrong type: fix the file at that line.
    #[error("line {line}: bad value for `{key}`")]
    Value {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixture_manager_conf_shape() {
        let text = "[general]\nenabled = yes\n\n[admin]\nsecret = s1\nread = all\nwrite = all\n\n\
                    [viewer]\nsecret = s2\nread = call\nwrite =\n[pbxsim]\nseed = 7\nnoise = no\n";
        let cfg = SimConfig::from_conf(text, SimConfig::quiet()).expect("valid file");
        assert_eq!(cfg.users.len(), 2);
        let viewer = cfg.user("viewer").expect("viewer");
        assert_eq!(viewer.secret, "s2");
        assert!(viewer.write.is_empty());
        assert_eq!(cfg.seed, 7);
        assert!(!cfg.noise);
    }

    #[test]
    fn agents_or_queues_bring_back_the_fixture_queues() {
        assert!(!SimConfig::demo().directory.queues.is_empty());
        let cfg = SimConfig::from_conf("[pbxsim]\nagents = 4\n", SimConfig::demo()).expect("ok");
        assert_eq!(cfg.agents, 4);
        assert!(cfg.directory.queues.is_empty() && cfg.directory.agents.is_empty());
        assert_eq!(cfg.directory.phones.len(), 36, "the phones stay");
    }

    #[test]
    fn refuses_garbage_lines() {
        let err = SimConfig::from_conf("[admin]\nnonsense\n", SimConfig::quiet()).err();
        assert!(matches!(err, Some(ConfigError::Syntax { line: 2 })));
    }
}
