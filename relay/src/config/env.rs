//! The `ASTPANEL_*` environment overrides of the file.

use super::*;

/// `ASTPANEL_LISTEN`, `ASTPANEL_LINGER_SECS`, `ASTPANEL_ALLOWED_ORIGINS` (comma
/// separated) and, per server, `ASTPANEL_SERVER_<NAME>_{HOST,PORT,USERNAME,SECRET}`
/// (the name upper-cased, other characters as `_`): a secret can stay out of the file.
pub(crate) fn apply_environment(
    config: &mut Config,
    servers: &mut [ServerConfig],
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
