//! What the workspace's tests repeated each in its own way: where the recordings of a
//! real Asterisk are ([`fixtures`], [`fixture`]), a pbxsim served in the test's own
//! process ([`Pbx`], feature `pbx`), and the channel names of a state answer
//! ([`channel_names`]). Dev-only: nothing shipped depends on it.
//!
//! The AMI side session a test makes calls with stays in the relay's and e2e's own
//! support code: it uses the relay's AMI client, which pbxsim must never use.

#[cfg(feature = "pbx")]
mod pbx;

use std::collections::BTreeSet;
use std::path::PathBuf;

#[cfg(feature = "pbx")]
pub use pbx::Pbx;

/// The folder of recordings, `../shared/fixtures/asterisk` beside the repository: the
/// nearest ancestor of this crate that has `shared/fixtures/asterisk`, so that a git
/// worktree placed deeper finds it too. Panics, naming the folder, when it is missing.
pub fn fixtures() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let beside_the_repository = manifest.join("../../shared/fixtures/asterisk");
    manifest
        .ancestors()
        .map(|dir| dir.join("shared/fixtures/asterisk"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "the recordings of Asterisk are missing: expected the folder {} \
                 (`../shared/fixtures/asterisk` beside the repository)",
                beside_the_repository.display()
            )
        })
}

/// The bytes of the recording `name` in [`fixtures`]; panics naming the file.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read the recording {}: {error}", path.display()))
}

/// The channel names of the first server in a `/api/v1/state` answer (a name is unique
/// within a server, so a set).
pub fn channel_names(state: &serde_json::Value) -> BTreeSet<String> {
    state["servers"][0]["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|channel| channel["channel"].as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recordings_are_found() {
        assert!(fixtures().join("README.md").is_file());
        assert!(!fixture("ami-events-stream.txt").is_empty());
    }

    #[test]
    fn channel_names_reads_the_first_server_only() {
        let state = serde_json::json!({"servers": [
            {"channels": [{"channel": "Local/101@test-1;1"}, {"channel": "Local/100@test-1;2"}]},
            {"channels": [{"channel": "PJSIP/other"}]},
        ]});
        let names: Vec<String> = channel_names(&state).into_iter().collect();
        assert_eq!(names, ["Local/100@test-1;2", "Local/101@test-1;1"]);
        assert!(channel_names(&serde_json::json!({})).is_empty());
    }
}
