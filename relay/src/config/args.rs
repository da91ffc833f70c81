//! The command line (`astpanel --help`), each flag with its `ASTPANEL_*` variable.

use super::*;

/// The address the panel listens on when nothing says otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

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
                upstream: Upstream::Asterisk(vec![ServerConfig::new(self.ami_name, ami)]),
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
