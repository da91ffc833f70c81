//! One pbxsim served by the test's own runtime on a loopback port: stoppable, and
//! restartable on the same port as an Asterisk restart is.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long a restart waits for the old port to be free again.
const REBIND_PATIENCE: Duration = Duration::from_secs(5);

/// A running pbxsim; dropping it stops the server (its stop sender goes with it).
pub struct Pbx {
    pub addr: SocketAddr,
    /// Its counters (logins per user, sessions, actions), shared with `config`.
    pub stats: pbxsim::Stats,
    /// What it was started with; [`Pbx::restart`] starts the same again.
    pub config: pbxsim::SimConfig,
    stop: Option<oneshot::Sender<()>>,
}

impl Pbx {
    /// Serves `config` on a free loopback port. Panics if no port can be bound.
    pub async fn start(config: pbxsim::SimConfig) -> Pbx {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot bind a loopback port for pbxsim: {error}"));
        Pbx::serve_on(listener, config)
    }

    fn serve_on(listener: TcpListener, config: pbxsim::SimConfig) -> Pbx {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("pbxsim's listener has no address: {error}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = config.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(error) = pbxsim::serve(listener, serving, shutdown).await {
                eprintln!("pbxsim stopped: {error}");
            }
        });
        Pbx {
            addr,
            stats: config.stats.clone(),
            config,
            stop: Some(stop),
        }
    }

    /// Stops this pbxsim (every AMI connection drops, every call is gone) and starts a
    /// fresh one with the same configuration on the same port.
    pub async fn restart(&mut self) {
        let config = self.config.clone();
        self.restart_with(config).await;
    }

    /// [`Pbx::restart`] with another configuration (fresh counters, for one).
    pub async fn restart_with(&mut self, config: pbxsim::SimConfig) {
        self.stop();
        let deadline = tokio::time::Instant::now() + REBIND_PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("cannot bind {} again for pbxsim: {error}", self.addr),
            }
        };
        *self = Pbx::serve_on(listener, config);
    }

    /// Stops this pbxsim: every AMI connection drops and the port stays closed.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
