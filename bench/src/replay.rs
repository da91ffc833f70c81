//! The replay server: one AMI client logs in, then gets the recording N times and the end marker.
//!
//! It runs on a plain thread with blocking sockets so that its own cost is the same, and
//! small, whichever client is being measured.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::fixture::{END_MARKER, Recording};

/// How long a client may take to connect, to answer, or to hang up after the marker.
const PATIENCE: Duration = Duration::from_secs(60);

/// A server waiting for its one client.
pub struct ReplayServer {
    pub addr: SocketAddr,
    thread: JoinHandle<anyhow::Result<()>>,
}

impl ReplayServer {
    /// Binds a loopback port and serves one client `passes` times the recording.
    pub fn start(recording: &Recording, passes: u64) -> anyhow::Result<ReplayServer> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the replay server")?;
        let addr = listener.local_addr()?;
        let events = Arc::clone(&recording.events);
        let thread = std::thread::spawn(move || serve_one(&listener, &events, passes));
        Ok(ReplayServer { addr, thread })
    }

    /// Waits for the server to finish: the client has logged in, read everything and gone.
    pub fn finish(self) -> anyhow::Result<()> {
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => bail!("the replay server thread panicked"),
        }
    }
}

fn serve_one(listener: &TcpListener, events: &[u8], passes: u64) -> anyhow::Result<()> {
    let stream = accept_within(listener, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    writer.write_all(b"Asterisk Call Manager/11.0.0\r\n")?;
    let action_id = read_login(&mut reader)?;
    let id_line = action_id
        .map(|id| format!("ActionID: {id}\r\n"))
        .unwrap_or_default();
    let login = format!("Response: Success\r\n{id_line}Message: Authentication accepted\r\n\r\n");
    writer.write_all(login.as_bytes())?;
    for _ in 0..passes {
        writer
            .write_all(events)
            .context("the client stopped reading the events")?;
    }
    writer.write_all(END_MARKER)?;
    // Whatever the client still sends (a Ping, a Logoff) is read and dropped until it hangs up.
    std::io::copy(&mut reader, &mut std::io::sink())
        .context("the client did not hang up after the end marker")?;
    Ok(())
}

/// The listener is non-blocking so that a client that never comes is an error, not a hang.
fn accept_within(listener: &TcpListener, patience: Duration) -> anyhow::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + patience;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    bail!("no client connected within {patience:?}");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => return Err(err).context("accepting the client"),
        }
    }
}

/// Reads the client's first action (its Login) up to the blank line and returns its ActionID.
fn read_login(reader: &mut impl BufRead) -> anyhow::Result<Option<String>> {
    let mut action_id = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).context("reading the Login")? == 0 {
            bail!("the client hung up before logging in");
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            return Ok(action_id);
        }
        if let Some((key, value)) = trimmed.split_once(':')
            && key.trim().eq_ignore_ascii_case("actionid")
        {
            action_id = Some(value.trim().to_owned());
        }
    }
}
