//! The machine a run was measured on, read from /proc, for the results page.

use std::fmt;

/// What the page says about the machine: numbers only compare within one such run.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub memory: String,
    /// `/proc/loadavg` when the run started: how busy the shared machine already was.
    pub load: String,
}

impl Machine {
    /// Reads what /proc has; a missing file reads as "unknown" rather than stopping the run.
    pub fn probe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = field(&cpuinfo, "model name")
            .unwrap_or("unknown")
            .to_owned();
        let meminfo = read("/proc/meminfo");
        let memory = field(&meminfo, "MemTotal").map_or_else(
            || "unknown".to_owned(),
            |kib| match kib.trim_end_matches(" kB").trim().parse::<u64>() {
                Ok(kib) => format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)),
                Err(_) => kib.to_owned(),
            },
        );
        let or_unknown = |s: String| {
            let s = s.trim().to_owned();
            if s.is_empty() {
                "unknown".to_owned()
            } else {
                s
            }
        };
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: or_unknown(read("/proc/sys/kernel/osrelease")),
            memory,
            load: or_unknown(read("/proc/loadavg")),
        }
    }
}

/// The value of the first `key: value` line of a /proc file.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "- CPU: {} ({} cores available)", self.cpu, self.cores)?;
        writeln!(f, "- Kernel: Linux {}", self.kernel)?;
        writeln!(f, "- Memory: {}", self.memory)?;
        writeln!(
            f,
            "- Load average at the start (1, 5, 15 min, tasks, last pid): {}",
            self.load
        )
    }
}
