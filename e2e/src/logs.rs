//! The logs of an e2e run, kept so that they can be searched for secrets afterwards.
//!
//! The relay must never log a secret, and the only proof is to look: when
//! `ASTPANEL_E2E_LOG_DIR` is set (`cargo xtask test` sets it), every test process
//! writes everything the relay logs, down to `trace`, into a file of its own there,
//! and `cargo run -p e2e --bin secrets-in-logs` searches them for every configured
//! secret.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Mutex, Once};

/// The variable naming the folder the logs go to.
pub const LOG_DIR_VARIABLE: &str = "ASTPANEL_E2E_LOG_DIR";

/// The folder, if this run keeps its logs.
pub fn log_dir() -> Option<PathBuf> {
    std::env::var_os(LOG_DIR_VARIABLE).map(PathBuf::from)
}

/// Sends this process's logs to its file, once; does nothing when the run keeps no logs.
pub fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(dir) = log_dir() else { return };
        let path = dir.join(format!("e2e-{}.log", std::process::id()));
        let file = match std::fs::create_dir_all(&dir).and_then(|()| File::create(&path)) {
            Ok(file) => file,
            Err(error) => {
                eprintln!("cannot keep the logs in {}: {error}", path.display());
                return;
            }
        };
        // Everything of ours, and what the HTTP layers log about requests.
        let filter = tracing_subscriber::EnvFilter::new(
            "info,relay=trace,pbxsim=debug,tower_http=trace,axum=trace",
        );
        let installed = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init();
        if let Err(error) = installed {
            eprintln!("cannot keep the logs: {error}");
        }
    });
}
