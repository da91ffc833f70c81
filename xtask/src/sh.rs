//! Spawning commands with the project's PATH (project-local and cargo-installed tools first).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// Where commands run and how they find programs.
pub struct Sh {
    root: PathBuf,
    path: OsString,
}

impl Sh {
    /// PATH is the caller's, with wasm-opt's npm folder and cargo's bin folder in front: a
    /// fresh rustup install may not have put `~/.cargo/bin` on PATH yet, and wasm-opt lives
    /// inside the project so that no other binaryen (Debian's is too old) can shadow it.
    pub fn new(root: PathBuf) -> Sh {
        let mut dirs = vec![root.join(BINARYEN_BIN), cargo_home().join("bin")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(dirs).unwrap_or_else(|_| {
            // A PATH entry holding ':' cannot be rejoined; keep the caller's PATH as it is.
            std::env::var_os("PATH").unwrap_or_default()
        });
        Sh { root, path }
    }

    /// The workspace root; commands start there so rust-toolchain.toml and Trunk.toml apply.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The first executable called `name` on our PATH.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    }

    /// A command for `program` (a name looked up on our PATH, or a path), run from the root.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let program = program.as_ref();
        let resolved = program
            .to_str()
            .filter(|name| !name.contains('/'))
            .and_then(|name| self.which(name))
            .map_or_else(|| program.to_os_string(), PathBuf::into_os_string);
        let mut cmd = Command::new(resolved);
        cmd.current_dir(&self.root).env("PATH", &self.path);
        cmd
    }
}

/// The npm prefix where binaryen (wasm-opt) is installed, relative to the root.
pub const BINARYEN_DIR: &str = "target/tools/binaryen";
/// npm's folder of binaryen executables, relative to the root.
pub const BINARYEN_BIN: &str = "target/tools/binaryen/node_modules/.bin";

/// Runs `cmd` with inherited stdio; an error names the command and how it ended.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", display(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout, or `None` if it cannot start or fails: for
/// probes, where "not there" and "broken" both mean "install it".
pub fn stdout(cmd: &mut Command) -> Option<String> {
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The command as a person would type it (program name without its directory).
pub fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seconds since `start`, as printed in progress lines and the test summary.
pub fn elapsed(start: Instant) -> String {
    format!("{:.1} s", start.elapsed().as_secs_f64())
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
