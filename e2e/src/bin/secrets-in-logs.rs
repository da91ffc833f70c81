//! `cargo run -p e2e --bin secrets-in-logs`: fails if any configured secret appears in
//! the logs an e2e run kept (see `e2e::logs`), or if there are no logs to search.

use std::net::SocketAddr;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let dir = e2e::logs::log_dir().with_context(|| {
        format!(
            "set {} to the folder the e2e run wrote its logs to",
            e2e::logs::LOG_DIR_VARIABLE
        )
    })?;
    // Every secret the e2e tests configure: the demo's AMI users and the relay's
    // view of them.
    let mut secrets: Vec<String> = pbxsim::SimConfig::demo()
        .users
        .into_iter()
        .map(|u| u.secret)
        .collect();
    let demo = relay::config::demo_server(SocketAddr::from(([127, 0, 0, 1], 5038)));
    secrets.extend(demo.demo_accounts.into_iter().map(|a| a.secret));
    secrets.push(demo.ami.secret);
    secrets.sort();
    secrets.dedup();

    let mut lines = 0usize;
    let mut logins = 0usize;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        for (number, line) in text.lines().enumerate() {
            lines += 1;
            logins += usize::from(line.contains("account session opened"));
            for secret in &secrets {
                if line.contains(secret.as_str()) {
                    found.push(format!("{}:{}: {secret}", path.display(), number + 1));
                }
            }
        }
    }
    // Logs without a single login prove nothing: the search itself would be broken.
    if logins == 0 {
        bail!(
            "{} holds no login in its {lines} log lines: were the logs kept?",
            dir.display()
        );
    }
    if !found.is_empty() {
        bail!("secrets in the logs:\n{}", found.join("\n"));
    }
    println!(
        "no secret in {lines} log lines ({logins} logins) of {}; searched for {} secrets",
        dir.display(),
        secrets.len()
    );
    Ok(())
}
