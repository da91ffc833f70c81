//! Finds every tool the build and the tests need, and installs what is missing from the registries.
//!
//! All probes run at once (a warm set-up costs about as much as the slowest `--version`);
//! installs then run one by one, each announced, timed, and on failure explained.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::sh::{self, Sh};

/// The Trunk release that works with Rust 1.95 (0.22 needs a newer compiler).
const TRUNK: &str = "0.21.14";
/// Major version of npm's `binaryen`; Trunk.toml pins wasm-opt to the same `version_N`.
pub const BINARYEN: &str = "132";
/// The panoramisk release the pbxsim interop test drives.
const PANORAMISK: &str = "1.4";
/// The venv holding panoramisk, relative to the root.
const VENV: &str = "target/tools/py";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Which tools a command needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Building the SPA: wasm32 target, trunk, wasm-bindgen, wasm-opt.
    Build,
    /// Everything in `Build`, plus Chromium, chromedriver and the Python venv.
    Test,
}

/// What later steps need to know about the tools found.
pub struct Tools {
    pub sh: Sh,
    /// The wasm-bindgen version in Cargo.lock, which the CLI must match exactly.
    pub wasm_bindgen: String,
    /// The WebDriver for browser tests (`Scope::Test` only).
    pub chromedriver: Option<PathBuf>,
    /// A Python with panoramisk, or `None` when Python is unavailable and that test skips.
    pub python: Option<PathBuf>,
    /// Node.js and the node_modules folder with asterisk-manager (bench/peers' pinned
    /// package-lock.json, shared with the bench), or `None` when npm failed and the relay's
    /// asterisk-manager interop test skips.
    pub node: Option<(PathBuf, PathBuf)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    WasmTarget,
    Trunk,
    WasmBindgen,
    WasmOpt,
    Chromium,
    Chromedriver,
    Python,
    Wrk,
    Nginx,
}

/// What a probe found: a version (empty when the tool has none, like a rustup target).
type Found = Option<String>;

/// Checks every tool `scope` needs, installs what is missing, and returns where they are.
pub fn setup(scope: Scope) -> anyhow::Result<Tools> {
    let start = Instant::now();
    let sh = Sh::new(crate::project_root());
    let wasm_bindgen = wasm_bindgen_version(&sh)?;
    let mut tools = vec![
        Tool::WasmTarget,
        Tool::Trunk,
        Tool::WasmBindgen,
        Tool::WasmOpt,
    ];
    if scope == Scope::Test {
        tools.extend([
            Tool::Chromium,
            Tool::Chromedriver,
            Tool::Python,
            Tool::Wrk,
            Tool::Nginx,
        ]);
    }
    let sh_ref = &sh;
    let found: Vec<Found> = std::thread::scope(|scope| {
        let probes: Vec<_> = tools
            .iter()
            .map(|&tool| scope.spawn(move || tool.probe(sh_ref)))
            .collect();
        probes
            .into_iter()
            .map(|probe| probe.join().unwrap_or(None))
            .collect()
    });

    let mut python_ok = true;
    let mut installed_any = false;
    for (&tool, found) in tools.iter().zip(found) {
        let want = tool.wanted(&wasm_bindgen);
        match ensure(&sh, tool, &want, found, &mut installed_any) {
            Ok(()) => {}
            Err(err) if tool == Tool::Python => {
                python_ok = false;
                println!(
                    "! {} not set up: {err:#}\n  \
                     the panoramisk interop test will skip itself; to run it: {}",
                    tool.label(want.exact()),
                    tool.hint()
                );
            }
            Err(err) => bail!(
                "setting up {} failed: {err:#}\n  what to do: {}",
                tool.label(want.exact()),
                tool.hint()
            ),
        }
    }
    let node = (scope == Scope::Test).then(|| node_peer(&sh)).flatten();
    println!("setup: done in {}", sh::elapsed(start));

    let chromedriver = (scope == Scope::Test)
        .then(|| chromedriver_path(&sh))
        .flatten();
    let python = (scope == Scope::Test && python_ok).then(|| venv_python(&sh));
    Ok(Tools {
        sh,
        wasm_bindgen,
        chromedriver,
        python,
        node,
    })
}

/// Node.js and bench/peers' node_modules (asterisk-manager at its pinned version), which
/// the relay's AMI proxy test drives; `None`, with what to do, when they cannot be had.
fn node_peer(sh: &Sh) -> Option<(PathBuf, PathBuf)> {
    let found = sh
        .which("node")
        .context("node was not found")
        .and_then(|node| Ok((node, crate::bench::node_peer(sh)?)));
    match found {
        Ok(found) => {
            println!("✓ asterisk-manager (npm) in {}", found.1.display());
            Some(found)
        }
        Err(err) => {
            println!(
                "! asterisk-manager (npm) not set up: {err:#}\n  \
                 the asterisk-manager interop test will skip itself; to run it: install \
                 Node.js and npm (Debian: `apt-get install nodejs npm`) and rerun"
            );
            None
        }
    }
}

/// Installs `tool` unless the probe `found` it at the wanted version, printing one line
/// for a tool that was already there and two (start, done with time) for an install.
fn ensure(
    sh: &Sh,
    tool: Tool,
    want: &Want,
    found: Found,
    installed_any: &mut bool,
) -> anyhow::Result<()> {
    if want.matches(found.as_deref()) {
        println!("✓ {} (already installed)", tool.label(found.as_deref()));
        return Ok(());
    }
    // apt brings Chromium and chromedriver together: the install above may have done it.
    let found = if *installed_any {
        tool.probe(sh)
    } else {
        found
    };
    if want.matches(found.as_deref()) {
        println!(
            "✓ {} (came with the install above)",
            tool.label(found.as_deref())
        );
        return Ok(());
    }
    let wanted = tool.label(want.exact());
    match &found {
        Some(version) => println!("→ installing {wanted} (found {version})"),
        None => println!("→ installing {wanted}"),
    }
    let start = Instant::now();
    *installed_any = true;
    tool.install(sh, want)?;
    match tool.probe(sh) {
        found if want.matches(found.as_deref()) => {
            let label = tool.label(found.as_deref());
            println!("✓ {label} installed in {}", sh::elapsed(start));
            Ok(())
        }
        found => bail!(
            "the install finished, but the probe `{}` finds {}",
            tool.probe_command(),
            found.map_or_else(|| "nothing".into(), |v| format!("version {v}")),
        ),
    }
}

/// Which version of a tool will do.
enum Want {
    Exact(String),
    /// Any version: the package manager keeps Chromium and its driver in step.
    Any,
}

impl Want {
    fn matches(&self, found: Option<&str>) -> bool {
        match (self, found) {
            (Want::Exact(want), Some(found)) => want == found,
            (Want::Any, Some(_)) => true,
            (_, None) => false,
        }
    }

    fn exact(&self) -> Option<&str> {
        match self {
            Want::Exact(version) => Some(version),
            Want::Any => None,
        }
    }
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::WasmTarget => "rust target wasm32-unknown-unknown",
            Tool::Trunk => "trunk",
            Tool::WasmBindgen => "wasm-bindgen-cli",
            Tool::WasmOpt => "wasm-opt (npm binaryen)",
            Tool::Chromium => "chromium",
            Tool::Chromedriver => "chromedriver",
            Tool::Python => "python venv with panoramisk",
            Tool::Wrk => "wrk",
            Tool::Nginx => "nginx",
        }
    }

    fn label(self, version: Option<&str>) -> String {
        match version {
            Some(version) if !version.is_empty() => format!("{} {version}", self.name()),
            _ => self.name().to_owned(),
        }
    }

    fn wanted(self, wasm_bindgen: &str) -> Want {
        match self {
            Tool::WasmTarget => Want::Exact(String::new()),
            Tool::Trunk => Want::Exact(TRUNK.into()),
            Tool::WasmBindgen => Want::Exact(wasm_bindgen.into()),
            Tool::WasmOpt => Want::Exact(BINARYEN.into()),
            Tool::Chromium | Tool::Chromedriver | Tool::Wrk | Tool::Nginx => Want::Any,
            Tool::Python => Want::Exact(PANORAMISK.into()),
        }
    }

    /// The command whose output decides whether the tool is there, as shown in errors.
    fn probe_command(self) -> &'static str {
        match self {
            Tool::WasmTarget => "rustc --print sysroot",
            Tool::Trunk => "trunk --version",
            Tool::WasmBindgen => "wasm-bindgen --version; wasm-bindgen-test-runner --version",
            Tool::WasmOpt => "target/tools/binaryen/node_modules/.bin/wasm-opt --version",
            Tool::Chromium => "chromium --version",
            Tool::Chromedriver => "chromedriver --version",
            Tool::Python => "target/tools/py/bin/python3 -c 'import panoramisk'",
            Tool::Wrk => "command -v wrk",
            Tool::Nginx => "test -x /usr/sbin/nginx",
        }
    }

    fn probe(self, sh: &Sh) -> Found {
        let version = |program: &str, word: usize| {
            sh::stdout(sh.cmd(program).arg("--version"))
                .and_then(|out| out.split_whitespace().nth(word).map(str::to_owned))
        };
        match self {
            Tool::WasmTarget => {
                let sysroot = sh::stdout(sh.cmd("rustc").args(["--print", "sysroot"]))?;
                let lib = PathBuf::from(sysroot.trim())
                    .join("lib/rustlib")
                    .join(WASM_TARGET);
                lib.is_dir().then(String::new)
            }
            // "trunk 0.21.14"
            Tool::Trunk => version("trunk", 1),
            // "wasm-bindgen 0.2.130"; the test runner comes in the same package.
            Tool::WasmBindgen => {
                let cli = version("wasm-bindgen", 1)?;
                let runner = version("wasm-bindgen-test-runner", 1)?;
                (cli == runner).then_some(cli)
            }
            // "wasm-opt version 132 (version_132)"
            Tool::WasmOpt => {
                let wasm_opt = sh.root().join(sh::BINARYEN_BIN).join("wasm-opt");
                let out = sh::stdout(sh.cmd(wasm_opt).arg("--version"))?;
                out.split_whitespace().nth(2).map(str::to_owned)
            }
            // "Chromium 148.0.7778.167 built on Debian GNU/Linux 12 (bookworm)"
            Tool::Chromium => version("chromium", 1),
            // "ChromeDriver 148.0.7778.167 (65db…)"
            Tool::Chromedriver => {
                let out = sh::stdout(Command::new(chromedriver_path(sh)?).arg("--version"))?;
                out.split_whitespace().nth(1).map(str::to_owned)
            }
            // `wrk --version` exits with 1; being on the PATH is what counts.
            Tool::Wrk => sh.which("wrk").map(|_| String::new()),
            // Debian's nginx sits in /usr/sbin, which a user's PATH may lack.
            Tool::Nginx => sh
                .which("nginx")
                .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
                .map(|_| String::new()),
            Tool::Python => {
                let python = venv_python(sh);
                let script = "import importlib.metadata as m; print(m.version('panoramisk'))";
                let out = sh::stdout(sh.cmd(python).args(["-c", script]))?;
                Some(out.trim().to_owned())
            }
        }
    }

    fn install(self, sh: &Sh, want: &Want) -> anyhow::Result<()> {
        let version = want.exact().unwrap_or_default();
        match self {
            Tool::WasmTarget => sh::run(sh.cmd("rustup").args(["target", "add", WASM_TARGET])),
            Tool::Trunk => {
                sh::run(
                    sh.cmd("cargo")
                        .args(["install", "--locked", &format!("trunk@{version}")]),
                )
            }
            // Unlocked, as wasm-bindgen's guide installs it: the CLI only has to match the
            // library's version, which Cargo.lock fixes.
            Tool::WasmBindgen => sh::run(
                sh.cmd("cargo")
                    .args(["install", &format!("wasm-bindgen-cli@{version}")]),
            ),
            Tool::WasmOpt => {
                // binaryen's npm package is wasm-opt compiled to JavaScript: it needs node to run.
                if sh.which("npm").is_none() || sh.which("node").is_none() {
                    println!("→ node and npm are missing: installing Debian's nodejs and npm");
                    apt_install(sh, &["nodejs", "npm"])
                        .context("node and npm are needed to install and run wasm-opt")?;
                }
                std::fs::create_dir_all(sh.root().join(sh::BINARYEN_DIR))
                    .context("could not create target/tools/binaryen")?;
                sh::run(sh.cmd("npm").args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    sh::BINARYEN_DIR,
                    &format!("binaryen@{version}.0.0"),
                ]))
            }
            Tool::Chromium | Tool::Chromedriver => {
                apt_install(sh, &["chromium", "chromium-driver"])
            }
            Tool::Wrk => apt_install(sh, &["wrk"]),
            Tool::Nginx => apt_install(sh, &["nginx"]),
            Tool::Python => {
                if sh.which("python3").is_none() {
                    bail!("python3 was not found");
                }
                sh::run(sh.cmd("python3").args(["-m", "venv", VENV]))?;
                sh::run(sh.cmd(venv_python(sh)).args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("panoramisk=={version}"),
                ]))
            }
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Tool::WasmTarget => {
                "run `rustup target add wasm32-unknown-unknown` in this directory and read its \
                 error (rustup needs to reach static.rust-lang.org)"
            }
            Tool::Trunk | Tool::WasmBindgen => {
                "read cargo's error above; building it needs crates.io and a C toolchain \
                 (Debian: `apt-get install build-essential pkg-config`), then rerun"
            }
            Tool::WasmOpt => {
                "install Node.js and npm (Debian: `apt-get install nodejs npm`), make sure npm \
                 can reach registry.npmjs.org, then rerun; never use Debian's binaryen package, \
                 its wasm-opt 108 produces WASM that fails at run time"
            }
            Tool::Chromium | Tool::Chromedriver => {
                "install Chromium and its WebDriver (Debian: `apt-get install chromium \
                 chromium-driver`), or set CHROMEDRIVER to a chromedriver matching your Chrome"
            }
            Tool::Python => {
                "install python3 with its venv module (Debian: `apt-get install python3-venv`)"
            }
            Tool::Wrk => "install wrk (Debian: `apt-get install wrk`); the AJAM benchmark needs it",
            Tool::Nginx => {
                "install nginx (Debian: `apt-get install nginx`), or set NGINX to an nginx binary; \
                 the proxy test runs it"
            }
        }
    }
}

/// The venv's interpreter, which pbxsim's interop test also finds by itself.
fn venv_python(sh: &Sh) -> PathBuf {
    sh.root().join(VENV).join("bin/python3")
}

/// `CHROMEDRIVER` when the caller set it (the e2e tests honour it too), else the one on PATH.
fn chromedriver_path(sh: &Sh) -> Option<PathBuf> {
    match std::env::var_os("CHROMEDRIVER") {
        Some(path) => Some(PathBuf::from(path)),
        None => sh.which("chromedriver"),
    }
}

/// `apt-get install`, as root or through sudo; refreshes the package lists only if needed.
fn apt_install(sh: &Sh, packages: &[&str]) -> anyhow::Result<()> {
    if sh.which("apt-get").is_none() {
        bail!("apt-get was not found (this is not Debian or Ubuntu)");
    }
    let is_root = sh::stdout(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if is_root {
            sh.cmd("apt-get")
        } else {
            sh.cmd("sudo")
        };
        if !is_root {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let install: Vec<&str> = ["install", "-y"].iter().chain(packages).copied().collect();
    if sh::run(&mut apt(&install)).is_ok() {
        return Ok(());
    }
    println!("→ retrying after `apt-get update`");
    sh::run(&mut apt(&["update"]))?;
    sh::run(&mut apt(&install))
}

/// The exact wasm-bindgen version in Cargo.lock (creating the lockfile on a fresh clone).
fn wasm_bindgen_version(sh: &Sh) -> anyhow::Result<String> {
    let lock_path = sh.root().join("Cargo.lock");
    if !lock_path.exists() {
        sh::run(sh.cmd("cargo").arg("generate-lockfile"))?;
    }
    let lock = std::fs::read_to_string(&lock_path).context("could not read Cargo.lock")?;
    locked_version(&lock, "wasm-bindgen").with_context(|| {
        format!(
            "reading the wasm-bindgen version from {}",
            lock_path.display()
        )
    })
}

/// The version of `package` in a Cargo.lock, which must hold it exactly once.
pub fn locked_version(lock: &str, package: &str) -> anyhow::Result<String> {
    let name_line = format!("name = \"{package}\"");
    let versions: Vec<&str> = lock
        .split("[[package]]")
        .filter(|entry| entry.lines().any(|line| line.trim() == name_line))
        .filter_map(|entry| {
            entry.lines().find_map(|line| {
                line.trim()
                    .strip_prefix("version = \"")
                    .and_then(|rest| rest.strip_suffix('"'))
            })
        })
        .collect();
    match versions.as_slice() {
        [version] => Ok((*version).to_owned()),
        [] => bail!("package `{package}` is not in the lockfile"),
        many => bail!(
            "package `{package}` is locked at several versions: {}",
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::locked_version;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "wasm-bindgen-backend"
version = "0.2.99"
"#;

    #[test]
    fn finds_the_exact_package_not_a_prefix() {
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen").ok().as_deref(),
            Some("0.2.130")
        );
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen-backend").ok().as_deref(),
            Some("0.2.99")
        );
    }

    #[test]
    fn refuses_missing_and_duplicated_packages() {
        assert!(locked_version(LOCK, "trunk").is_err());
        let twice = format!("{LOCK}\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.99\"\n");
        let err = locked_version(&twice, "wasm-bindgen")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("package `wasm-bindgen` is locked at several versions: 0.2.130, 0.2.99")
        );
    }
}
