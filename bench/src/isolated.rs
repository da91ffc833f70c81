//! A task on a thread and runtime of its own: pbxsim and the tap keep their pace while
//! thousands of panel tasks crowd the bench's main runtime.

use std::future::Future;

use anyhow::Context;

/// Runs `task` on a new thread with a current-thread runtime; the thread ends with it.
/// `task` is built on that thread, so the sockets it opens belong to its runtime.
pub fn spawn<F, Fut>(name: &str, task: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime")?;
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(task()))
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(())
}
