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
use shared::protocol::{DemoAccount, ScreenPop};

use crate::access::{GateConfig, NetworkRule, NetworkRules, parse_network};
use crate::ami::{AmiConfig, AuthMethod};
pub use crate::audit::AuditConfig;
use crate::throttle::ThrottleConfig;
use crate::users::RelayUser;

/// The address the panel listens on when nothing says otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// AstPanel: a live web operator panel and AMI relay for Asterisk.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// A TOML configuration file (see astpanel.example.toml).
    #[arg(long, value_name = "FILE", env = "ASTPANEL_CONFIG", conflicts_with_all = ["demo", "ami"])]
    pub config: Option<PathBuf>,

    /// Address the panel (HTTP and WebSocket) listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "ASTPANEL_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Run the simulated PBX in this process and show its calls: no Asterisk needed.
    #[arg(long, conflicts_with = "ami")]
    pub demo: bool,

    /// One Asterisk manager interface to connect to, as HOST:PORT (usually port 5038):
    /// a shorthand for a file with one `[[server]]`.
    #[arg(long, value_name = "HOST:PORT", env = "ASTPANEL_AMI")]
    pub ami: Option<String>,

    /// The manager user the relay itself logs in as (a section of manager.conf).
    #[arg(long, value_name = "USER", env = "ASTPANEL_AMI_USER", requires = "ami")]
    pub ami_user: Option<String>,

    /// That user's secret. Prefer the environment variable: flags show up in `ps`.
    #[arg(
        long,
        value_name = "SECRET",
        env = "ASTPANEL_AMI_SECRET",
        hide_env_values = true,
        requires = "ami"
    )]
    pub ami_secret: Option<String>,

    /// Log in with the MD5 challenge instead of sending the secret in clear.
    #[arg(long, requires = "ami")]
    pub ami_md5: bool,

    /// The name the panel shows for this server.
    #[arg(long, value_name = "NAME", default_value = "asterisk")]
    pub ami_name: String,

    /// Most browsers connected at once; more are refused with 503 until one leaves.
    #[arg(long, value_name = "N", env = "ASTPANEL_MAX_BROWSERS")]
    pub max_browsers: Option<usize>,

    /// Save logins in this SQLite file, so browsers stay logged in across a restart
    /// (the file never holds a secret that opens without the browser's token).
    #[arg(long, value_name = "FILE", env = "ASTPANEL_LOGIN_STORE")]
    pub login_store: Option<PathBuf>,

    /// Log filter, in `tracing` syntax (RUST_LOG wins when set).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log: String,

    /// Read a password from standard input, print its argon2 hash for a `[[user]]`
    /// entry's `password_hash`, and exit.
    #[arg(long, exclusive = true)]
    pub hash_password: bool,
}

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
    pub security: SecurityConfig,
    /// AstPanel's own accounts (`[[user]]`), each mapped to an AMI account.
    pub users: Vec<RelayUser>,
    /// HTTPS and WSS on `listen` (`[tls]`); plain HTTP when `None`.
    pub tls: Option<ListenerTls>,
    /// `[audit]`: where the audit log is kept (in memory when no `path` is set).
    pub audit: AuditConfig,
}

/// The panel's certificate (`[tls]`), read at startup and again on SIGHUP.
#[derive(Clone, Debug)]
pub struct ListenerTls {
    /// PEM: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// AMI over TLS to one server (`tls = true`), as Asterisk's `tlsenable` serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTls {
    /// PEM file of the CAs to trust; the system's roots when `None`.
    pub ca: Option<PathBuf>,
    /// Verify the certificate (the default); off only by an explicit `tls_verify = false`.
    pub verify: bool,
    /// The name the certificate must carry, when not the host's.
    pub server_name: Option<String>,
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

/// The AJAM endpoints (`[legacy]`), as Asterisk's http.conf and manager.conf set them.
#[derive(Clone, Debug)]
pub struct LegacyConfig {
    /// Serve them at all.
    pub enabled: bool,
    /// Asterisk's `prefix`, with its leading slash: `/asterisk`.
    pub prefix: String,
    /// Asterisk's `httptimeout`: a session ends this long after its last request.
    pub http_timeout: Duration,
    /// The `Server:` header and the name on the pages (Asterisk's `servername`).
    pub server_name: String,
    /// A listener of its own that writes Asterisk's exact header lines (as port 8088
    /// does); the panel's own listener serves the endpoints too.
    pub listen: Option<SocketAddr>,
    /// Asterisk's `enablestatic`: files served under `<prefix>/static/`.
    pub static_dir: Option<PathBuf>,
    /// Events one HTTP session may hold for WaitEvent; past it the oldest go.
    pub event_queue: usize,
    /// Logged-in AJAM sessions the relay keeps at once.
    pub max_sessions: usize,
    /// Connections the AJAM listener serves at once.
    pub max_connections: usize,
    /// The server an AJAM Login goes to when it names none (`Server:`): the first.
    pub server: Option<String>,
}

impl Default for LegacyConfig {
    fn default() -> Self {
        LegacyConfig {
            enabled: true,
            prefix: "/asterisk".into(),
            http_timeout: Duration::from_secs(60),
            server_name: concat!("AstPanel/", env!("CARGO_PKG_VERSION")).into(),
            listen: None,
            static_dir: None,
            event_queue: 10_000,
            max_sessions: 1_000,
            max_connections: 1_000,
            server: None,
        }
    }
}

/// Where the AMI events come from.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// The simulated PBX, started in-process.
    Demo,
    /// Real Asterisk servers.
    Asterisk(Vec<Server>),
}

/// One Asterisk server: how the relay reaches it and who may see what on it.
#[derive(Clone, Debug)]
pub struct Server {
    pub name: String,
    /// The relay's own service session (Events on): it keeps the live model.
    pub ami: AmiConfig,
    /// Event types Asterisk is asked to leave out (the model does not use them).
    pub exclude_events: Vec<String>,
    /// AMI users and their `read=` classes, copied from manager.conf. A user not
    /// listed sees `call` only.
    pub read_classes: BTreeMap<String, Classes>,
    /// Accounts the login page names (the demo's); empty for real servers.
    pub demo_accounts: Vec<DemoAccount>,
    pub dialing: Dialing,
    /// Secrets of further AMI accounts that relay accounts are mapped to (the
    /// service account's own secret is known already).
    pub ami_secrets: BTreeMap<String, String>,
    /// TLS on the AMI link; `crate::run` builds it into `ami.tls` at startup.
    pub tls: Option<ServerTls>,
}

/// How click-to-dial, pickup and spy reach a person's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialing {
    /// The channel that rings for an extension; `{exten}` is replaced (`PJSIP/{exten}`).
    pub channel_template: String,
    /// The dialplan context numbers are dialled in.
    pub context: String,
    /// The context of the parking spaces, for pick-up.
    pub parking_context: String,
}

impl Default for Dialing {
    fn default() -> Self {
        Dialing {
            channel_template: "PJSIP/{exten}".into(),
            context: "from-internal".into(),
            parking_context: "parkedcalls".into(),
        }
    }
}

/// What Asterisk is asked not to send, by default: noisy and unused by the model.
pub const DEFAULT_EXCLUDED_EVENTS: &[&str] = &["VarSet", "Newexten", "RTCP", "Cdr", "CEL"];

fn default_excluded_events() -> Vec<String> {
    DEFAULT_EXCLUDED_EVENTS
        .iter()
        .map(|e| e.to_string())
        .collect()
}

impl Server {
    /// The in-process simulated PBX at `addr`, followed as its `admin` user, with the
    /// read classes of the fixtures' users (pbxsim's manager.conf).
    pub fn demo(addr: SocketAddr) -> Self {
        let accounts = [
            ("admin", "admin-secret", "all", "administrator: everything"),
            ("agent", "agent-secret", "call,agent,user,dtmf", "agent"),
            ("viewer", "viewer-secret", "call", "read-only"),
        ];
        Server {
            name: "demo".into(),
            ami: AmiConfig::new(addr.to_string(), "admin", "admin-secret"),
            exclude_events: default_excluded_events(),
            read_classes: accounts
                .iter()
                .map(|(user, _, read, _)| (user.to_string(), Classes::parse(read)))
                .collect(),
            demo_accounts: accounts
                .iter()
                .map(|(username, secret, _, role)| DemoAccount {
                    username: username.to_string(),
                    secret: secret.to_string(),
                    role: role.to_string(),
                })
                .collect(),
            // pbxsim's dialplan is Asterisk's test context, parking spaces included.
            dialing: Dialing {
                channel_template: "PJSIP/{exten}".into(),
                context: "test".into(),
                parking_context: "test".into(),
            },
            tls: None,
            ami_secrets: BTreeMap::new(),
        }
    }

    /// The secret of AMI account `username` on this server, if the relay knows it.
    pub fn ami_secret_of(&self, username: &str) -> Option<&str> {
        if username == self.ami.username {
            Some(&self.ami.secret)
        } else {
            self.ami_secrets.get(username).map(String::as_str)
        }
    }

    /// The read classes of `username` on this server.
    pub fn read_classes_of(&self, username: &str) -> Classes {
        self.read_classes
            .get(username)
            .copied()
            .unwrap_or(Classes::CALL)
    }
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
            security: SecurityConfig::default(),
            users: Vec::new(),
            tls: None,
            audit: AuditConfig::default(),
        }
    }
}

impl Args {
    /// The configuration these arguments describe, reading the file and the
    /// process environment.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        self.into_config_with(|name| std::env::var(name).ok())
    }

    /// [`Args::into_config`] with the environment given, for tests.
    pub fn into_config_with(
        self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            from_toml(path, &text, &env)?
        } else if let Some(addr) = self.ami {
            let (Some(user), Some(secret)) = (self.ami_user, self.ami_secret) else {
                return Err(ConfigError::MissingCredentials);
            };
            let mut ami = AmiConfig::new(addr, user, secret);
            if self.ami_md5 {
                ami.auth = AuthMethod::Md5;
            }
            Config {
                upstream: Upstream::Asterisk(vec![Server {
                    name: self.ami_name,
                    ami,
                    exclude_events: default_excluded_events(),
                    read_classes: BTreeMap::new(),
                    demo_accounts: Vec::new(),
                    dialing: Dialing::default(),
                    ami_secrets: BTreeMap::new(),
                    tls: None,
                }]),
                ..Config::defaults()
            }
        } else if self.demo {
            Config::defaults()
        } else {
            return Err(ConfigError::NoUpstream);
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(max) = self.max_browsers {
            config.max_browsers = max;
        }
        if let Some(path) = self.login_store {
            config.login_store = Some(path);
        }
        Ok(config)
    }
}

/// The file's shape. Unknown keys are errors: `linger_sec = 5` must not be ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    linger_secs: Option<u64>,
    token_ttl_secs: Option<u64>,
    login_store: Option<PathBuf>,
    max_browsers: Option<usize>,
    tick_ms: Option<u64>,
    pause_reasons: Option<Vec<String>>,
    #[serde(default, rename = "server")]
    servers: Vec<ServerEntry>,
    screen_pop: Option<ScreenPopEntry>,
    legacy: Option<LegacyEntry>,
    security: Option<SecurityEntry>,
    #[serde(default, rename = "user")]
    users: Vec<UserEntry>,
    tls: Option<TlsEntry>,
    audit: Option<AuditEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditEntry {
    path: Option<PathBuf>,
    retention_days: Option<u64>,
    max_records: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecurityEntry {
    #[serde(default)]
    network_rules: Vec<toml::Spanned<String>>,
    #[serde(default)]
    trusted_proxies: Vec<toml::Spanned<String>>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    login_failures_per_account: Option<u32>,
    login_failures_per_address: Option<u32>,
    login_window_secs: Option<u64>,
    login_lockout_secs: Option<u64>,
    ami_login: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: toml::Spanned<String>,
    password_hash: String,
    server: String,
    role: shared::action::Role,
    extension: Option<String>,
    ami_user: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsEntry {
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyEntry {
    enabled: Option<bool>,
    prefix: Option<toml::Spanned<String>>,
    http_timeout_secs: Option<u64>,
    server_name: Option<String>,
    listen: Option<SocketAddr>,
    static_dir: Option<PathBuf>,
    event_queue: Option<usize>,
    max_sessions: Option<usize>,
    max_connections: Option<usize>,
    server: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenPopEntry {
    #[serde(default)]
    frame_ancestors: Vec<String>,
    target_origin: Option<String>,
    crm_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    name: toml::Spanned<String>,
    host: String,
    /// 5038, or 5039 with `tls`.
    port: Option<u16>,
    username: String,
    secret: String,
    #[serde(default)]
    md5: bool,
    exclude_events: Option<Vec<String>>,
    connect_timeout_ms: Option<u64>,
    action_timeout_ms: Option<u64>,
    ping_interval_secs: Option<u64>,
    #[serde(default)]
    read_classes: BTreeMap<String, Classes>,
    dial_channel: Option<String>,
    dial_context: Option<String>,
    parking_context: Option<String>,
    #[serde(default)]
    ami_secrets: BTreeMap<String, String>,
    #[serde(default)]
    tls: bool,
    tls_ca: Option<PathBuf>,
    tls_verify: Option<bool>,
    tls_server_name: Option<String>,
}

fn default_port() -> u16 {
    5038
}

/// Asterisk's `tlsbindaddr` port.
const DEFAULT_TLS_PORT: u16 = 5039;

/// Parses a configuration file's text; `env` supplies the `ASTPANEL_*` overrides.
pub fn from_toml(
    path: &Path,
    text: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let file: File = toml::from_str(text).map_err(|source| ConfigError::Syntax {
        path: path.to_owned(),
        source: Box::new(source),
    })?;
    if file.servers.is_empty() {
        return Err(ConfigError::NoServer {
            path: path.to_owned(),
        });
    }
    let defaults = Config::defaults();
    let mut config = Config {
        listen: file.listen.unwrap_or(defaults.listen),
        upstream: Upstream::Demo,
        allowed_origins: file.allowed_origins,
        linger: file
            .linger_secs
            .map_or(defaults.linger, Duration::from_secs),
        token_ttl: file
            .token_ttl_secs
            .map_or(defaults.token_ttl, Duration::from_secs),
        login_store: file.login_store,
        max_browsers: file.max_browsers.unwrap_or(defaults.max_browsers),
        tick: file.tick_ms.map_or(defaults.tick, Duration::from_millis),
        pause_reasons: file.pause_reasons.unwrap_or(defaults.pause_reasons),
        pop_frame_ancestors: Vec::new(),
        screen_pop: ScreenPop::default(),
        legacy: LegacyConfig::default(),
        security: SecurityConfig::default(),
        users: Vec::new(),
        tls: file.tls.map(|entry| ListenerTls {
            cert: entry.cert,
            key: entry.key,
        }),
        audit: file.audit.map_or_else(AuditConfig::default, audit_config),
    };
    let line_of = |offset: usize| text[..offset.min(text.len())].lines().count().max(1);
    if let Some(entry) = file.legacy {
        config.legacy = legacy_config(entry, path, &line_of)?;
    }
    if let Some(entry) = file.security {
        config.security = security_config(entry, path, &line_of)?;
    }
    if let Some(pop) = file.screen_pop {
        config.pop_frame_ancestors = pop.frame_ancestors;
        config.screen_pop = ScreenPop {
            target_origin: pop.target_origin,
            crm_link: pop.crm_link,
        };
    }
    let mut servers: Vec<Server> = Vec::new();
    for entry in file.servers {
        let line = line_of(entry.name.span().start);
        let tls = server_tls(&entry);
        let name = entry.name.into_inner();
        let invalid = |problem: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            problem,
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(format!(
                "server name {name:?}: use letters, digits, '-', '_' or '.'"
            )));
        }
        if servers.iter().any(|s| s.name == name) {
            return Err(invalid(format!("server name {name:?} is used twice")));
        }
        let tls = tls.map_err(invalid)?;
        let port = entry.port.unwrap_or(if tls.is_some() {
            DEFAULT_TLS_PORT
        } else {
            default_port()
        });
        let mut ami = AmiConfig::new(
            format!("{}:{port}", entry.host),
            entry.username,
            entry.secret,
        );
        if entry.md5 {
            ami.auth = AuthMethod::Md5;
        }
        if let Some(ms) = entry.connect_timeout_ms {
            ami.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = entry.action_timeout_ms {
            ami.action_timeout = Duration::from_millis(ms);
        }
        if let Some(secs) = entry.ping_interval_secs {
            ami.ping_interval = Duration::from_secs(secs.max(1));
        }
        servers.push(Server {
            name,
            ami,
            exclude_events: entry.exclude_events.unwrap_or_else(default_excluded_events),
            read_classes: entry.read_classes,
            demo_accounts: Vec::new(),
            dialing: {
                let defaults = Dialing::default();
                Dialing {
                    channel_template: entry.dial_channel.unwrap_or(defaults.channel_template),
                    context: entry.dial_context.unwrap_or(defaults.context),
                    parking_context: entry.parking_context.unwrap_or(defaults.parking_context),
                }
            },
            ami_secrets: entry.ami_secrets,
            tls,
        });
    }

    if let Some(name) = &config.legacy.server
        && !servers.iter().any(|s| &s.name == name)
    {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: 1,
            problem: format!("[legacy] server {name:?} is not a [[server]] name"),
        });
    }
    apply_environment(&mut config, &mut servers, env)?;
    // After the environment, so that a secret given there reaches the users too.
    for entry in file.users {
        let line = line_of(entry.name.span().start);
        let user =
            relay_user(entry, &servers, &config.users).map_err(|problem| ConfigError::Invalid {
                path: path.to_owned(),
                line,
                problem,
            })?;
        config.users.push(user);
    }
    config.upstream = Upstream::Asterisk(servers);
    Ok(config)
}

fn audit_config(entry: AuditEntry) -> AuditConfig {
    let defaults = AuditConfig::default();
    AuditConfig {
        path: entry.path.or(defaults.path),
        retention: entry.retention_days.map_or(defaults.retention, |days| {
            Duration::from_secs(days.max(1).saturating_mul(86_400))
        }),
        max_records: entry.max_records.unwrap_or(defaults.max_records).max(1),
    }
}

fn security_config(
    entry: SecurityEntry,
    path: &Path,
    line_of: &impl Fn(usize) -> usize,
) -> Result<SecurityConfig, ConfigError> {
    let invalid = |span: std::ops::Range<usize>, problem: String| ConfigError::Invalid {
        path: path.to_owned(),
        line: line_of(span.start),
        problem: format!("[security] {problem}"),
    };
    let mut rules = Vec::new();
    for rule in entry.network_rules {
        let parsed: NetworkRule = rule
            .get_ref()
            .parse()
            .map_err(|e: crate::access::RuleError| invalid(rule.span(), e.to_string()))?;
        rules.push(parsed);
    }
    let mut trusted_proxies = Vec::new();
    for proxy in entry.trusted_proxies {
        let net = parse_network(proxy.get_ref().trim())
            .map_err(|e| invalid(proxy.span(), e.to_string()))?;
        trusted_proxies.push(net);
    }
    let defaults = SecurityConfig::default();
    // A limit of zero would lock everyone out: the least is one.
    let at_least_one = |value: Option<usize>, default: usize| value.unwrap_or(default).max(1);
    let throttle = ThrottleConfig {
        failures_per_account: entry
            .login_failures_per_account
            .map_or(defaults.throttle.failures_per_account, |n| n.max(1)),
        failures_per_address: entry
            .login_failures_per_address
            .map_or(defaults.throttle.failures_per_address, |n| n.max(1)),
        window: entry
            .login_window_secs
            .map_or(defaults.throttle.window, Duration::from_secs),
        lockout: entry
            .login_lockout_secs
            .map_or(defaults.throttle.lockout, Duration::from_secs),
    };
    Ok(SecurityConfig {
        gate: GateConfig {
            rules: NetworkRules(rules),
            trusted_proxies,
            max_connections: at_least_one(entry.max_connections, defaults.gate.max_connections),
            max_connections_per_address: at_least_one(
                entry.max_connections_per_address,
                defaults.gate.max_connections_per_address,
            ),
        },
        throttle,
        ami_login: entry.ami_login.unwrap_or(defaults.ami_login),
    })
}

/// One `[[user]]`, checked against the servers and the users before it.
fn relay_user(
    entry: UserEntry,
    servers: &[Server],
    earlier: &[RelayUser],
) -> Result<RelayUser, String> {
    let name = entry.name.into_inner();
    if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "user name {name:?}: no spaces or control characters"
        ));
    }
    if earlier.iter().any(|u| u.name == name) {
        return Err(format!("user name {name:?} is used twice"));
    }
    let server = servers
        .iter()
        .find(|s| s.name == entry.server)
        .ok_or_else(|| {
            format!(
                "user {name:?}: server {:?} is not a [[server]] name",
                entry.server
            )
        })?;
    let ami_user = entry
        .ami_user
        .unwrap_or_else(|| server.ami.username.clone());
    let ami_secret = server.ami_secret_of(&ami_user).ok_or_else(|| {
        format!(
            "user {name:?}: no secret for AMI account {ami_user:?}; add it to [server.ami_secrets] of {:?}",
            server.name
        )
    })?;
    RelayUser::new(
        name.clone(),
        &entry.password_hash,
        server.name.clone(),
        ami_user,
        ami_secret.to_owned(),
        entry.role,
        entry.extension,
    )
    .map_err(|error| format!("user {name:?}: {error}"))
}

/// A `[[server]]`'s TLS keys; the `tls_*` keys without `tls = true` would be ignored,
/// so they are refused.
fn server_tls(entry: &ServerEntry) -> Result<Option<ServerTls>, String> {
    if !entry.tls {
        return match (&entry.tls_ca, entry.tls_verify, &entry.tls_server_name) {
            (None, None, None) => Ok(None),
            _ => Err("tls_ca, tls_verify and tls_server_name need tls = true".into()),
        };
    }
    Ok(Some(ServerTls {
        ca: entry.tls_ca.clone(),
        verify: entry.tls_verify.unwrap_or(true),
        server_name: entry.tls_server_name.clone(),
    }))
}

fn legacy_config(
    entry: LegacyEntry,
    path: &Path,
    line_of: &impl Fn(usize) -> usize,
) -> Result<LegacyConfig, ConfigError> {
    let defaults = LegacyConfig::default();
    let prefix = match entry.prefix {
        Some(prefix) => {
            let line = line_of(prefix.span().start);
            let prefix = prefix.into_inner();
            let trimmed = prefix.trim_end_matches('/');
            if !trimmed.starts_with('/') || trimmed.contains(['?', '#', ' ']) || trimmed.len() > 80
            {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    line,
                    problem: format!(
                        "[legacy] prefix {prefix:?}: a path such as \"/asterisk\" (at most 80 characters)"
                    ),
                });
            }
            trimmed.to_owned()
        }
        None => defaults.prefix,
    };
    Ok(LegacyConfig {
        enabled: entry.enabled.unwrap_or(defaults.enabled),
        prefix,
        http_timeout: entry
            .http_timeout_secs
            .map_or(defaults.http_timeout, |s| Duration::from_secs(s.max(1))),
        server_name: entry.server_name.unwrap_or(defaults.server_name),
        listen: entry.listen,
        static_dir: entry.static_dir,
        event_queue: entry.event_queue.unwrap_or(defaults.event_queue).max(1),
        max_sessions: entry.max_sessions.unwrap_or(defaults.max_sessions).max(1),
        max_connections: entry
            .max_connections
            .unwrap_or(defaults.max_connections)
            .max(1),
        server: entry.server,
    })
}

/// `ASTPANEL_LISTEN`, `ASTPANEL_LINGER_SECS`, `ASTPANEL_ALLOWED_ORIGINS` (comma
/// separated) and, per server, `ASTPANEL_SERVER_<NAME>_{HOST,PORT,USERNAME,SECRET}`
/// (the name upper-cased, other characters as `_`): a secret can stay out of the file.
fn apply_environment(
    config: &mut Config,
    servers: &mut [Server],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    fn parsed<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        value
            .trim()
            .parse()
            .map_err(|error: T::Err| ConfigError::Environment {
                name: name.to_owned(),
                problem: error.to_string(),
            })
    }
    if let Some(value) = env("ASTPANEL_LINGER_SECS") {
        config.linger = Duration::from_secs(parsed("ASTPANEL_LINGER_SECS", &value)?);
    }
    if let Some(value) = env("ASTPANEL_ALLOWED_ORIGINS") {
        config.allowed_origins = value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
    }
    for server in servers {
        let key: String = server
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let var = |field: &str| format!("ASTPANEL_SERVER_{key}_{field}");
        let (mut host, mut port) = match server.ami.addr.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.to_owned()),
            None => (server.ami.addr.clone(), default_port().to_string()),
        };
        if let Some(value) = env(&var("HOST")) {
            host = value;
        }
        if let Some(value) = env(&var("PORT")) {
            let number: u16 = parsed(&var("PORT"), &value)?;
            port = number.to_string();
        }
        server.ami.addr = format!("{host}:{port}");
        if let Some(value) = env(&var("USERNAME")) {
            server.ami.username = value;
        }
        if let Some(value) = env(&var("SECRET")) {
            server.ami.secret = value;
        }
    }
    Ok(())
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
        let hash = crate::users::hash_password(b"pw").unwrap();
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
        let text = include_str!("../../astpanel.example.toml");
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

    #[test]
    fn without_an_audit_section_the_log_is_in_memory() {
        let text = "[[server]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n";
        assert_eq!(parse(text).unwrap().audit, AuditConfig::default());
        assert_eq!(AuditConfig::default().path, None);
        let unknown = format!("{text}[audit]\nretention = 5\n");
        assert!(parse(&unknown).is_err(), "an unknown key is an error");
    }
}
