//! `pbxsim`: serve the simulated Asterisk on a TCP port, or measure the load generator.
//!
//! Everything lives in the library; this file parses flags and calls it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use pbxsim::{SimConfig, Traffic};

/// A simulated Asterisk 22 speaking AMI, for demos, tests and load tests.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5038")]
    listen: SocketAddr,
    /// A manager.conf-style file: user sections, and an optional [pbxsim] section
    /// (seed, calls_per_minute, noise, load, stamp_every, agents, queues, directory).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the traffic generator.
    #[arg(long)]
    seed: Option<u64>,
    /// Mean generated calls per minute (0: no generated traffic).
    #[arg(long)]
    calls_per_minute: Option<f64>,
    /// Load mode: generate events as fast as clients read them, or at most EVENTS_PER_SEC.
    #[arg(long, value_name = "EVENTS_PER_SEC", num_args = 0..=1)]
    load: Option<Option<u64>>,
    /// In load mode, a `UserEvent: LoadStamp` carrying `SentUs` after every N events (0: none).
    #[arg(long, value_name = "N")]
    stamp_every: Option<u32>,
    /// With --load: measure events/s to one local client for this many seconds, print, exit.
    #[arg(long, value_name = "SECONDS")]
    measure: Option<u64>,
    /// Phones, presence, voicemail and queues: `call-centre` (the default), `recorded`
    /// (ami-session-2's hints) or `none`.
    #[arg(long, value_name = "NAME")]
    directory: Option<String>,
    /// Leave out Newexten/VarSet/CEL/Cdr events.
    #[arg(long)]
    no_noise: bool,
    /// Agents `Local/agentN@agents/n`, members of every queue but `sales` (the fixtures'
    /// queues then replace the demo call centre's).
    #[arg(long)]
    agents: Option<usize>,
    /// Queues: `support`, `sales`, then `queue3`, `queue4`… (the fixtures' queues then
    /// replace the demo call centre's).
    #[arg(long)]
    queues: Option<usize>,
    /// Serve AMI over TLS (as Asterisk's `tlsenable` on port 5039) with this PEM
    /// certificate chain.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "pbxsim=info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = SimConfig::demo();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config = SimConfig::from_conf(&text, config)?;
    }
    if let Some(name) = &args.directory {
        config.directory = pbxsim::Directory::named(name)
            .with_context(|| format!("--directory {name}: none, recorded or call-centre"))?;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(cpm) = args.calls_per_minute {
        config.traffic = if cpm > 0.0 {
            Traffic::Paced {
                calls_per_minute: cpm,
                trickle: std::time::Duration::from_millis(1_500),
            }
        } else {
            Traffic::Off
        };
    }
    if let Some(cap) = args.load {
        config.traffic = Traffic::Load {
            max_events_per_sec: cap,
        };
    }
    config.stamp_every = args.stamp_every.unwrap_or(config.stamp_every);
    config.noise &= !args.no_noise;
    if args.agents.is_some() || args.queues.is_some() {
        config.fixture_queues(args.agents, args.queues);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(pbxsim::tls::server_config(cert, key)?);
    }
    if let Some(secs) = args.measure {
        let report = pbxsim::bench::measure(config, std::time::Duration::from_secs(secs)).await?;
        println!("{report}");
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    pbxsim::serve(listener, config, shutdown).await?;
    Ok(())
}
