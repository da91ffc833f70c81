//! An external AMI client, panoramisk (PyPI), logs in to pbxsim and lists the channels.
//!
//! The interpreter is `$ASTPANEL_PYTHON`, else `<workspace>/target/tools/py/bin/python3`
//! (the venv `cargo xtask setup` creates with `pip install panoramisk`). Without either,
//! or without panoramisk, the test prints why and passes as skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Client;
use pbxsim::SimConfig;
use testkit::Pbx as Sim;

fn python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("ASTPANEL_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/py/bin/python3"),
    };
    if !python.exists() {
        return Err(format!(
            "no Python at {} (set ASTPANEL_PYTHON or run `cargo xtask setup`)",
            python.display()
        ));
    }
    let probe = Command::new(&python)
        .args(["-c", "import panoramisk"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        Ok(_) => Err(format!(
            "panoramisk is not importable by {} (pip install panoramisk)",
            python.display()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", python.display())),
    }
}

#[tokio::test]
async fn panoramisk_logs_in_and_lists_channels() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            println!("SKIPPED panoramisk_logs_in_and_lists_channels: {why}");
            return;
        }
    };
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut admin = Client::login(sim.addr, "admin", "admin-secret").await;
    admin
        .action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=60\r\nActionID: o\r\n\r\n")
        .await;
    let (_, channels, _) = admin
        .list("Action: CoreShowChannels\r\nActionID: c\r\n\r\n", "c")
        .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/panoramisk_client.py");
    let port = sim.addr.port().to_string();
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&port)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .expect("panoramisk finished in time")
        .expect("panoramisk ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "panoramisk failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = channels.len();
    assert!(n > 0, "the originated call has channels");
    assert!(
        stdout.starts_with(&format!("OK items={n} listitems={n} ")),
        "unexpected panoramisk output: {stdout}"
    );
}
