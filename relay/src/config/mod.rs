//! The command line and the configuration file, and the [`Config`] they become.
//!
//! Precedence, highest first: a command-line flag, its `ASTPANEL_*` environment
//! variable, the TOML file (`--config`, annotated in `astpanel.example.toml`), the
//! default. A broken file is refused before anything starts, with the file, the line
//! and the key in the message: a typo must not silently become a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use shared::ami::Classes;
use shared::protocol::ScreenPop;

use crate::ami::{AmiConfig, AuthMethod};
use crate::auth::throttle::ThrottleConfig;
use crate::auth::users::RelayUser;
use crate::net::access::{GateConfig, NetworkRule, NetworkRules, parse_network};

mod args;
pub(crate) use args::DEFAULT_LISTEN;
pub(crate) use env::apply_environment;
pub(crate) use file::default_port;
mod demo;
mod env;
mod file;

pub use args::Args;
pub use demo::server as demo_server;
pub use file::from_toml;

pub use crate::ajam::AjamConfig;
pub use crate::ajam::AjamConfig as LegacyConfig;
pub use crate::ami::tls::ServerTls;
pub use crate::audit::AuditConfig;
pub use crate::control::Dialing;
pub use crate::history::HistoryConfig;
pub use crate::live::{
    DEFAULT_EXCLUDED_EVENTS, DEFAULT_QUEUE_REFRESH, ServerConfig, default_excluded_events,
    queue_refresh,
};
pub use crate::net::tls::ListenerTls;
pub use crate::proxy::ProxyConfig;
pub use shared::model::figures::QueueThresholds;

/// Why the relay refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("neither --demo, --ami nor --config was given: say which Asterisk to show")]
    NoUpstream,
    #[error("--ami needs --ami-user and --ami-secret (or ASTPANEL_AMI_USER / ASTPANEL_AMI_SECRET)")]
    MissingCredentials,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// toml's message names the line, the column and the key, with the line quoted.
    #[error("{path}: {source}")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{path}, line {line}: {problem}")]
    Invalid {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("{path}: no [[server]] entry: the relay needs at least one Asterisk")]
    NoServer { path: PathBuf },
    #[error("environment variable {name}: {problem}")]
    Environment { name: String, problem: String },
}

/// What [`crate::run`] needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file this was read from, read again on SIGHUP for its `[[user]]`s.
    pub file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub upstream: Upstream,
    /// Origins (`https://crm.example.com`) allowed to open the WebSocket and call the
    /// API with a cookie, besides the relay's own.
    pub allowed_origins: Vec<String>,
    /// How long an account's AMI session stays logged in after its last user left:
    /// a reload or a flaky Wi-Fi must not cost a Login and a Logoff each time.
    pub linger: Duration,
    /// How long a login token is valid.
    pub token_ttl: Duration,
    /// Where logins are saved so that tokens outlive a restart (see
    /// [`crate::login_store`]); in memory only when `None`.
    pub login_store: Option<PathBuf>,
    /// See [`Args::max_browsers`].
    pub max_browsers: usize,
    /// Changes made within one tick go to browsers in one frame.
    pub tick: Duration,
    /// The reasons an agent picks from when pausing in a queue.
    pub pause_reasons: Vec<String>,
    /// Origins allowed to frame the screen-pop (`Content-Security-Policy:
    /// frame-ancestors`); every other page refuses to be framed.
    pub pop_frame_ancestors: Vec<String>,
    pub screen_pop: ScreenPop,
    pub legacy: LegacyConfig,
    /// `[ami_proxy]`: the AMI listener for existing AMI applications; off by default.
    pub ami_proxy: ProxyConfig,
    pub security: SecurityConfig,
    /// AstPanel's own accounts (`[[user]]`), each mapped to an AMI account.
    pub users: Vec<RelayUser>,
    /// HTTPS and WSS on `listen` (`[tls]`); plain HTTP when `None`.
    pub tls: Option<ListenerTls>,
    /// `[audit]`: where the audit log is kept (in memory when no `path` is set).
    pub audit: AuditConfig,
    /// `[history]`: where the call history is kept (in memory when no `path` is set).
    pub history: HistoryConfig,
}

/// `[security]`: who may connect, how often a login may fail, which logins exist.
#[derive(Clone, Debug)]
pub struct SecurityConfig {
    pub gate: GateConfig,
    pub throttle: ThrottleConfig,
    /// Whether people may log in with an AMI account's own username and secret (as
    /// with astman.js). Turn it off once everyone has a relay account (`[[user]]`):
    /// then nobody needs to know an AMI secret.
    pub ami_login: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            gate: GateConfig::default(),
            throttle: ThrottleConfig::default(),
            ami_login: true,
        }
    }
}

/// Where the AMI events come from.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// The simulated PBX, started in-process.
    Demo,
    /// Real Asterisk servers.
    Asterisk(Vec<ServerConfig>),
}

/// The relay accounts of the configuration file at `path` as it is now, read with the
/// process environment (SIGHUP: accounts removed or disabled lose their logins).
pub fn users_in(path: &Path) -> Result<Vec<RelayUser>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(from_toml(path, &text, &|name| std::env::var(name).ok())?.users)
}

impl Config {
    /// The simulated PBX, served on `listen`, with the default limits.
    pub fn demo(listen: SocketAddr) -> Self {
        Config {
            listen,
            upstream: Upstream::Demo,
            ..Config::defaults()
        }
    }

    fn defaults() -> Self {
        Config {
            file: None,
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            upstream: Upstream::Demo,
            allowed_origins: Vec::new(),
            linger: Duration::from_secs(30),
            token_ttl: Duration::from_secs(12 * 3600),
            login_store: None,
            max_browsers: 1000,
            tick: Duration::from_millis(20),
            pause_reasons: ["Break", "Lunch", "Meeting", "Training", "After-call work"]
                .iter()
                .map(|r| r.to_string())
                .collect(),
            pop_frame_ancestors: Vec::new(),
            screen_pop: ScreenPop::default(),
            legacy: LegacyConfig::default(),
            ami_proxy: ProxyConfig::default(),
            security: SecurityConfig::default(),
            users: Vec::new(),
            tls: None,
            audit: AuditConfig::default(),
            history: HistoryConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        from_toml(Path::new("astpanel.toml"), text, &no_env)
    }

    const TWO_SERVERS: &str = r#"
listen = "0.0.0.0:9000"
allowed_origins = ["https://crm.example.com"]
linger_secs = 5

[[server]]
name = "main"
host = "pbx1.example.com"
username = "astpanel"
secret = "s3cret"
md5 = true

[server.read_classes]
agent = "call,agent"
viewer = ["call"]

[[server]]
name = "branch"
host = "10.0.0.2"
port = 5039
username = "astpanel"
secret = "other"
exclude_events = []
"#;

    /// A call-forward template is one AstDB entry per extension, or the file is refused.
    #[test]
    fn call_forward_is_a_family_key_template_per_extension() {
        let with = |template: &str| {
            let mut text = String::from(TWO_SERVERS);
            text.insert_str(
                text.find("md5 = true").expect("main's keys"),
                &format!("call_forward = {template:?}\n"),
            );
            parse(&text)
        };
        let config = with("CF/{exten}").unwrap();
        let Upstream::Asterisk(servers) = &config.upstream else {
            panic!("servers")
        };
        assert_eq!(
            servers[0].dialing.call_forward.as_deref(),
            Some("CF/{exten}")
        );
        assert_eq!(servers[1].dialing.call_forward, None);
        for wrong in ["CF", "CF/", "/{exten}", "CF/all"] {
            let message = with(wrong).unwrap_err().to_string();
            assert!(
                message.contains("use family/key with {exten}"),
                "{wrong}: {message}"
            );
        }
    }

    #[test]
    fn logins_are_saved_only_where_the_file_says() {
        let saved = format!("login_store = \"/var/lib/astpanel/logins.db\"\n{TWO_SERVERS}");
        assert_eq!(
            parse(&saved).expect("parses").login_store.as_deref(),
            Some(Path::new("/var/lib/astpanel/logins.db"))
        );
        assert_eq!(parse(TWO_SERVERS).expect("parses").login_store, None);
    }

    #[test]
    fn a_file_with_two_servers() {
        let config = parse(TWO_SERVERS).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.linger, Duration::from_secs(5));
        let Upstream::Asterisk(servers) = &config.upstream else {
            panic!("servers")
        };
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].ami.addr, "pbx1.example.com:5038");
        assert_eq!(servers[0].ami.auth, AuthMethod::Md5);
        assert_eq!(
            servers[0].read_classes_of("agent"),
            Classes::parse("call,agent")
        );
        assert_eq!(servers[0].read_classes_of("viewer"), Classes::CALL);
        assert_eq!(servers[0].read_classes_of("stranger"), Classes::CALL);
        assert_eq!(servers[0].exclude_events, DEFAULT_EXCLUDED_EVENTS);
        assert_eq!(servers[1].ami.addr, "10.0.0.2:5039");
        assert!(servers[1].exclude_events.is_empty());
    }

    #[test]
    fn queue_figures_are_read_at_most_once_a_second_and_alarms_per_queue() {
        let servers = |text: &str| match parse(text).map(|c| c.upstream) {
            Ok(Upstream::Asterisk(servers)) => servers,
            other => panic!("servers: {other:?}"),
        };
        assert_eq!(servers(TWO_SERVERS)[0].queue_refresh, DEFAULT_QUEUE_REFRESH);
        // N-1, N, N+1 around the one-second floor.
        for (seconds, used) in [(0, 1), (1, 1), (2, 2)] {
            let text = TWO_SERVERS.replace(
                "md5 = true",
                &format!("md5 = true\nqueue_refresh_s = {seconds}"),
            );
            assert_eq!(
                servers(&text)[0].queue_refresh,
                Duration::from_secs(used),
                "queue_refresh_s = {seconds}"
            );
        }
        let alarms = format!(
            "{TWO_SERVERS}\n[[server.queue_alarm]]\nqueue = \"support\"\nwait_amber_s = 30\nwait_red_s = 60\nservice_level_amber_pct = 80.0\n"
        );
        let branch = &servers(&alarms)[1];
        assert_eq!(branch.queue_alarms.len(), 1);
        assert_eq!(branch.queue_alarms[0].queue, "support");
        assert_eq!(branch.queue_alarms[0].wait_red_s, Some(60));
        assert_eq!(branch.queue_alarms[0].waiting_red, None);
        assert!(servers(TWO_SERVERS)[1].queue_alarms.is_empty());
        for (wrong, problem) in [
            ("wait_red_s = 60", "wait_red_s = 20"),
            ("queue = \"support\"", "queue = \"\""),
            ("wait_amber_s = 30", "wait_amber = 30"),
        ] {
            let text = alarms.replace(wrong, problem);
            assert!(parse(&text).is_err(), "{problem} was taken");
        }
        let twice = format!("{alarms}\n[[server.queue_alarm]]\nqueue = \"support\"\n");
        let message = parse(&twice).unwrap_err().to_string();
        assert!(message.contains("given twice"), "{message}");
    }

    #[test]
    fn a_broken_file_names_the_line_and_the_key() {
        let broken = TWO_SERVERS.replace("port = 5039", "port = \"high\"");
        let message = parse(&broken).unwrap_err().to_string();
        assert!(message.starts_with("astpanel.toml: "), "{message}");
        assert!(message.contains("line 20"), "{message}");
        assert!(message.contains("port"), "{message}");

        let typo = TWO_SERVERS.replace("linger_secs", "linger_sec");
        let message = parse(&typo).unwrap_err().to_string();
        assert!(message.contains("unknown field `linger_sec`"), "{message}");
        assert!(message.contains("line 4"), "{message}");

        let missing = TWO_SERVERS.replace("host = \"10.0.0.2\"\n", "");
        let message = parse(&missing).unwrap_err().to_string();
        assert!(message.contains("missing field `host`"), "{message}");

        let twice = TWO_SERVERS.replace("name = \"branch\"", "name = \"main\"");
        let message = parse(&twice).unwrap_err().to_string();
        assert_eq!(
            message,
            "astpanel.toml, line 18: server name \"main\" is used twice"
        );

        let message = parse("listen = \"127.0.0.1:1\"\n").unwrap_err().to_string();
        assert!(message.contains("no [[server]]"), "{message}");
        assert!(parse("[[server]\n").is_err());
    }

    #[test]
    fn environment_variables_override_single_keys() {
        let env = |name: &str| match name {
            "ASTPANEL_SERVER_MAIN_SECRET" => Some("from-env".to_owned()),
            "ASTPANEL_SERVER_BRANCH_PORT" => Some("6000".to_owned()),
            "ASTPANEL_ALLOWED_ORIGINS" => Some("https://a.example, https://b.example".to_owned()),
            _ => None,
        };
        let config = from_toml(Path::new("f.toml"), TWO_SERVERS, &env).unwrap();
        let Upstream::Asterisk(servers) = &config.upstream else {
            panic!("servers")
        };
        assert_eq!(servers[0].ami.secret, "from-env");
        assert_eq!(servers[1].ami.addr, "10.0.0.2:6000");
        assert_eq!(
            config.allowed_origins,
            ["https://a.example", "https://b.example"]
        );

        let bad = |name: &str| (name == "ASTPANEL_SERVER_BRANCH_PORT").then(|| "x".to_owned());
        let message = from_toml(Path::new("f.toml"), TWO_SERVERS, &bad)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("environment variable ASTPANEL_SERVER_BRANCH_PORT"),
            "{message}"
        );
    }

    #[test]
    fn the_command_line_shorthands() {
        let args = Args::try_parse_from(["astpanel", "--demo"]).unwrap();
        assert!(matches!(
            args.into_config_with(no_env).unwrap().upstream,
            Upstream::Demo
        ));

        let args = Args::try_parse_from([
            "astpanel",
            "--ami",
            "pbx:5038",
            "--ami-user",
            "u",
            "--ami-secret",
            "s",
        ])
        .unwrap();
        let Upstream::Asterisk(servers) = args.into_config_with(no_env).unwrap().upstream else {
            panic!("expected Asterisk")
        };
        assert_eq!(servers[0].ami.addr, "pbx:5038");

        assert!(Args::try_parse_from(["astpanel", "--demo", "--ami", "pbx:5038"]).is_err());
        assert!(Args::try_parse_from(["astpanel", "--demo", "--config", "f.toml"]).is_err());
        let args = Args::try_parse_from(["astpanel"]).unwrap();
        assert!(matches!(
            args.into_config_with(no_env),
            Err(ConfigError::NoUpstream)
        ));
        let args = Args::try_parse_from(["astpanel", "--ami", "pbx:5038"]).unwrap();
        assert!(matches!(
            args.into_config_with(no_env),
            Err(ConfigError::MissingCredentials)
        ));
        let args =
            Args::try_parse_from(["astpanel", "--config", "/nonexistent/astpanel.toml"]).unwrap();
        let message = args.into_config_with(no_env).unwrap_err().to_string();
        assert!(
            message.starts_with("cannot read /nonexistent/astpanel.toml"),
            "{message}"
        );
    }

    #[test]
    fn security_settings_and_relay_accounts_are_checked_with_their_line() {
        let hash = crate::auth::users::hash_password(b"pw").unwrap();
        let with = |extra: &str| format!("{TWO_SERVERS}\n{extra}");
        let config = parse(&with(&format!(
            "[security]\nnetwork_rules = [\"deny 0.0.0.0/0\", \"permit 10.0.0.0/8\"]\nami_login = false\n\n\
             [[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nserver = \"main\"\nrole = \"agent\"\n"
        )))
        .unwrap();
        assert!(!config.security.ami_login);
        assert!(
            config
                .security
                .gate
                .rules
                .permits("10.1.1.1".parse().unwrap())
        );
        assert!(
            !config
                .security
                .gate
                .rules
                .permits("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            config.users[0].ami_user, "astpanel",
            "the server's own account"
        );
        assert_eq!(config.users[0].ami_secret(), "s3cret");

        let message = parse(&with(
            "[security]\nnetwork_rules = [\"allow 10.0.0.0/8\"]\n",
        ))
        .unwrap_err()
        .to_string();
        // After the servers: an empty line, the table header, then the key.
        let rule_line = TWO_SERVERS.lines().count() + 3;
        assert!(
            message.starts_with(&format!("astpanel.toml, line {rule_line}: [security]")),
            "{message}"
        );
        let user = |fields: &str| {
            parse(&with(&format!(
                "[[user]]\nname = \"bob\"\npassword_hash = \"{hash}\"\nrole = \"agent\"\n{fields}"
            )))
            .unwrap_err()
            .to_string()
        };
        let message = user("server = \"nowhere\"\n");
        let name_line = format!("line {rule_line}:");
        assert!(
            message.contains(&name_line) && message.contains("\"nowhere\" is not a [[server]]"),
            "{message}"
        );
        let message = user("server = \"main\"\nami_user = \"agents\"\n");
        assert!(
            message.contains("no secret for AMI account \"agents\""),
            "{message}"
        );
        let message = user("server = \"main\"\nrole2 = 1\n");
        assert!(message.contains("unknown field `role2`"), "{message}");
    }

    #[test]
    fn tls_keys_on_the_listener_and_on_a_server() {
        let text = format!(
            "{TWO_SERVERS}\ntls = true\ntls_ca = \"/etc/astpanel/pbx-ca.pem\"\n\
             tls_server_name = \"pbx.example.com\"\n\
             [tls]\ncert = \"/etc/astpanel/panel.pem\"\nkey = \"/etc/astpanel/panel.key\"\n"
        )
        .replace("port = 5039\n", "");
        let config = parse(&text).unwrap();
        let listener = config.tls.expect("[tls]");
        assert_eq!(listener.cert, Path::new("/etc/astpanel/panel.pem"));
        assert_eq!(listener.key, Path::new("/etc/astpanel/panel.key"));
        let Upstream::Asterisk(servers) = &config.upstream else {
            panic!("servers")
        };
        assert_eq!(servers[0].tls, None);
        assert_eq!(servers[0].ami.addr, "pbx1.example.com:5038");
        assert_eq!(
            servers[1].tls,
            Some(ServerTls {
                ca: Some("/etc/astpanel/pbx-ca.pem".into()),
                verify: true,
                server_name: Some("pbx.example.com".into()),
            })
        );
        // Asterisk's TLS port when none is given.
        assert_eq!(servers[1].ami.addr, "10.0.0.2:5039");

        let lax = format!("{TWO_SERVERS}\ntls = true\ntls_verify = false\n")
            .replace("port = 5039", "port = 6000");
        let lax = parse(&lax).unwrap();
        let Upstream::Asterisk(servers) = &lax.upstream else {
            panic!("servers")
        };
        assert!(servers[1].tls.as_ref().is_some_and(|t| !t.verify));
        assert_eq!(
            servers[1].ami.addr, "10.0.0.2:6000",
            "an explicit port stays"
        );
        assert!(lax.tls.is_none());
    }

    #[test]
    fn tls_settings_without_tls_are_refused() {
        let message = parse(&format!("{TWO_SERVERS}\ntls_verify = false\n"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "astpanel.toml, line 18: tls_ca, tls_verify and tls_server_name need tls = true"
        );
        let message = parse(&format!("{TWO_SERVERS}\n[tls]\ncert = \"c.pem\"\n"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("missing field `key`"), "{message}");
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../../astpanel.example.toml");
        let config = parse(text).unwrap();
        assert!(matches!(config.upstream, Upstream::Asterisk(ref s) if !s.is_empty()));
        assert_eq!(
            config.audit,
            AuditConfig {
                path: Some("/var/lib/astpanel/audit.db".into()),
                retention: Duration::from_secs(400 * 86_400),
                max_records: 1_000_000,
            }
        );
    }

    /// Issue 22: what the example says is a default is the code's default (the AJAM
    /// `Server:` header once said "Asterisk" while the code sent `AstPanel/<version>`).
    #[test]
    fn the_example_file_shows_the_defaults() {
        let config = parse(include_str!("../../../astpanel.example.toml")).unwrap();
        let defaults = Config::defaults();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.allowed_origins, defaults.allowed_origins);
        assert_eq!(config.linger, defaults.linger);
        assert_eq!(config.token_ttl, defaults.token_ttl);
        assert_eq!(config.login_store, defaults.login_store);
        assert_eq!(config.max_browsers, defaults.max_browsers);
        assert_eq!(config.tick, defaults.tick);
        assert_eq!(config.pause_reasons, defaults.pause_reasons);
        assert_eq!(
            format!("{:?}", config.legacy),
            format!("{:?}", defaults.legacy)
        );
        let (security, default_security) = (&config.security, &defaults.security);
        assert_eq!(
            format!("{:?}", security.throttle),
            format!("{:?}", default_security.throttle)
        );
        assert_eq!(security.ami_login, default_security.ami_login);
        assert_eq!(
            (
                security.gate.max_connections,
                security.gate.max_connections_per_address
            ),
            (
                default_security.gate.max_connections,
                default_security.gate.max_connections_per_address
            )
        );
        assert_eq!(config.audit.retention, defaults.audit.retention);
        assert_eq!(config.audit.max_records, defaults.audit.max_records);
        let Upstream::Asterisk(servers) = config.upstream else {
            panic!("the example names a server")
        };
        let server = &servers[0];
        let ami = AmiConfig::new("127.0.0.1:5038", "", "");
        assert_eq!(server.ami.addr, ami.addr);
        assert_eq!(server.ami.auth, ami.auth);
        assert_eq!(
            (
                server.ami.connect_timeout,
                server.ami.action_timeout,
                server.ami.ping_interval
            ),
            (ami.connect_timeout, ami.action_timeout, ami.ping_interval)
        );
        assert_eq!(server.exclude_events, DEFAULT_EXCLUDED_EVENTS);
        // The seats are an example; the rest of the dialling settings are the defaults.
        assert_eq!(
            Dialing {
                seats: Vec::new(),
                ..server.dialing.clone()
            },
            Dialing::default()
        );
        let seat = |exten: &str, interface: &str, queues: &[&str]| shared::protocol::Seat {
            exten: exten.into(),
            interface: interface.into(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
        };
        assert_eq!(
            server.dialing.seats,
            [
                seat("1001", "PJSIP/1001", &["support", "sales"]),
                seat("1002", "Local/1002@agents/n", &["support"]),
            ],
            "an interface defaults to dial_channel"
        );
        assert!(server.tls.is_none());
    }

    #[test]
    fn without_an_audit_section_the_log_is_in_memory() {
        let text = "[[server]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n";
        assert_eq!(parse(text).unwrap().audit, AuditConfig::default());
        assert_eq!(AuditConfig::default().path, None);
        let unknown = format!("{text}[audit]\nretention = 5\n");
        assert!(parse(&unknown).is_err(), "an unknown key is an error");
    }

    #[test]
    fn the_history_section_sets_its_file_and_retention_and_defaults_to_memory() {
        let text = "[[server]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n";
        assert_eq!(parse(text).unwrap().history, HistoryConfig::default());
        assert_eq!(HistoryConfig::default().path, None);
        let set = format!(
            "{text}[history]\npath = \"/var/lib/astpanel/history.db\"\nretention_days = 7\n"
        );
        let history = parse(&set).unwrap().history;
        assert_eq!(history.path, Some("/var/lib/astpanel/history.db".into()));
        assert_eq!(history.retention, Duration::from_secs(7 * 86_400));
        let unknown = format!("{text}[history]\nretention = 5\n");
        assert!(parse(&unknown).is_err(), "an unknown key is an error");
    }
}
