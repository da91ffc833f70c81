//! pbxsim instances served from this process over loopback, each on a thread of its own
//! (see `isolated`), stopped when dropped.

use std::net::SocketAddr;

use anyhow::Context;
use pbxsim::{SimConfig, Traffic};
use tokio::sync::oneshot;

use crate::isolated;

/// One simulated Asterisk on a loopback port.
pub struct Pbx {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Pbx {
    pub async fn start(config: SimConfig) -> anyhow::Result<Pbx> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding pbxsim")?;
        listener
            .set_nonblocking(true)
            .context("a non-blocking listener")?;
        let addr = listener.local_addr().context("pbxsim's address")?;
        let (stop, stopped) = oneshot::channel::<()>();
        isolated::spawn("pbxsim", move || async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    if let Err(error) = pbxsim::serve(listener, config, shutdown).await {
                        eprintln!("pbxsim stopped: {error}");
                    }
                }
                Err(error) => eprintln!("pbxsim's listener: {error}"),
            }
        })?;
        Ok(Pbx {
            addr,
            stop: Some(stop),
        })
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Load mode without the dialplan noise (`Newexten`, `VarSet`, `CEL`, `Cdr`), which the
/// relay filters out anyway: every event pbxsim counts against its cap reaches the
/// relay. `None`: as fast as the relay reads. A `LoadStamp` after every 100 events.
pub fn load(events_per_sec: Option<u64>) -> SimConfig {
    let mut config = SimConfig::load_at(1);
    config.traffic = Traffic::Load {
        max_events_per_sec: events_per_sec,
    };
    config.noise = false;
    config
}
