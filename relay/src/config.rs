//! The command line, and the [`Config`] it becomes.

use std::net::SocketAddr;

use clap::Parser;

use crate::ami::{AmiConfig, AuthMethod};

/// AstPanel: a live web operator panel and AMI relay for Asterisk.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// Address the panel (HTTP and WebSocket) listens on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ASTPANEL_LISTEN")]
    pub listen: SocketAddr,

    /// Run the simulated PBX in this process and show its calls: no Asterisk needed.
    #[arg(long, conflicts_with = "ami")]
    pub demo: bool,

    /// An Asterisk manager interface to connect to, as HOST:PORT (usually port 5038).
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "ASTPANEL_AMI",
        required_unless_present = "demo"
    )]
    pub ami: Option<String>,

    /// The manager user (a section of Asterisk's manager.conf).
    #[arg(long, value_name = "USER", env = "ASTPANEL_AMI_USER", requires = "ami")]
    pub ami_user: Option<String>,

    /// The manager user's secret. Prefer the environment variable: flags show up in `ps`.
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
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_browsers: usize,

    /// Log filter, in `tracing` syntax (RUST_LOG wins when set).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log: String,
}

/// Command-line combinations clap cannot rule out by itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--ami` was given without the user or secret it needs.
    #[error("--ami needs --ami-user and --ami-secret (or ASTPANEL_AMI_USER / ASTPANEL_AMI_SECRET)")]
    MissingCredentials,
}

/// What [`crate::run`] needs to know.
#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: Upstream,
    /// See [`Args::max_browsers`].
    pub max_browsers: usize,
}

impl Config {
    /// The simulated PBX, served on `listen`, with the default limits.
    pub fn demo(listen: SocketAddr) -> Self {
        Config {
            listen,
            upstream: Upstream::Demo,
            max_browsers: 1000,
        }
    }
}

/// Where the AMI events come from.
#[derive(Debug)]
pub enum Upstream {
    /// The simulated PBX, started in-process.
    Demo,
    /// Real Asterisk servers.
    Asterisk(Vec<Server>),
}

/// One Asterisk server and how to log in to it.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub ami: AmiConfig,
}

impl Server {
    /// The in-process simulated PBX at `addr`, logged in to as its `admin` user.
    pub fn demo(addr: SocketAddr) -> Self {
        Server {
            name: "demo".into(),
            ami: AmiConfig::new(addr.to_string(), "admin", "admin-secret"),
        }
    }
}

impl Args {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let upstream = match self.ami {
            None => Upstream::Demo,
            Some(addr) => {
                let (Some(user), Some(secret)) = (self.ami_user, self.ami_secret) else {
                    return Err(ConfigError::MissingCredentials);
                };
                let mut ami = AmiConfig::new(addr, user, secret);
                if self.ami_md5 {
                    ami.auth = AuthMethod::Md5;
                }
                Upstream::Asterisk(vec![Server {
                    name: self.ami_name,
                    ami,
                }])
            }
        };
        Ok(Config {
            listen: self.listen,
            upstream,
            max_browsers: self.max_browsers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_the_default_and_ami_needs_credentials() {
        let args = Args::try_parse_from(["astpanel", "--demo"]).unwrap();
        assert!(matches!(
            args.into_config().unwrap().upstream,
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
        let Upstream::Asterisk(servers) = args.into_config().unwrap().upstream else {
            panic!("expected Asterisk")
        };
        assert_eq!(servers[0].ami.addr, "pbx:5038");

        assert!(Args::try_parse_from(["astpanel", "--demo", "--ami", "pbx:5038"]).is_err());
        assert!(
            Args::try_parse_from(["astpanel"]).is_err(),
            "neither --demo nor --ami"
        );
        let args = Args::try_parse_from(["astpanel", "--ami", "pbx:5038"]).unwrap();
        assert!(matches!(
            args.into_config(),
            Err(ConfigError::MissingCredentials)
        ));
    }
}
