//! One AMI client connection: banner, bounded reads through the shared parser, actions, filtered events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use shared::ami::{Frame, Message, ParseError, Parser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::actions::{self, Reply};
use crate::client::Session;
use crate::fault::{self, Action};
use crate::state::{Core, Wire, session_id, stopped};

/// The greeting, one line with no blank line after it.
pub(crate) const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// Flush events to the socket once this many bytes are pending.
const WRITE_BATCH: usize = 64 * 1024;

/// Why a session ended.
#[derive(Debug)]
enum End {
    Logoff,
    ClientClosed,
    Shutdown,
    SlowClient(&'static str),
    Io(std::io::Error),
    Fault,
}

/// Serves one client until it leaves, misbehaves or the server stops.
pub(crate) async fn run(
    core: Arc<Core>,
    stream: impl AsyncRead + AsyncWrite + Unpin,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let id = session_id(&core);
    let span = info_span!("session", id, %peer);
    async move {
        core.config.stats.connection_opened();
        let mut session = Session::new(id, peer);
        let end = serve_client(&core, &mut session, stream, stop).await;
        core.config.stats.connection_closed(session.user.is_some());
        match end {
            End::SlowClient(why) => warn!(why, "dropping slow client"),
            End::Io(e) => debug!(error = %e, "connection error"),
            other => debug!(?other, "session ended"),
        }
    }
    .instrument(span)
    .await;
}

async fn serve_client(
    core: &Core,
    session: &mut Session,
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    mut stop: watch::Receiver<bool>,
) -> End {
    let faults = &core.config.faults;
    let mut seen = faults.now();
    let mut events: Option<broadcast::Receiver<Arc<Wire>>> = None;
    let mut parser = Parser::with_max_len(core.config.max_action_len);
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut out = BytesMut::with_capacity(WRITE_BATCH);
    out.put_slice(BANNER);
    loop {
        // A stall holds everything back, answers to actions (a Ping's Pong) included:
        // that is what a hung Asterisk looks like, and only a keepalive can tell.
        if !out.is_empty()
            && !faults.writes_stalled()
            && let Err(end) = flush(core, &mut stream, &mut out).await
        {
            return end;
        }
        if let Some(action) = faults.pending(&mut seen) {
            match action {
                Action::Close => return End::Fault,
                Action::Garbage => {
                    out.put_slice(b"\x00\xff\xfegarbage without structure\r\n\x01\x02\r\n\r\n")
                }
                Action::Oversized(len) => {
                    let mut msg = Message::new()
                        .with("Event", "VarSet")
                        .with("Privilege", "dialplan,all");
                    msg.push("Variable", "OVERSIZED");
                    msg.push("Value", vec![b'x'; len]);
                    msg.write_to(&mut out);
                }
            }
            continue;
        }
        let reading = !faults.reads_stalled();
        let writing = !faults.writes_stalled();
        // Frames are answered here, not where the bytes arrive: bytes read just before the
        // stall switch flipped wait in `rbuf` until reading resumes, so a stall takes effect
        // for everything the client sends after the switch, with no race against a read.
        while reading && let Some(frame) = parser.next_frame(&mut rbuf) {
            let reply = match frame {
                Frame::Message(msg) if has_long_line(&msg) => {
                    // Asterisk reads lines into a 1024-byte buffer: a longer line spoils
                    // the action, which is answered (with the ActionID) but not run.
                    Reply::error(msg.action_id(), "Failed to parse message: line too long")
                }
                Frame::Message(msg) => actions::handle(core, session, &msg),
                Frame::Invalid(err @ ParseError::TooLong { .. }) => {
                    debug!(error = %err, "oversized action");
                    Reply::error(None, "Failed to parse message: line too long")
                }
                Frame::Invalid(err) => {
                    debug!(error = %err, "unparseable action");
                    Reply::error(None, "Missing action in request")
                }
                Frame::Banner(_) => continue,
            };
            if let Some(delay) = reply.delay {
                tokio::time::sleep(delay).await;
            }
            out.put_slice(&reply.bytes);
            if reply.subscribe && events.is_none() {
                events = Some(core.events.subscribe());
                info!(
                    user = session.user.as_ref().map(|u| u.name.as_str()),
                    "logged in"
                );
            }
            if reply.close {
                let _ = flush(core, &mut stream, &mut out).await;
                return if reply.logoff {
                    End::Logoff
                } else {
                    End::ClientClosed
                };
            }
        }
        // Answers to write go out first; while stalled they wait for the switch.
        if !out.is_empty() && writing {
            continue;
        }
        tokio::select! {
            biased;
            _ = stopped(&mut stop) => return End::Shutdown,
            read = stream.read_buf(&mut rbuf), if reading => {
                match read {
                    Ok(0) => return End::ClientClosed,
                    Ok(_) => {}
                    Err(e) => return End::Io(e),
                }
            }
            ev = recv(&mut events), if writing => {
                match ev {
                    Ok(ev) => {
                        push_event(session, &ev, &mut out);
                        // Take whatever else is already queued, up to one write batch.
                        while out.len() < WRITE_BATCH {
                            match events.as_mut().map(broadcast::Receiver::try_recv) {
                                Some(Ok(ev)) => push_event(session, &ev, &mut out),
                                Some(Err(broadcast::error::TryRecvError::Lagged(_))) => {
                                    return End::SlowClient("fell behind the event buffer");
                                }
                                _ => break,
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        warn!(missed = n, "client lagged");
                        return End::SlowClient("fell behind the event buffer");
                    }
                    Err(RecvError::Closed) => return End::Shutdown,
                }
            }
            _ = tokio::time::sleep(fault::POLL) => {}
        }
    }
}

/// Asterisk's line buffer holds 1024 bytes (`Key: Value`, without the line end).
const MAX_LINE: usize = 1024;

fn has_long_line(msg: &Message) -> bool {
    msg.headers().any(|(k, v)| k.len() + 2 + v.len() > MAX_LINE)
}

fn push_event(session: &Session, ev: &Wire, out: &mut BytesMut) {
    if session.wants(ev) {
        out.put_slice(&ev.bytes);
    }
}

async fn recv(rx: &mut Option<broadcast::Receiver<Arc<Wire>>>) -> Result<Arc<Wire>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes `out` within the write timeout (slowed down by the fault switch if set).
async fn flush(
    core: &Core,
    stream: &mut (impl AsyncWrite + Unpin),
    out: &mut BytesMut,
) -> Result<(), End> {
    if let Some(delay) = core.config.faults.write_delay() {
        tokio::time::sleep(delay).await;
    }
    let limit: Duration = core.config.write_timeout;
    // A TLS stream holds records back until flushed; for TCP the flush is free.
    let write = async {
        stream.write_all(out).await?;
        stream.flush().await
    };
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => {
            out.clear();
            Ok(())
        }
        Ok(Err(e)) => Err(End::Io(e)),
        Err(_) => Err(End::SlowClient("write timed out")),
    }
}
