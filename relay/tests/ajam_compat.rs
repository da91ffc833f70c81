//! The AJAM endpoints against the recordings of a real Asterisk 22.10.1: every request
//! of `ajam-index.txt`, in order, with its cookie jar, sent to the relay's AJAM
//! listener on pbxsim, the answer compared with its recording byte for byte after
//! [`mask`] (the one place that says which values may differ).

mod relay_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use regex::bytes::Regex;
use relay_support::{Pbx, Relay, server};
use shared::ami::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The values a recording and a replay may differ in: the Date header, the session
/// cookie, epoch-based values (Timestamp, Uniqueid, Linkedid and the like: ten digits,
/// a dot, digits), channel sequence numbers (`Local/100@test-00000067;2`), and the
/// listener's loopback port on the status page. The Content-Length is then that of the
/// masked body; the real one is checked apart.
fn mask(response: &[u8]) -> Vec<u8> {
    let rules: [(&str, &[u8]); 5] = [
        (r"(?m)^Date: [^\r\n]*", b"Date: <date>"),
        (r#"mansession_id="[0-9a-f]{8}""#, b"mansession_id=\"<id>\""),
        (r"\b\d{10}\.\d+\b", b"<epoch>"),
        (r"-[0-9a-f]{8}\b", b"-<seq>"),
        (r"127\.0\.0\.1:\d+", b"127.0.0.1:<port>"),
    ];
    let (head, body) = split(response);
    let mut head = head.to_vec();
    let mut body = body.to_vec();
    for (pattern, replacement) in rules {
        let re = Regex::new(pattern).expect("mask pattern");
        head = re.replace_all(&head, replacement).into_owned();
        body = re.replace_all(&body, replacement).into_owned();
    }
    let length = Regex::new(r"(?m)^Content-Length: \d+").expect("length pattern");
    let head = length.replace(&head, format!("Content-Length: {}", body.len()).as_bytes());
    [&head[..], b"\r\n\r\n", &body].concat()
}

fn split(response: &[u8]) -> (&[u8], &[u8]) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    (&response[..end], &response[end + 4..])
}

/// Answers whose body is the PBX's state and history rather than the protocol: what
/// calls had been made before (`CoreProcessedCalls`, queue counters), Asterisk's
/// hash-table order of channels, and the bursts of call events, in which pbxsim is
/// close to Asterisk but not byte-exact. For these the head must still match exactly,
/// and the body must open and close with the same blocks (the envelope each format
/// puts around the messages).
const STATE_DEPENDENT: &[&str] = &[
    "ajam-rawman-corestatus.txt",
    "ajam-mxml-corestatus.txt",
    "ajam-rawman-waitevent-drain.txt",
    "ajam-rawman-status.txt",
    "ajam-mxml-status.txt",
    "ajam-manager-status.txt",
    "ajam-rawman-coreshowchannels.txt",
    "ajam-rawman-queuestatus.txt",
    "ajam-rawman-waitevent-events.txt",
    "ajam-rawman-waitevent-after-originate.txt",
    "ajam-mxml-waitevent.txt",
    "ajam-mxml-command.txt",
];

/// The first and last blocks of a body, in its format's own separators, with every
/// value after a colon, in an attribute or in a table cell dropped.
fn envelope(file: &str, body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body).into_owned();
    let (separator, values, empty) = if file.contains("mxml") {
        ("\n", r"='[^']*'", "=")
    } else if file.contains("manager") {
        ("<hr>", r"</td><td>[^<]*</td>", "")
    } else {
        ("\r\n\r\n", r"(?m):[^\r\n]*", ":")
    };
    let values = regex::Regex::new(values).expect("value pattern");
    let blocks: Vec<String> = text
        .split(separator)
        .filter(|b| !b.trim().is_empty())
        .map(|b| values.replace_all(b, empty).into_owned())
        .collect();
    let first = blocks.first().cloned().unwrap_or_default();
    let last = blocks.last().cloned().unwrap_or_default();
    (first, last)
}

struct Row {
    file: String,
    method: String,
    target: String,
    body: Option<String>,
    jar: String,
}

fn index() -> Vec<Row> {
    let text = std::fs::read_to_string(testkit::fixtures().join("ajam-index.txt")).expect("index");
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let (request, body) = match cols[1].split_once("  body: ") {
                Some((request, body)) => (request, Some(body.to_owned())),
                None => (cols[1], None),
            };
            let (method, url) = request.split_once(' ').expect("method and URL");
            Row {
                file: cols[0].to_owned(),
                method: method.to_owned(),
                target: url
                    .strip_prefix("http://127.0.0.1:8088")
                    .expect("recorded URL")
                    .to_owned(),
                body,
                jar: cols[2].to_owned(),
            }
        })
        .collect()
}

/// One request on a fresh connection, as curl made them; the raw answer.
async fn send(relay: &Relay, row: &Row, cookie: Option<&str>) -> Vec<u8> {
    let mut request = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n",
        row.method, row.target
    );
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: mansession_id={cookie}\r\n"));
    }
    if let Some(body) = &row.body {
        request.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    if let Some(body) = &row.body {
        request.push_str(body);
    }
    let mut stream = TcpStream::connect(relay.legacy_addr)
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    read_response(&mut stream).await
}

async fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(70), stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed mid-answer: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|l| l.trim().parse().ok())
                .expect("a Content-Length");
            if buffer.len() >= end + 4 + length {
                assert_eq!(buffer.len(), end + 4 + length, "nothing after the body");
                return buffer;
            }
        }
    }
}

/// The recorded Originates of `record_ajam.py`, on a side AMI session.
async fn originate(
    admin: &relay::ami::SessionHandle,
    chan: &str,
    exten: &str,
    cid: &str,
    secs: u32,
    id: &str,
) {
    let action = Message::new()
        .with("Action", "Originate")
        .with("Channel", chan)
        .with("Context", "test")
        .with("Exten", exten)
        .with("Priority", "1")
        .with("CallerID", cid)
        .with("Async", "true")
        .with("Variable", format!("DURATION={secs}"))
        .with("ActionID", id);
    admin.send_until_response(action).await.expect("originate");
}

/// `ajamdemo.html` as the recording served it, with the recorded modification time,
/// so its ETag and Last-Modified come out the same.
fn static_dir() -> PathBuf {
    let recorded = std::fs::read(testkit::fixtures().join("ajam-static-ajamdemo.txt"))
        .expect("static fixture");
    let (head, body) = split(&recorded);
    let head = String::from_utf8_lossy(head);
    let mtime: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("ETag: \""))
        .and_then(|t| t.trim_end_matches('"').parse().ok())
        .expect("an ETag");
    let dir = std::env::temp_dir().join(format!("astpanel-ajam-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("static dir");
    let path = dir.join("ajamdemo.html");
    std::fs::write(&path, body).expect("write ajamdemo.html");
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
        .expect("set mtime");
    dir
}

/// Whether the 4 s "XML Caller" call of the mxml WaitEvent is still up.
async fn xml_call_up(admin: &relay::ami::SessionHandle) -> bool {
    let status = Message::new().with("Action", "CoreShowChannels");
    let Ok(answer) = admin.send(status).await else {
        return true;
    };
    answer
        .events
        .iter()
        .any(|e| e.get("CallerIDName") == Some(b"XML Caller".as_slice()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_request_is_answered_as_asterisk_answered_it() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let mut relay_server = server("pbx", &pbx);
    // The recordings' WaitEvents carry every event Asterisk sent.
    relay_server.exclude_events.clear();
    let static_dir = static_dir();
    let relay = Relay::start(vec![relay_server], |config| {
        config.legacy.server_name = "Asterisk/22.10.1".into();
        config.legacy.static_dir = Some(static_dir.clone());
    })
    .await;
    let admin = relay_support::side_session(&pbx);
    let mut jars: HashMap<String, String> = HashMap::new();
    let mut mismatches = Vec::new();
    let content_length = Regex::new(r"Content-Length: \d+").expect("length pattern");
    for row in index() {
        // The calls record_ajam.py set up between requests.
        match row.file.as_str() {
            "ajam-rawman-status.txt" => {
                originate(
                    &admin,
                    "Local/100@test",
                    "200",
                    "\"Alice Caller\" <1001>",
                    300,
                    "h1",
                )
                .await;
                originate(
                    &admin,
                    "Local/101@test",
                    "200",
                    "\"Bob Caller\" <1002>",
                    300,
                    "h2",
                )
                .await;
                for (i, agent) in ["agent1", "agent2"].iter().enumerate() {
                    let pause = Message::new()
                        .with("Action", "QueuePause")
                        .with("Queue", "support")
                        .with("Interface", format!("Local/{agent}@agents/n"))
                        .with("Paused", "true")
                        .with("ActionID", format!("hp{i}"));
                    admin.send(pause).await.expect("pause");
                }
                originate(
                    &admin,
                    "Local/100@test",
                    "300",
                    "\"Queue Caller\" <3001>",
                    300,
                    "h3",
                )
                .await;
                originate(
                    &admin,
                    "Local/101@test",
                    "400",
                    "\"Parked Caller\" <4001>",
                    300,
                    "h4",
                )
                .await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            "ajam-rawman-waitevent-wakeup.txt" => {
                let admin = admin.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let event = Message::new()
                        .with("Action", "UserEvent")
                        .with("UserEvent", "AjamWakeup")
                        .with("Note", "sent 3 s after the waitevent request")
                        .with("ActionID", "hu");
                    admin.send(event).await.expect("user event");
                });
            }
            "ajam-rawman-waitevent-after-originate.txt" => {
                tokio::time::sleep(Duration::from_millis(2500)).await;
            }
            "ajam-mxml-waitevent.txt" => {
                originate(
                    &admin,
                    "Local/101@test",
                    "200",
                    "\"XML Caller\" <6002>",
                    4,
                    "h5",
                )
                .await;
                tokio::time::sleep(Duration::from_millis(2500)).await;
            }
            "ajam-rawman-viewer-login.txt" => {
                // Asterisk ran the requests after mxml-waitevent within milliseconds, so
                // no call event fell into the viewer's window; this replay is slower, so
                // it lets that 4 s call end first.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while tokio::time::Instant::now() < deadline && xml_call_up(&admin).await {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            _ => {}
        }
        let cookie = jars.get(&row.jar).cloned();
        let cookie = if row.jar == "none" { None } else { cookie };
        let actual = send(&relay, &row, cookie.as_deref()).await;
        let (head, body) = split(&actual);
        let head_text = String::from_utf8_lossy(head).into_owned();
        let length: usize = head_text
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|l| l.parse().ok())
            .expect("Content-Length");
        assert_eq!(
            length,
            body.len(),
            "{}: Content-Length is the body's",
            row.file
        );
        if let Some(id) = head_text
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
            .and_then(|l| l.get(..8))
            && row.jar != "none"
        {
            jars.insert(row.jar.clone(), format!("\"{id}\""));
        }
        let expected = std::fs::read(testkit::fixtures().join(&row.file)).expect("recording");
        let (actual, expected) = (mask(&actual), mask(&expected));
        let same = if STATE_DEPENDENT.contains(&row.file.as_str()) {
            let (actual_head, actual_body) = split(&actual);
            let (expected_head, expected_body) = split(&expected);
            content_length.replace(actual_head, &b""[..])
                == content_length.replace(expected_head, &b""[..])
                && envelope(&row.file, actual_body) == envelope(&row.file, expected_body)
        } else {
            actual == expected
        };
        if !same {
            mismatches.push((row.file.clone(), expected, actual));
        }
    }
    let _ = std::fs::remove_dir_all(&static_dir);
    for (file, expected, actual) in &mismatches {
        eprintln!(
            "=== {file}\n--- recorded\n{}\n--- relay\n{}",
            String::from_utf8_lossy(expected),
            String::from_utf8_lossy(actual)
        );
    }
    let names: Vec<&str> = mismatches.iter().map(|(f, _, _)| f.as_str()).collect();
    assert!(
        names.is_empty(),
        "answers differ from the recordings: {names:?}"
    );
}
