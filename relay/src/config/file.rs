//! The TOML file (`--config`, annotated in `astpanel.example.toml`): its shape, and
//! how each table becomes the settings type of the module that uses it.

use super::*;
use shared::protocol::Seat;

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
    ami_proxy: Option<ProxyEntry>,
    security: Option<SecurityEntry>,
    #[serde(default, rename = "user")]
    users: Vec<UserEntry>,
    tls: Option<TlsEntry>,
    audit: Option<AuditEntry>,
    history: Option<HistoryEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryEntry {
    path: Option<PathBuf>,
    retention_days: Option<u64>,
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
    /// A disabled account cannot log in, and its open logins end when the file is
    /// read again (SIGHUP).
    #[serde(default)]
    disabled: bool,
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
struct ProxyEntry {
    listen: Option<SocketAddr>,
    tls_listen: Option<SocketAddr>,
    server: Option<String>,
    max_connections: Option<usize>,
    queue: Option<usize>,
    write_timeout_secs: Option<u64>,
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
    voicemail_context: Option<String>,
    #[serde(default)]
    dnd_pauses_queues: bool,
    /// The AstDB `family/key` of an extension's call forward (`{exten}` replaced).
    call_forward: Option<String>,
    /// Queue sign-in seats, by extension.
    #[serde(default)]
    agents: BTreeMap<String, SeatEntry>,
    #[serde(default)]
    ami_secrets: BTreeMap<String, String>,
    #[serde(default)]
    tls: bool,
    tls_ca: Option<PathBuf>,
    tls_verify: Option<bool>,
    tls_server_name: Option<String>,
    /// Seconds between two reads of the queue counters; at least 1 (default 10).
    queue_refresh_s: Option<u64>,
    /// `[[server.queue_alarm]]`: per queue, `queue` and the optional levels
    /// `wait_amber_s`/`wait_red_s` (longest wait), `waiting_amber`/`waiting_red`
    /// (callers waiting), `service_level_amber_pct`/`service_level_red_pct` (the day's
    /// service level, red the lower); checked by `check_queue_alarms`.
    #[serde(default)]
    queue_alarm: Vec<QueueThresholds>,
}

/// One `[server.agents]` entry: `"1001" = { interface = "...", queues = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeatEntry {
    /// Default: the server's `dial_channel` for the extension.
    interface: Option<String>,
    queues: Vec<String>,
}

pub(crate) fn default_port() -> u16 {
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
        file: Some(path.to_owned()),
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
        tls: file.tls.map(|entry| ListenerTls {
            cert: entry.cert,
            key: entry.key,
        }),
        audit: file.audit.map_or_else(AuditConfig::default, audit_config),
        history: file
            .history
            .map_or_else(HistoryConfig::default, history_config),
        // The sections below are read after this, each into its own settings.
        ..defaults
    };
    let line_of = |offset: usize| text[..offset.min(text.len())].lines().count().max(1);
    if let Some(entry) = file.legacy {
        config.legacy = legacy_config(entry, path, &line_of)?;
    }
    if let Some(entry) = file.ami_proxy {
        let defaults = ProxyConfig::default();
        if entry.tls_listen.is_some() && config.tls.is_none() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line: 1,
                problem: "[ami_proxy] tls_listen needs [tls] (its cert and key serve it)".into(),
            });
        }
        config.ami_proxy = ProxyConfig {
            listen: entry.listen,
            tls_listen: entry.tls_listen,
            server: entry.server,
            max_connections: entry
                .max_connections
                .unwrap_or(defaults.max_connections)
                .max(1),
            queue: entry.queue.unwrap_or(defaults.queue).max(16),
            write_timeout: entry
                .write_timeout_secs
                .map_or(defaults.write_timeout, |s| Duration::from_secs(s.max(1))),
        };
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
    let mut servers: Vec<ServerConfig> = Vec::new();
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
        check_queue_alarms(&entry.queue_alarm).map_err(invalid)?;
        check_call_forward(entry.call_forward.as_deref()).map_err(invalid)?;
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
        servers.push(ServerConfig {
            name,
            ami,
            exclude_events: entry.exclude_events.unwrap_or_else(default_excluded_events),
            read_classes: entry.read_classes,
            demo_accounts: Vec::new(),
            dialing: {
                let defaults = Dialing::default();
                let channel_template = entry.dial_channel.unwrap_or(defaults.channel_template);
                Dialing {
                    seats: entry
                        .agents
                        .into_iter()
                        .map(|(exten, seat)| Seat {
                            interface: seat
                                .interface
                                .unwrap_or_else(|| channel_template.replace("{exten}", &exten)),
                            exten,
                            queues: seat.queues,
                        })
                        .collect(),
                    channel_template,
                    context: entry.dial_context.unwrap_or(defaults.context),
                    parking_context: entry.parking_context.unwrap_or(defaults.parking_context),
                    voicemail_context: entry
                        .voicemail_context
                        .unwrap_or(defaults.voicemail_context),
                    dnd_pauses: entry.dnd_pauses_queues,
                    call_forward: entry.call_forward,
                }
            },
            ami_secrets: entry.ami_secrets,
            tls,
            queue_refresh: entry
                .queue_refresh_s
                .map_or(DEFAULT_QUEUE_REFRESH, queue_refresh),
            queue_alarms: entry.queue_alarm,
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
    if let Some(name) = &config.ami_proxy.server
        && !servers.iter().any(|s| &s.name == name)
    {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            line: 1,
            problem: format!("[ami_proxy] server {name:?} is not a [[server]] name"),
        });
    }
    apply_environment(&mut config, &mut servers, env)?;
    // After the environment, so that a secret given there reaches the users too.
    for entry in file.users {
        let line = line_of(entry.name.span().start);
        let disabled = entry.disabled;
        let user =
            relay_user(entry, &servers, &config.users).map_err(|problem| ConfigError::Invalid {
                path: path.to_owned(),
                line,
                problem,
            })?;
        if !disabled {
            config.users.push(user);
        }
    }
    config.upstream = Upstream::Asterisk(servers);
    Ok(config)
}

/// Each queue's thresholds once, and each amber level no worse than its red one
/// (a wait or a count below it, a service level above it).
fn check_queue_alarms(alarms: &[QueueThresholds]) -> Result<(), String> {
    for (n, alarm) in alarms.iter().enumerate() {
        let queue = &alarm.queue;
        if queue.is_empty() {
            return Err("[[server.queue_alarm]] needs a queue name".into());
        }
        if alarms[..n].iter().any(|earlier| earlier.queue == *queue) {
            return Err(format!("queue_alarm for {queue:?} is given twice"));
        }
        let pairs = [
            (
                "wait_amber_s",
                "wait_red_s",
                alarm.wait_amber_s.map(f64::from),
                alarm.wait_red_s.map(f64::from),
            ),
            (
                "waiting_amber",
                "waiting_red",
                alarm.waiting_amber.map(f64::from),
                alarm.waiting_red.map(f64::from),
            ),
            // A lower service level is worse: red below amber.
            (
                "service_level_red_pct",
                "service_level_amber_pct",
                alarm.service_level_red_pct,
                alarm.service_level_amber_pct,
            ),
        ];
        for (lower, upper, low, high) in pairs {
            if let (Some(low), Some(high)) = (low, high)
                && low > high
            {
                return Err(format!(
                    "queue_alarm for {queue:?}: {lower} is above {upper}"
                ));
            }
        }
    }
    Ok(())
}

fn history_config(entry: HistoryEntry) -> HistoryConfig {
    let defaults = HistoryConfig::default();
    HistoryConfig {
        path: entry.path.or(defaults.path),
        retention: entry.retention_days.map_or(defaults.retention, |days| {
            Duration::from_secs(days.max(1).saturating_mul(86_400))
        }),
    }
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
            .map_err(|e: crate::net::access::RuleError| invalid(rule.span(), e.to_string()))?;
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
    servers: &[ServerConfig],
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

/// `call_forward` names one AstDB entry per extension: `family/key` with `{exten}` in
/// it, else every extension would share one forward, or none could be written.
fn check_call_forward(template: Option<&str>) -> Result<(), String> {
    match template {
        None => Ok(()),
        Some(t) if t.contains("{exten}") && crate::control::forward_entry(t, "1").is_some() => {
            Ok(())
        }
        Some(t) => Err(format!(
            "call_forward {t:?}: use family/key with {{exten}} in it, e.g. \"CF/{{exten}}\""
        )),
    }
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
