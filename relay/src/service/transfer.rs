//! Waiting for an attended transfer to start: the rule of what counts as started is
//! `control::transfer`'s, the wait on the live model is here, where the model is.

use std::collections::BTreeSet;

use tokio::sync::broadcast::error::RecvError;

use crate::control::transfer::{START_WAIT, dials};
use crate::live::LiveServer;

/// Waits, at most [`START_WAIT`], until `server`'s model holds a dial of `exten` in
/// `context` that is not among `before`; its channel name, or `None` if none came.
pub(super) async fn started(
    server: &LiveServer,
    exten: &str,
    context: &str,
    before: &BTreeSet<String>,
) -> Option<String> {
    let mut updates = server.subscribe();
    let new_dial = || {
        server.with_model(|model| {
            let uniqueid = dials(model, exten, context)
                .difference(before)
                .next()?
                .clone();
            model.channels.get(&uniqueid).map(|c| c.channel.clone())
        })
    };
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        if let Some(channel) = new_dial() {
            return Some(channel);
        }
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Err(_) | Ok(Err(RecvError::Closed)) => return None,
            // Whatever came (a delta, a rebuild, or more than the buffer), look again.
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
        }
    }
}
