//! The recorded Asterisk 22 event stream, cut down to its events, and the bench's end marker.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};

/// Written after the last pass; every client stops when it sees this UserEvent.
pub const END_MARKER: &[u8] = b"Event: UserEvent\r\nUserEvent: BenchEnd\r\n\r\n";

/// One pass of the recording: its events, and how many there are.
pub struct Recording {
    pub events: Arc<[u8]>,
    pub count: u64,
}

impl Recording {
    /// The recorded events without the banner, the login response and the logoff response,
    /// so that replaying them in a loop is a valid AMI stream after any login.
    /// `path` is `ami-events-stream.txt`, the admin connection's received bytes.
    pub fn load(path: &Path) -> anyhow::Result<Recording> {
        let stream = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let stream = stream.as_slice();
        let after_banner = stream
            .iter()
            .position(|&b| b == b'\n')
            .context("the recording has no banner line")?
            + 1;
        let login_end = after_banner
            + find(&stream[after_banner..], b"\r\n\r\n").context("no login response")?
            + 4;
        let goodbye = find(stream, b"Response: Goodbye").context("no logoff response")?;
        let events: Arc<[u8]> = stream[login_end..goodbye].into();
        let count = blank_lines(&events);
        if count == 0 || !events.ends_with(b"\r\n\r\n") {
            bail!("the recording's event part does not end in a blank line");
        }
        Ok(Recording { events, count })
    }
}

/// Messages in `bytes`, each ended by a blank line (CRLF CRLF), as Asterisk frames them.
pub fn blank_lines(bytes: &[u8]) -> u64 {
    memchr::memmem::find_iter(bytes, b"\r\n\r\n").count() as u64
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}
