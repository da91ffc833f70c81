//! A real nginx in front of a relay, configured by the shipped `deploy/nginx/astpanel.conf`.
//!
//! The file is used as it ships: only its three lines marked "(the test replaces this
//! line)" change, to a free loopback port and the relay's address, so what passes
//! here is what a user installs. nginx runs in the foreground as one process
//! (`master_process off`), so killing the child leaves no worker behind, with its
//! logs, pid and temp files in a temp dir of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::{TempDir, free_port, wait_for_port};

/// The shipped configuration, read at build time so the test cannot run another one.
pub const SHIPPED_CONF: &str = include_str!("../../deploy/nginx/astpanel.conf");

/// The lines of [`SHIPPED_CONF`] the test replaces, each of which must be there once.
const UPSTREAM_LINE: &str = "server 127.0.0.1:8080; # (the test replaces this line)";
const LISTEN_LINE: &str = "listen 80; # (the test replaces this line)";
const SERVER_NAME_LINE: &str = "server_name panel.example.com; # (the test replaces this line)";

/// How to get nginx, for the message when it is missing.
const INSTALL_HINT: &str = "install it with `apt-get install nginx` (Debian/Ubuntu; \
    `cargo xtask test` does this), or set NGINX to an nginx binary";

/// nginx serving the shipped configuration on `base_url`. Dropping it kills nginx.
pub struct Nginx {
    /// `http://127.0.0.1:<port>`: the origin a browser would use.
    pub base_url: String,
    child: Child,
    dir: TempDir,
}

impl Nginx {
    /// Starts nginx in front of the relay at `upstream` and waits until it accepts connections.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let binary = binary().with_context(|| format!("nginx was not found: {INSTALL_HINT}"))?;
        let port = free_port().await?;
        let dir = TempDir::new()?;
        let site = site_conf(SHIPPED_CONF, upstream, port)?;
        std::fs::write(dir.0.join("astpanel.conf"), site)?;
        std::fs::write(dir.0.join("nginx.conf"), main_conf(&dir.0))?;
        let stderr = std::fs::File::create(dir.0.join("stderr.log"))?;

        let child = Command::new(&binary)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(dir.0.join("nginx.conf"))
            // Before it reads the configuration nginx opens its built-in error log
            // (/var/log/nginx/... on Debian); -e keeps even that in the temp dir.
            .arg("-e")
            .arg(dir.0.join("error.log"))
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}: {INSTALL_HINT}", binary.display()))?;
        let mut nginx = Nginx {
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        if let Err(error) = wait_for_port(([127, 0, 0, 1], port).into()).await {
            let exited = nginx.child.try_wait().ok().flatten();
            bail!(
                "nginx did not start listening on port {port} ({error:#}; exit status {exited:?})\n{}",
                nginx.logs()
            );
        }
        Ok(nginx)
    }

    /// nginx's stderr and error log, to explain a failure.
    pub fn logs(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.0.join(name)).unwrap_or_default();
                format!("── nginx {name}:\n{text}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops nginx and waits until it has exited.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        tokio::time::timeout(crate::WAIT, self.child.kill())
            .await
            .context("nginx did not exit")??;
        Ok(())
    }
}

/// `NGINX` when set, else nginx on PATH, else Debian's /usr/sbin/nginx (not on a
/// normal user's PATH).
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NGINX") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nginx"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/sbin/nginx");
        debian.is_file().then_some(debian)
    })
}

/// The shipped site with its marked lines pointed at `upstream` and `port`.
pub fn site_conf(shipped: &str, upstream: SocketAddr, port: u16) -> anyhow::Result<String> {
    let site = replace_once(
        shipped,
        UPSTREAM_LINE,
        &format!("server {upstream}; # replaced by the test"),
    )?;
    let site = replace_once(
        &site,
        LISTEN_LINE,
        &format!("listen 127.0.0.1:{port}; # replaced by the test"),
    )?;
    replace_once(
        &site,
        SERVER_NAME_LINE,
        "server_name 127.0.0.1; # replaced by the test",
    )
}

/// `text` with its one `from` replaced by `to`; an error if `from` is missing or repeated,
/// so an edit to the shipped file that drops a marked line fails the test loudly.
fn replace_once(text: &str, from: &str, to: &str) -> anyhow::Result<String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => bail!(
            "deploy/nginx/astpanel.conf must hold the line `{from}` exactly once, \
             found it {n} times"
        ),
    }
}

/// The main configuration around the site, as Debian's nginx.conf has it, with every
/// path nginx writes to inside `dir`.
fn main_conf(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20   access_log {dir}/access.log;\n\
         \x20   client_body_temp_path {dir}/body;\n\
         \x20   proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n\
         \x20   uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n\
         \x20   include {dir}/astpanel.conf;\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_has_each_marked_line_once() {
        let site = site_conf(SHIPPED_CONF, ([127, 0, 0, 1], 9000).into(), 9001)
            .expect("the marked lines are there");
        assert!(site.contains("server 127.0.0.1:9000;"));
        assert!(site.contains("listen 127.0.0.1:9001;"));
        assert!(!site.contains("; # (the test replaces this line)"));
    }

    #[test]
    fn a_missing_marked_line_is_an_error() {
        let error = replace_once("listen 80;", LISTEN_LINE, "x").expect_err("not there");
        assert!(error.to_string().contains("found it 0 times"));
    }
}
