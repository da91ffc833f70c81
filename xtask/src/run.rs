//! `cargo xtask run`: set up, build the SPA, then become `astpanel --demo` with the caller's flags.

use std::os::unix::process::CommandExt;

use anyhow::Context;

use crate::setup::{self, Scope};
use crate::{sh, spa};

pub fn run(extra_args: &[String]) -> anyhow::Result<()> {
    // `cargo xtask run -- --listen …` is a natural guess too; the `--` is ours, not astpanel's.
    let extra_args = extra_args
        .strip_prefix(&["--".to_owned()])
        .unwrap_or(extra_args);
    let tools = setup::setup(Scope::Build)?;
    spa::build(&tools)?;
    let mut relay = tools.sh.cmd("cargo");
    relay
        .args(["run", "--release", "-p", "relay", "--bin", "astpanel", "--"])
        .arg("--demo")
        .args(extra_args);
    // A developer restarting the demo stays logged in, as on an installed relay.
    if !extra_args.iter().any(|a| a.starts_with("--login-store")) {
        relay.args(["--login-store", "target/demo-logins.db"]);
    }
    println!("→ {}", sh::display(&relay));
    // exec rather than wait: Ctrl-C, the exit code and the process list are the relay's own.
    let err = relay.exec();
    Err(err).with_context(|| format!("could not start `{}`", sh::display(&relay)))
}
