//! The `astpanel` binary: parses the command line and calls [`relay::run`] (which also
//! reloads the TLS certificate on SIGHUP).

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = relay::config::Args::parse();
    if args.hash_password {
        return print_password_hash();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&args.log)),
        )
        .init();
    let config = args.into_config()?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    println!("AstPanel is serving {url}");
    relay::run(config, listener, shutdown_signal()).await?;
    Ok(())
}

/// `astpanel --hash-password`: reads one password from standard input (so that it
/// is not in the shell's history or in `ps`) and prints its `password_hash`.
fn print_password_hash() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    let hash = relay::auth::users::hash_password(password.as_bytes())
        .map_err(|error| anyhow::anyhow!("cannot hash the password: {error}"))?;
    println!("{hash}");
    Ok(())
}

/// Ctrl-C, or SIGTERM (what systemd and container runtimes send).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
