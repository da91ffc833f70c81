//! The AJAM endpoints' behaviour on real sockets: WaitEvent's wake-up and its bounded
//! queue, sessions shared with the panel, expiry, guards, and bad input answered as
//! Asterisk answers it (or with a 4xx where Asterisk would crash or hang).

mod relay_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use relay_support::{PATIENCE, Pbx, Relay, server};
use shared::ami::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One raw HTTP exchange on a fresh connection; the whole answer as text.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = tokio::time::timeout(PATIENCE * 4, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if complete(&answer) {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}

fn get(target: &str, cookie: Option<&str>) -> Vec<u8> {
    let cookie = cookie
        .map(|c| format!("Cookie: mansession_id=\"{c}\"\r\n"))
        .unwrap_or_default();
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n{cookie}\r\n").into_bytes()
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn cookie(answer: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id=\""))
        .and_then(|l| l.get(..8))
        .expect("a session cookie")
        .to_owned()
}

/// Logs in over rawman and returns the session cookie.
async fn login(relay: &Relay, user: &str, secret: &str) -> String {
    let answer = exchange(
        relay.legacy_addr,
        &get(
            &format!("/asterisk/rawman?action=login&username={user}&secret={secret}"),
            None,
        ),
    )
    .await;
    assert!(
        body(&answer).contains("Message: Authentication accepted"),
        "{answer}"
    );
    cookie(&answer)
}

async fn rawman(relay: &Relay, query: &str, session: &str) -> String {
    let answer = exchange(
        relay.legacy_addr,
        &get(&format!("/asterisk/rawman?{query}"), Some(session)),
    )
    .await;
    body(&answer).to_owned()
}

async fn user_event(admin: &relay::ami::SessionHandle, name: &str, n: usize) {
    let event = Message::new()
        .with("Action", "UserEvent")
        .with("UserEvent", name)
        .with("N", n.to_string())
        .with("ActionID", format!("{name}-{n}"));
    admin.send(event).await.expect("user event");
}

/// The side admin session, logged in: its login's own events are behind us.
async fn admin_of(pbx: &Pbx) -> relay::ami::SessionHandle {
    let admin = relay_support::side_session(pbx);
    admin
        .send(Message::new().with("Action", "Ping"))
        .await
        .expect("side session up");
    admin
}

async fn setup(tweak: impl FnOnce(&mut relay::config::Config)) -> (Pbx, Relay) {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], tweak).await;
    (pbx, relay)
}

/// Empties what the login queued (other sessions' logins and the like): everything up
/// to a marker event raised now, so nothing of before can arrive later.
async fn drain(relay: &Relay, session: &str, admin: &relay::ami::SessionHandle) {
    user_event(admin, "Drained", 0).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = rawman(relay, "action=waitevent&timeout=1", session).await;
        assert!(
            answer.ends_with("Event: WaitEventComplete\r\n\r\n"),
            "{answer}"
        );
        if answer.contains("UserEvent: Drained\r\n") {
            return;
        }
        assert!(Instant::now() < deadline, "the marker never came");
    }
}

#[tokio::test]
async fn wait_event_is_woken_by_the_event_not_by_a_timer() {
    let (pbx, relay) = setup(|_| {}).await;
    let admin = admin_of(&pbx).await;
    let session = login(&relay, "admin", "admin-secret").await;
    drain(&relay, &session, &admin).await;
    let started = Instant::now();
    let waiting = tokio::spawn({
        let addr = relay.legacy_addr;
        let request = get(
            "/asterisk/rawman?action=waitevent&actionid=w1",
            Some(&session),
        );
        async move { exchange(addr, &request).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "WaitEvent returned before any event"
    );
    user_event(&admin, "Wake", 1).await;
    let answer = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("woken in time")
        .expect("task");
    assert!(started.elapsed() >= Duration::from_millis(700));
    let body = body(&answer);
    assert!(
        body.starts_with(
            "Response: Success\r\nActionID: w1\r\nMessage: Waiting for Event completed.\r\n\r\n"
        ),
        "{body}"
    );
    assert!(
        body.contains("Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Wake\r\nN: 1\r\nActionID: Wake-1\r\n\r\n"),
        "{body}"
    );
    assert!(
        body.ends_with("Event: WaitEventComplete\r\nActionID: w1\r\n\r\n"),
        "{body}"
    );
}

#[tokio::test]
async fn a_newer_wait_event_ends_the_older_one_empty() {
    let (pbx, relay) = setup(|_| {}).await;
    let admin = admin_of(&pbx).await;
    let session = login(&relay, "admin", "admin-secret").await;
    drain(&relay, &session, &admin).await;
    let first = tokio::spawn({
        let addr = relay.legacy_addr;
        let request = get(
            "/asterisk/rawman?action=waitevent&timeout=30",
            Some(&session),
        );
        async move { exchange(addr, &request).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = tokio::spawn({
        let addr = relay.legacy_addr;
        let request = get(
            "/asterisk/rawman?action=waitevent&timeout=1",
            Some(&session),
        );
        async move { exchange(addr, &request).await }
    });
    let first = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .expect("the first WaitEvent ended when the second came")
        .expect("task");
    assert_eq!(body(&first), "", "the abandoned WaitEvent answers nothing");
    let second = second.await.expect("task");
    assert!(
        body(&second).ends_with("Event: WaitEventComplete\r\n\r\n"),
        "{second}"
    );
}

#[tokio::test]
async fn a_client_that_never_waits_holds_at_most_the_queue_and_hears_what_was_dropped() {
    const QUEUE: usize = 50;
    let (pbx, relay) = setup(|config| config.legacy.event_queue = QUEUE).await;
    let admin = admin_of(&pbx).await;
    let session = login(&relay, "admin", "admin-secret").await;
    // A second session follows the same stream and tells when an event went through.
    let observer = login(&relay, "admin", "admin-secret").await;
    drain(&relay, &session, &admin).await;
    // N-1, N and N+1 around the bound, then far past it.
    for (round, (sent, kept, dropped)) in [
        (QUEUE - 1, QUEUE - 1, 0),
        (QUEUE, QUEUE, 0),
        (QUEUE + 1, QUEUE, 1),
        (4 * QUEUE, QUEUE, 3 * QUEUE),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("Fill{round}");
        for n in 0..sent {
            user_event(&admin, &name, n).await;
        }
        let last = format!("UserEvent: {name}\r\nN: {}\r\n", sent - 1);
        let deadline = Instant::now() + PATIENCE;
        while !rawman(&relay, "action=waitevent&timeout=1", &observer)
            .await
            .contains(&last)
        {
            assert!(
                Instant::now() < deadline,
                "the relay never passed on {last:?}"
            );
        }
        let body = rawman(&relay, "action=waitevent&timeout=0", &session).await;
        let events = body.matches(&format!("UserEvent: {name}\r\n")).count();
        let reported: usize = body
            .split("Event: AstPanelEventsDropped\r\nCount: ")
            .nth(1)
            .and_then(|rest| rest.split("\r\n").next())
            .map_or(0, |n| n.parse().expect("a count"));
        assert_eq!((events, reported), (kept, dropped), "{sent} sent: {body}");
        assert!(body.contains(&last), "the newest is kept");
        if dropped > 0 {
            assert!(
                body.find("AstPanelEventsDropped") < body.find(&format!("UserEvent: {name}")),
                "the notice comes first"
            );
        }
    }
}

#[tokio::test]
async fn sustained_load_on_a_session_that_never_waits_stays_within_its_bound() {
    const QUEUE: usize = 1_000;
    let pbx = Pbx::start(pbxsim::SimConfig::load_at(20_000)).await;
    let mut load_server = server("pbx", &pbx);
    load_server.exclude_events.clear();
    let relay = Relay::start(vec![load_server], |config| {
        config.legacy.event_queue = QUEUE
    })
    .await;
    let session = login(&relay, "admin", "admin-secret").await;
    let token = relay
        .login("pbx", "admin", "admin-secret")
        .await
        .expect("panel login");
    // A few seconds of load, counted by the relay's own event counter.
    let before = events_received(&relay, &token).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = events_received(&relay, &token).await;
    assert!(
        after - before > 5 * QUEUE as u64,
        "load ran: {before} -> {after}"
    );
    let body = rawman(&relay, "action=waitevent&timeout=0", &session).await;
    let events = body.matches("\r\nEvent: ").count() - 1; // the WaitEventComplete
    let dropped: u64 = body
        .split("Event: AstPanelEventsDropped\r\nCount: ")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .map_or(0, |n| n.parse().expect("a count"));
    assert!(
        events <= QUEUE + 1,
        "{events} events held for a session that never waited"
    );
    assert!(dropped > 0, "the overflow was reported");
}

async fn events_received(relay: &Relay, token: &str) -> u64 {
    let state = relay.state(token).await;
    state["servers"][0]["link"]["events_received"]
        .as_u64()
        .expect("events_received")
}

#[tokio::test]
async fn an_ajam_user_and_a_panel_user_share_one_ami_login() {
    let (pbx, relay) = setup(|_| {}).await;
    let _token = relay
        .login("pbx", "agent", "agent-secret")
        .await
        .expect("panel login");
    let session = login(&relay, "agent", "agent-secret").await;
    let second = login(&relay, "agent", "agent-secret").await;
    assert_ne!(session, second, "each HTTP login is its own session");
    assert_eq!(
        pbx.stats.logins("agent"),
        1,
        "one AMI login for the panel and both AJAM sessions"
    );
    // The agent's own permissions and the relay's guards apply.
    let refused = rawman(
        &relay,
        "action=command&command=core%20show%20version",
        &session,
    )
    .await;
    assert_eq!(
        refused,
        "Response: Error\r\nMessage: the command action is not allowed for this account\r\n\r\n"
    );
    let logoff = rawman(&relay, "action=logoff", &session).await;
    assert_eq!(
        logoff,
        "Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n\r\n"
    );
    let after = rawman(&relay, "action=ping", &session).await;
    assert_eq!(
        after,
        "Response: Error\r\nMessage: Permission denied\r\n\r\n"
    );
    let still = rawman(&relay, "action=ping", &second).await;
    assert!(
        still.starts_with("Response: Success\r\nPing: Pong\r\n"),
        "{still}"
    );
}

#[tokio::test]
async fn a_viewer_waits_only_for_what_its_read_classes_cover() {
    let (pbx, relay) = setup(|_| {}).await;
    let admin = admin_of(&pbx).await;
    let session = login(&relay, "viewer", "viewer-secret").await;
    // The marker of `drain` is a user event, which a viewer never sees: what the
    // login queued is taken once instead; the check below does not depend on it.
    rawman(&relay, "action=waitevent&timeout=0", &session).await;
    user_event(&admin, "NotForViewers", 1).await;
    relay_support::call(&admin, "100", "500", 1).await;
    let mut seen = String::new();
    let deadline = Instant::now() + PATIENCE;
    while !seen.contains("Event: Hangup\r\n") && Instant::now() < deadline {
        seen.push_str(&rawman(&relay, "action=waitevent&timeout=2", &session).await);
    }
    assert!(
        seen.contains("Event: Newchannel\r\nPrivilege: call,all\r\n"),
        "{seen}"
    );
    assert!(
        !seen.contains("NotForViewers"),
        "a user-class event reached a call-only reader"
    );
}

#[tokio::test]
async fn a_session_expires_after_its_timeout_without_requests() {
    let (_pbx, relay) = setup(|config| config.legacy.http_timeout = Duration::from_secs(2)).await;
    let session = login(&relay, "admin", "admin-secret").await;
    let answer = exchange(
        relay.legacy_addr,
        &get("/asterisk/rawman?action=ping", Some(&session)),
    )
    .await;
    assert!(
        answer.contains("Set-Cookie: mansession_id=\"") && answer.contains("Max-Age=2\r\n"),
        "{answer}"
    );
    assert!(body(&answer).starts_with("Response: Success"), "{answer}");
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let late = rawman(&relay, "action=ping", &session).await;
    assert_eq!(
        late,
        "Response: Error\r\nMessage: Permission denied\r\n\r\n"
    );
}

#[tokio::test]
async fn the_panel_listener_serves_the_same_answers() {
    let (_pbx, relay) = setup(|_| {}).await;
    let http = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .expect("client");
    let login = http
        .get(format!(
            "{}/asterisk/mxml?action=login&username=admin&secret=admin-secret",
            relay.base
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(login.headers()["content-type"], "text/xml");
    assert_eq!(login.headers()["pragma"], "SuppressEvents");
    let set_cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    let id = set_cookie
        .strip_prefix("mansession_id=\"")
        .and_then(|c| c.get(..8))
        .expect("a session id");
    assert_eq!(
        login.text().await.expect("body"),
        "<ajax-response>\n<response type='object' id='unknown'><generic response='Success' message='Authentication accepted' /></response>\n</ajax-response>\n"
    );
    let ping = http
        .post(format!("{}/asterisk/rawman", relay.base))
        .header("cookie", format!("mansession_id=\"{id}\""))
        .body("action=ping&actionid=p1")
        .send()
        .await
        .expect("ping")
        .text()
        .await
        .expect("body");
    assert!(
        ping.starts_with("Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: "),
        "{ping}"
    );
    let missing = http
        .get(format!("{}/asterisk/nosuchpage", relay.base))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn bad_input_is_answered_never_panicked_on() {
    let (_pbx, relay) = setup(|_| {}).await;
    let addr = relay.legacy_addr;
    let session = login(&relay, "admin", "admin-secret").await;
    // Asterisk's own answers.
    assert_eq!(
        rawman(&relay, "username=x", &session).await,
        "Response: Error\r\nMessage: Missing action in request\r\n\r\n"
    );
    assert_eq!(
        rawman(&relay, "action=nosuchaction", &session).await,
        "Response: Error\r\nMessage: Invalid/unknown command: nosuchaction. Use Action: ListCommands to show available commands.\r\n\r\n"
    );
    for foreign in ["zzzzzzzz", "12345678", "00000000"] {
        let answer = exchange(addr, &get("/asterisk/rawman?action=ping", Some(foreign))).await;
        assert_eq!(
            body(&answer),
            "Response: Error\r\nMessage: Permission denied\r\n\r\n"
        );
        assert_ne!(cookie(&answer), session);
    }
    // Non-UTF-8 bytes in a value are passed on as bytes.
    let odd = rawman(&relay, "action=ping&actionid=%FF%FE", &session).await;
    assert!(
        odd.starts_with("Response: Success\r\nActionID: \u{FFFD}\u{FFFD}\r\n"),
        "{odd}"
    );
    // Bodies: at the limit, and one past it.
    for (len, status) in [
        (40_959, "200 OK"),
        (40_960, "200 OK"),
        (40_961, "413 Request Entity Too Large"),
    ] {
        let mut form = "action=ping&pad=".to_owned();
        form.push_str(&"a".repeat(len - form.len()));
        let request = format!(
            "POST /asterisk/rawman HTTP/1.1\r\nHost: x\r\nCookie: mansession_id=\"{session}\"\r\nContent-Length: {len}\r\n\r\n{form}"
        );
        let answer = exchange(addr, request.as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{len}: {answer}"
        );
    }
    // Content-Length that is not a length: 400 and the connection closes.
    for length in ["abc", "-1", "5, 6", "99999999999999999999999"] {
        let request = format!(
            "POST /asterisk/rawman HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\naction=ping"
        );
        let answer = exchange(addr, request.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{length}: {answer}"
        );
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        assert!(
            answer.contains("<p>Invalid Content-Length in request!</p>"),
            "{answer}"
        );
    }
    let two =
        b"POST /asterisk/rawman HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert!(
        exchange(addr, two)
            .await
            .starts_with("HTTP/1.1 400 Bad Request\r\n")
    );
    // A request line past Asterisk's 4096-byte buffer, and too many headers.
    let long = format!(
        "GET /asterisk/rawman?action=ping&x={} HTTP/1.1\r\n\r\n",
        "a".repeat(4096)
    );
    let answer = exchange(addr, long.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n")
            && answer.contains("Request line too long"),
        "{answer}"
    );
    let mut many = "GET /asterisk/rawman?action=ping HTTP/1.1\r\n".to_owned();
    for i in 0..101 {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    let answer = exchange(addr, many.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"),
        "{answer}"
    );
    // Garbage instead of HTTP, a method AJAM does not take, and a chunked body.
    assert!(
        exchange(addr, b"\x00\x01\x02 nonsense\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 400 ")
    );
    let put = exchange(addr, b"PUT /asterisk/rawman HTTP/1.1\r\n\r\n").await;
    assert!(put.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{put}");
    let chunked = exchange(addr, b"POST /asterisk/rawman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\naction\r\n0\r\n\r\n").await;
    assert!(
        chunked.starts_with("HTTP/1.1 501 Unimplemented\r\n"),
        "{chunked}"
    );
    // Static files are off unless configured; paths out of the directory never work.
    let answer = exchange(addr, &get("/asterisk/static/../../etc/passwd", None)).await;
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    // After all that, the session still works.
    let ping = rawman(&relay, "action=ping", &session).await;
    assert!(
        ping.starts_with("Response: Success\r\nPing: Pong\r\n"),
        "{ping}"
    );
}

#[tokio::test]
async fn static_files_are_served_with_asterisks_checks() {
    let dir = std::env::temp_dir().join(format!("astpanel-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("private")).expect("dir");
    std::fs::write(dir.join("page.html"), "<p>hi</p>").expect("file");
    std::fs::write(dir.join("app.js"), "x()").expect("file");
    std::fs::write(dir.join("private/secret.txt"), "s").expect("file");
    let (_pbx, relay) = setup({
        let dir = dir.clone();
        move |config| config.legacy.static_dir = Some(dir)
    })
    .await;
    let addr = relay.legacy_addr;
    let page = exchange(addr, &get("/asterisk/static/page.html", None)).await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("\r\nContent-type: text/html\r\nETag: \""),
        "{page}"
    );
    assert!(
        !page.contains("Cache-Control"),
        "static files may be cached"
    );
    assert_eq!(body(&page), "<p>hi</p>");
    let etag = page
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("an ETag")
        .to_owned();
    let again = format!("GET /asterisk/static/page.html HTTP/1.1\r\nIf-None-Match: {etag}\r\n\r\n");
    let cached = exchange(addr, again.as_bytes()).await;
    assert!(
        cached.starts_with("HTTP/1.1 304 Not Modified\r\n"),
        "{cached}"
    );
    let script = exchange(addr, &get("/asterisk/static/app.js", None)).await;
    assert!(
        script.contains("Content-type: application/x-javascript\r\n"),
        "{script}"
    );
    for forbidden in [
        "/asterisk/static/.hidden",
        "/asterisk/static/a/../page.html",
        "/asterisk/static/private/secret.txt",
    ] {
        let answer = exchange(addr, &get(forbidden, None)).await;
        assert!(
            answer.starts_with("HTTP/1.1 403 Access Denied\r\n"),
            "{forbidden}: {answer}"
        );
    }
    let session = login(&relay, "admin", "admin-secret").await;
    let private = exchange(
        addr,
        &get("/asterisk/static/private/secret.txt", Some(&session)),
    )
    .await;
    assert_eq!(
        body(&private),
        "s",
        "a logged-in session may read private files"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_failed_login_takes_a_second_and_keeps_no_session() {
    let (_pbx, relay) = setup(|_| {}).await;
    let started = Instant::now();
    let answer = exchange(
        relay.legacy_addr,
        &get(
            "/asterisk/rawman?action=login&username=admin&secret=wrong",
            None,
        ),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        body(&answer),
        "Response: Error\r\nMessage: Authentication failed\r\n\r\n"
    );
    let id = cookie(&answer);
    assert_eq!(
        rawman(&relay, "action=ping", &id).await,
        "Response: Error\r\nMessage: Permission denied\r\n\r\n"
    );
}

/// The events of one WaitEvent answer's body, each as its text without the blank line.
fn waited_events(body: &str) -> Vec<String> {
    body.split("\r\n\r\n")
        .filter(|block| block.starts_with("Event: ") && *block != "Event: WaitEventComplete")
        .map(str::to_owned)
        .collect()
}

/// A side AMI session as admin with its events (what Asterisk sends admin's own
/// connection), logged in when this returns.
async fn side_session(
    pbx: &Pbx,
) -> (
    relay::ami::SessionHandle,
    tokio::sync::mpsc::Receiver<relay::ami::SessionEvent>,
) {
    let (session, mut events) = relay::ami::spawn_session(relay::ami::AmiConfig::new(
        pbx.addr.to_string(),
        "admin",
        "admin-secret",
    ));
    loop {
        match tokio::time::timeout(PATIENCE, events.recv()).await {
            Ok(Some(relay::ami::SessionEvent::Connected { .. })) => return (session, events),
            Ok(Some(_)) => {}
            other => panic!("the side session never logged in: {:?}", other.is_ok()),
        }
    }
}

/// Issue 22, item 5: an AJAM admin's WaitEvent after an Originate holds what Asterisk
/// sends admin's own connection, `CEL`, `Cdr`, `VarSet` and `Newexten` included,
/// byte for byte and in order, although the model's session asks Asterisk to filter
/// them.
#[tokio::test]
async fn an_admins_wait_event_after_an_originate_holds_every_event_asterisk_sends_it() {
    let (pbx, relay) = setup(|_| {}).await;
    let (side, mut side_events) = side_session(&pbx).await;
    let session = login(&relay, "admin", "admin-secret").await;
    drain(&relay, &session, &side).await;
    // Both streams from here on: a marker, the call, and a marker once it is over.
    user_event(&side, "Start", 0).await;
    let originate = rawman(
        &relay,
        "action=originate&channel=Local/100@test&context=test&exten=200&priority=1\
         &callerid=%22HTTP%20Caller%22%20%3C6001%3E&variable=DURATION%3D1&async=true\
         &actionid=http-orig-1",
        &session,
    )
    .await;
    assert!(
        originate.contains("Message: Originate successfully queued"),
        "{originate}"
    );
    let mut direct = Vec::new();
    let mut recording = false;
    let mut hangups = 0;
    let deadline = Instant::now() + PATIENCE;
    while hangups < 4 {
        assert!(Instant::now() < deadline, "the call never ended");
        let Ok(Some(event)) = tokio::time::timeout(PATIENCE, side_events.recv()).await else {
            panic!("the side session ended");
        };
        if let relay::ami::SessionEvent::Event(message) = event {
            let text = String::from_utf8_lossy(&message.to_bytes()).into_owned();
            recording |= text.contains("UserEvent: Start\r\n");
            if recording {
                hangups += usize::from(text.starts_with("Event: Hangup\r\n"));
                direct.push(text.trim_end_matches("\r\n").to_owned());
            }
        }
    }
    // What the hangups set off (the Cdr records) comes before this marker.
    tokio::time::sleep(Duration::from_millis(500)).await;
    user_event(&side, "End", 0).await;
    loop {
        let Ok(Some(event)) = tokio::time::timeout(PATIENCE, side_events.recv()).await else {
            panic!("the side session ended");
        };
        if let relay::ami::SessionEvent::Event(message) = event {
            let text = String::from_utf8_lossy(&message.to_bytes()).into_owned();
            let end = text.contains("UserEvent: End\r\n");
            direct.push(text.trim_end_matches("\r\n").to_owned());
            if end {
                break;
            }
        }
    }
    let mut waited = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while !waited
        .last()
        .is_some_and(|e: &String| e.contains("UserEvent: End\r\n"))
    {
        assert!(Instant::now() < deadline, "the end marker never came");
        let answer = rawman(&relay, "action=waitevent&timeout=1", &session).await;
        waited.extend(waited_events(&answer));
    }
    let start = waited
        .iter()
        .position(|e| e.contains("UserEvent: Start\r\n"))
        .expect("the start marker");
    let waited = &waited[start..];
    for kind in ["CEL", "Cdr", "VarSet", "Newexten", "OriginateResponse"] {
        let head = format!("Event: {kind}\r\n");
        assert!(
            waited.iter().any(|e| e.starts_with(&head)),
            "no {kind} in the WaitEvent answers"
        );
    }
    assert_eq!(
        waited.len(),
        direct.len(),
        "as many events as Asterisk sent admin's own connection"
    );
    for (n, (got, sent)) in waited.iter().zip(&direct).enumerate() {
        assert_eq!(got, sent, "event {n}");
    }
}

/// Issue 22, item 5: nobody reading raw events costs Asterisk no second session; the
/// first AJAM login opens it, and it logs off a linger after the last one left.
#[tokio::test]
async fn the_raw_event_session_exists_only_while_someone_reads() {
    let (pbx, relay) = setup(|_| {}).await;
    let token = relay
        .login("pbx", "viewer", "viewer-secret")
        .await
        .expect("panel login");
    let mut browser = relay.socket(&token).await;
    browser.next_of("snapshot").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pbx.stats.logins("admin"), 1, "the service session only");
    assert_eq!(pbx.stats.logged_in(), 2, "the service and viewer sessions");

    let session = login(&relay, "viewer", "viewer-secret").await;
    assert_eq!(
        pbx.stats.logins("admin"),
        2,
        "the first raw reader opened the raw event session"
    );
    let second = login(&relay, "viewer", "viewer-secret").await;
    assert_eq!(pbx.stats.logins("admin"), 2, "one raw session per server");
    for cookie in [&session, &second] {
        rawman(&relay, "action=logoff", cookie).await;
    }
    // The linger is 300 ms in these tests; the panel keeps the viewer's session.
    let deadline = Instant::now() + PATIENCE;
    while pbx.stats.logged_in() > 2 {
        assert!(
            Instant::now() < deadline,
            "the raw session stayed logged in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pbx.stats.logins("admin"), 2);
}
