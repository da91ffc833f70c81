//! The AMI session against loopback servers that answer like the recorded Asterisk 22.

mod ami_support;

use std::time::Duration;

use ami_support::*;
use relay::ami::{
    AmiError, AuthMethod, SessionEvent, SlowConsumer, connect_session, spawn_session,
};
use shared::ami::Message;

#[tokio::test]
async fn plain_login_then_events_and_actions() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        let login = peer.accept_login().await;
        assert_eq!(login.get_str("Username").as_deref(), Some("admin"));
        assert_eq!(login.get_str("Secret").as_deref(), Some("admin-secret"));
        assert_eq!(login.get_str("Events").as_deref(), Some("on"));
        peer.answer_everything().await;
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    assert_eq!(connected(&mut events).await, "11.0.0");
    match next_event(&mut events).await {
        SessionEvent::Event(event) => assert_eq!(event.event_name(), Some(&b"FullyBooted"[..])),
        other => panic!("expected FullyBooted, got {other:?}"),
    }
    let result = ping(&session).await.expect("ping");
    assert_eq!(result.response.get_str("Ping").as_deref(), Some("Pong"));
    assert!(
        result.response.action_id().is_some(),
        "an ActionID was added"
    );
    assert!(result.events.is_empty());
}

#[tokio::test]
async fn md5_login_sends_the_key_asterisk_expects() {
    // Challenge and key recorded in ami-session.txt, connection 2.
    let (addr, _) = fake_ami(|_, mut peer| async move {
        let challenge = peer.action().await.expect("Challenge");
        assert_eq!(challenge.get_str("Action").as_deref(), Some("Challenge"));
        assert_eq!(challenge.get_str("AuthType").as_deref(), Some("MD5"));
        peer.reply(&challenge, "Success", "Challenge: 656612008\r\n")
            .await;
        let login = peer.action().await.expect("Login");
        assert_eq!(
            login.get_str("Key").as_deref(),
            Some("9cbf4bec0d6a52f1e95fe434f936936b")
        );
        assert_eq!(
            login.get("Secret"),
            None,
            "the secret must not cross the wire"
        );
        peer.reply(&login, "Success", "Message: Authentication accepted\r\n")
            .await;
        peer.answer_everything().await;
    })
    .await;
    let mut config = test_config(&addr);
    config.auth = AuthMethod::Md5;
    let (_session, mut events) = spawn_session(config);
    assert_eq!(connected(&mut events).await, "11.0.0");
}

#[tokio::test]
async fn wrong_password_is_reported_and_retried() {
    // As in ami-badlogin.txt: an Error response, then the server hangs up.
    let (addr, mut accepted) = fake_ami(|_, mut peer| async move {
        let login = peer.action().await.expect("Login");
        peer.replay(&login, "ami-badlogin.txt", "bad-3").await;
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    let reason = disconnected(&mut events).await;
    assert_eq!(reason, "AMI login refused: Authentication failed");
    // Actions get the refusal itself, typed, with Asterisk's text.
    let refused = ping(&session).await;
    assert!(
        matches!(&refused, Err(AmiError::AuthenticationFailed { message }) if message == "Authentication failed"),
        "{refused:?}"
    );
    for n in 0..2 {
        let accept = tokio::time::timeout(PATIENCE, accepted.recv()).await;
        assert_eq!(accept.ok().flatten(), Some(n), "connection {n} (a retry)");
    }
}

#[tokio::test]
async fn a_persons_login_fails_fast_with_asterisks_words_and_is_not_retried() {
    let (addr, mut accepted) = fake_ami(|_, mut peer| async move {
        let login = peer.action().await.expect("Login");
        peer.replay(&login, "ami-badlogin.txt", "bad-3").await;
    })
    .await;
    let refused = connect_session(test_config(&addr)).await;
    assert!(
        matches!(&refused, Err(AmiError::AuthenticationFailed { message }) if message == "Authentication failed"),
        "{:?}",
        refused.err()
    );
    assert_eq!(accepted.recv().await, Some(0));
    let retry = tokio::time::timeout(Duration::from_millis(500), accepted.recv()).await;
    assert!(retry.is_err(), "a refused person's login was retried");
}

#[tokio::test]
async fn a_session_nobody_uses_any_more_logs_off() {
    let (saw_logoff, mut logoff) = tokio::sync::mpsc::channel(1);
    let (addr, _) = fake_ami(move |_, mut peer| {
        let saw_logoff = saw_logoff.clone();
        async move {
            peer.accept_login().await;
            while let Some(action) = peer.action().await {
                if action.get("Action") == Some(b"Logoff".as_slice()) {
                    let _ = saw_logoff.send(()).await;
                }
            }
        }
    })
    .await;
    let (session, mut events) = connect_session(test_config(&addr)).await.expect("login");
    assert!(matches!(
        next_event(&mut events).await,
        SessionEvent::Connected { .. }
    ));
    drop((session, events));
    let said = tokio::time::timeout(PATIENCE, logoff.recv()).await;
    assert_eq!(said, Ok(Some(())), "no Logoff before closing");
}

/// Answers the actions with the responses Asterisk 22 recorded, by action name.
async fn recorded_answers(mut peer: Peer) {
    peer.accept_login().await;
    while let Some(action) = peer.action().await {
        let name = action
            .get_str("Action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match name.as_str() {
            // The viewer user (write=<none>) may not run CoreStatus.
            "corestatus" => peer.replay(&action, "ami-permissions.txt", "v-1").await,
            "nosuchaction" => peer.replay(&action, "ami-session.txt", "bad-30").await,
            "hangup" => peer.replay(&action, "ami-session.txt", "hangup-29").await,
            _ => {
                peer.write(b"Response: Error\r\nMessage: unexpected\r\n\r\n")
                    .await
            }
        }
    }
}

#[tokio::test]
async fn error_responses_become_typed_errors_with_asterisks_text() {
    let (addr, _) = fake_ami(|_, peer| recorded_answers(peer)).await;
    let (session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;

    let denied = session
        .send(Message::new().with("Action", "CoreStatus"))
        .await;
    assert!(
        matches!(&denied, Err(AmiError::PermissionDenied { message }) if message == "Permission denied"),
        "{denied:?}"
    );
    let unknown = session
        .send(Message::new().with("Action", "NoSuchAction"))
        .await;
    assert!(
        matches!(&unknown, Err(AmiError::UnknownAction { message })
            if message == "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."),
        "{unknown:?}"
    );
    let failed = session
        .send(
            Message::new()
                .with("Action", "Hangup")
                .with("Channel", "Local/nosuch"),
        )
        .await;
    match failed {
        Err(AmiError::ActionFailed { message, response }) => {
            assert_eq!(message, "No such channel");
            assert_eq!(response.get_str("Response").as_deref(), Some("Error"));
        }
        other => panic!("expected ActionFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn event_lists_are_collected_and_other_events_pass_by() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        let action = peer.action().await.expect("QueueStatus");
        let id = String::from_utf8_lossy(action.action_id().expect("an ActionID")).into_owned();
        peer.reply(&action, "Success", "EventList: start\r\nMessage: Queue status will follow\r\n").await;
        let list = format!(
            "Event: QueueParams\r\nQueue: support\r\nActionID: {id}\r\n\r\n\
             Event: Newchannel\r\nChannel: Local/100@test-1;1\r\n\r\n\
             Event: QueueMember\r\nQueue: support\r\nActionID: {id}\r\n\r\n\
             Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"
        );
        peer.write(list.as_bytes()).await;
        peer.answer_everything().await;
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;
    let result = session
        .send(Message::new().with("Action", "QueueStatus"))
        .await
        .expect("list");
    let names: Vec<_> = result
        .events
        .iter()
        .filter_map(|e| e.get_str("Event"))
        .collect();
    assert_eq!(names, ["QueueParams", "QueueMember", "QueueStatusComplete"]);
    let mut passed_by = Vec::new();
    while let Ok(SessionEvent::Event(event)) = events.try_recv() {
        passed_by.push(event.get_str("Event").unwrap_or_default().into_owned());
    }
    assert_eq!(passed_by, ["FullyBooted", "Newchannel"]);
}

#[tokio::test]
async fn a_list_past_the_limit_fails_typed_and_its_rest_is_dropped() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        let action = peer.action().await.expect("CoreShowChannels");
        let id = String::from_utf8_lossy(action.action_id().expect("an ActionID")).into_owned();
        peer.reply(
            &action,
            "Success",
            "EventList: start\r\nMessage: Channels will follow\r\n",
        )
        .await;
        let mut list = String::new();
        for n in 0..5 {
            list.push_str(&format!(
                "Event: CoreShowChannel\r\nActionID: {id}\r\nN: {n}\r\n\r\n"
            ));
        }
        list.push_str(&format!(
            "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n\
             Event: After\r\n\r\n"
        ));
        peer.write(list.as_bytes()).await;
        peer.answer_everything().await;
    })
    .await;
    let mut config = test_config(&addr);
    config.max_list_items = 2;
    let (session, mut events) = spawn_session(config);
    connected(&mut events).await;
    let refused = session
        .send(Message::new().with("Action", "CoreShowChannels"))
        .await;
    assert!(
        matches!(refused, Err(AmiError::ListTooLong(2))),
        "{refused:?}"
    );
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("After") {
        if let SessionEvent::Event(event) = next_event(&mut events).await {
            names.push(event.get_str("Event").unwrap_or_default().into_owned());
        }
    }
    assert_eq!(names, ["FullyBooted", "After"], "no list item leaks out");
    assert!(ping(&session).await.is_ok());
}

#[tokio::test]
async fn async_originate_waits_for_its_own_originate_response() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        let action = peer.action().await.expect("Originate");
        let id = String::from_utf8_lossy(action.action_id().expect("an ActionID")).into_owned();
        peer.reply(&action, "Success", "Message: Originate successfully queued\r\n").await;
        // Asterisk broadcasts every OriginateResponse, other sessions' ones included.
        let events = format!(
            "Event: OriginateResponse\r\nActionID: someone-else\r\nResponse: Success\r\n\r\n\
             Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {id}\r\nResponse: Failure\r\n\
             Channel: Local/100@nosuch\r\nReason: 0\r\nUniqueid: <unknown>\r\n\r\n"
        );
        peer.write(events.as_bytes()).await;
        peer.answer_everything().await;
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;
    let originate = Message::new()
        .with("Action", "Originate")
        .with("Channel", "Local/100@nosuch")
        .with("Async", "true");
    let result = session.send(originate).await.expect("originate");
    assert_eq!(
        result.response.get_str("Message").as_deref(),
        Some("Originate successfully queued")
    );
    assert_eq!(result.events.len(), 1);
    assert_eq!(
        result.events[0].get_str("Uniqueid").as_deref(),
        Some("<unknown>")
    );
    assert!(
        matches!(next_event(&mut events).await, SessionEvent::Event(e) if e.event_name() == Some(b"FullyBooted"))
    );
    let foreign = next_event(&mut events).await;
    assert!(
        matches!(&foreign, SessionEvent::Event(e) if e.action_id() == Some(b"someone-else")),
        "{foreign:?}"
    );
}

#[tokio::test]
async fn a_response_without_action_id_goes_to_the_oldest_waiting_action() {
    // Asterisk answers a line it could not parse without an ActionID (ami-session-2.txt,
    // `Failed to parse message: line too long`).
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        let first = peer.action().await.expect("first");
        let second = peer.action().await.expect("second");
        peer.write(b"Response: Error\r\nMessage: Failed to parse message: line too long\r\n\r\n")
            .await;
        peer.reply(&second, "Success", "Ping: Pong\r\n").await;
        drop(first);
        peer.answer_everything().await;
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;
    let first = session.send(Message::new().with("Action", "Setvar"));
    let second = async {
        // Queue the second action strictly after the first.
        tokio::task::yield_now().await;
        ping(&session).await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(
        matches!(&first, Err(AmiError::ActionFailed { message, .. }) if message.contains("line too long")),
        "{first:?}"
    );
    assert!(second.is_ok(), "{second:?}");
}

#[tokio::test]
async fn an_unanswered_action_times_out_and_the_session_goes_on() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        let _ignored = peer.action().await.expect("ignored action");
        peer.answer_everything().await;
    })
    .await;
    let mut config = test_config(&addr);
    config.action_timeout = Duration::from_millis(300);
    let (session, mut events) = spawn_session(config);
    // The timeout bounds the login too: a slow machine may need a few tries, which
    // `connected` waits out.
    connected(&mut events).await;
    let lost = ping(&session).await;
    assert!(
        matches!(lost, Err(AmiError::Timeout(t)) if t == Duration::from_millis(300)),
        "{lost:?}"
    );
    // The session goes on. Only the timing of a loaded machine can make an answered
    // Ping late, so only a timeout is retried; any other error fails the test.
    let answered = tokio::time::timeout(PATIENCE, async {
        loop {
            match ping(&session).await {
                Err(AmiError::Timeout(_)) => continue,
                other => return other,
            }
        }
    })
    .await;
    assert!(matches!(answered, Ok(Ok(_))), "{answered:?}");
}

#[tokio::test]
async fn a_server_that_stops_reading_is_dropped_and_reconnected() {
    let (addr, mut accepted) = fake_ami(|n, mut peer| async move {
        peer.accept_login().await;
        if n == 0 {
            // Keep the socket open but never read again, so the client's writes fill
            // the socket buffers and then block.
            tokio::time::sleep(PATIENCE).await;
            drop(peer);
        } else {
            peer.answer_everything().await;
        }
    })
    .await;
    let mut config = test_config(&addr);
    config.write_timeout = Duration::from_millis(300);
    let (session, mut events) = spawn_session(config);
    connected(&mut events).await;
    // Far more than loopback's send and receive buffers hold (a few MiB each).
    let big = Message::new()
        .with("Action", "UserEvent")
        .with("UserEvent", "Big")
        .with("Data", vec![b'x'; 32 << 20]);
    let lost = session.send(big).await;
    assert!(matches!(lost, Err(AmiError::Disconnected)), "{lost:?}");
    assert_eq!(
        disconnected(&mut events).await,
        "AMI write timed out after 300ms: the server stopped reading"
    );
    connected(&mut events).await;
    assert!(ping(&session).await.is_ok());
    assert_eq!(accepted.recv().await, Some(0));
    assert_eq!(accepted.recv().await, Some(1));
}

#[tokio::test]
async fn a_silent_server_is_declared_dead_and_reconnected() {
    let (addr, mut accepted) = fake_ami(|n, mut peer| async move {
        peer.accept_login().await;
        if n == 0 {
            // Read (and ignore) the Pings without ever answering.
            while peer.action().await.is_some() {}
        } else {
            peer.answer_everything().await;
        }
    })
    .await;
    let mut config = test_config(&addr);
    // Short timers only change when the link is declared dead, never whether: the
    // first server never answers, and nothing below waits on a deadline of its own.
    config.ping_interval = Duration::from_millis(50);
    config.ping_timeout = Duration::from_millis(150);
    let (_session, mut events) = spawn_session(config);
    connected(&mut events).await;
    let reason = disconnected(&mut events).await;
    assert!(reason.contains("dead"), "{reason}");
    connected(&mut events).await;
    assert_eq!(accepted.recv().await, Some(0));
    assert_eq!(accepted.recv().await, Some(1));
}

#[tokio::test]
async fn a_closed_connection_fails_waiting_actions_and_reconnects() {
    let (addr, _) = fake_ami(|n, mut peer| async move {
        peer.accept_login().await;
        if n == 0 {
            // Take the action, then hang up without answering.
            let _ = peer.action().await;
        } else {
            peer.answer_everything().await;
        }
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;
    let lost = ping(&session).await;
    assert!(matches!(lost, Err(AmiError::Disconnected)), "{lost:?}");
    assert_eq!(
        disconnected(&mut events).await,
        "the AMI server closed the connection"
    );
    connected(&mut events).await;
    assert!(ping(&session).await.is_ok());
}

#[tokio::test]
async fn a_malformed_message_is_skipped_and_the_stream_goes_on() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        peer.write(b"Event: Before\r\n\r\nthis line has no colon\r\nEvent: Broken\r\n\r\nEvent: After\r\n\r\n").await;
        peer.answer_everything().await;
    })
    .await;
    let (_session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;
    let mut names = Vec::new();
    while names.len() < 3 {
        if let SessionEvent::Event(event) = next_event(&mut events).await {
            names.push(event.get_str("Event").unwrap_or_default().into_owned());
        }
    }
    assert_eq!(names, ["FullyBooted", "Before", "After"]);
}

/// A server that, after login, sends `count` events and then answers actions.
async fn burst(count: usize, mut peer: Peer) {
    peer.accept_login().await;
    let mut out = Vec::new();
    for n in 0..count {
        out.extend_from_slice(format!("Event: Burst\r\nN: {n}\r\n\r\n").as_bytes());
    }
    peer.write(&out).await;
    peer.answer_everything().await;
}

/// Collects the numbers of the next `want` `Event: Burst` events.
async fn burst_numbers(
    events: &mut tokio::sync::mpsc::Receiver<SessionEvent>,
    want: usize,
) -> Vec<usize> {
    let mut numbers = Vec::new();
    while numbers.len() < want {
        if let SessionEvent::Event(event) = next_event(events).await
            && let Some(n) = event.get_str("N")
        {
            numbers.push(n.parse().expect("a number"));
        }
    }
    numbers
}

#[tokio::test]
async fn slow_consumer_wait_loses_nothing() {
    let (addr, _) = fake_ami(|_, peer| burst(200, peer)).await;
    let mut config = test_config(&addr);
    config.event_buffer = 2;
    let (session, mut events) = spawn_session(config);
    connected(&mut events).await;
    let numbers = burst_numbers(&mut events, 200).await;
    assert_eq!(numbers, (0..200).collect::<Vec<_>>());
    assert_eq!(session.dropped_events(), 0);
}

#[tokio::test]
async fn slow_consumer_drop_newest_counts_what_it_drops() {
    let (addr, _) = fake_ami(|_, peer| burst(50, peer)).await;
    let mut config = test_config(&addr);
    config.event_buffer = 4;
    config.slow_consumer = SlowConsumer::DropNewest;
    let (session, mut events) = spawn_session(config);
    // Nobody reads: the answer to this Ping (queued until login) comes after all 50
    // events were handled.
    ping(&session).await.expect("ping");
    // Connected + FullyBooted + 2 bursts fill the 4 slots; the other 48 are dropped.
    assert_eq!(session.dropped_events(), 48);
    assert!(matches!(
        next_event(&mut events).await,
        SessionEvent::Connected { .. }
    ));
    assert!(
        matches!(next_event(&mut events).await, SessionEvent::Event(e) if e.event_name() == Some(b"FullyBooted"))
    );
    assert_eq!(burst_numbers(&mut events, 2).await, [0, 1]);
}

#[tokio::test]
async fn slow_consumer_resync_reconnects_and_says_so() {
    let (addr, _) = fake_ami(|_, peer| burst(50, peer)).await;
    let mut config = test_config(&addr);
    config.event_buffer = 4;
    config.slow_consumer = SlowConsumer::Resync;
    let (_session, mut events) = spawn_session(config);
    assert!(matches!(
        next_event(&mut events).await,
        SessionEvent::Connected { .. }
    ));
    assert!(matches!(
        next_event(&mut events).await,
        SessionEvent::Event(_)
    ));
    assert_eq!(burst_numbers(&mut events, 2).await, [0, 1]);
    let reason = disconnected(&mut events).await;
    assert_eq!(reason, "event consumer too slow: 4 events buffered");
    connected(&mut events).await;
}

#[tokio::test]
async fn actions_between_connections_fail_fast() {
    // Nothing listens on this port once the listener is dropped.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let mut config = test_config(&addr);
    config.backoff_initial = Duration::from_secs(5);
    let (session, mut events) = spawn_session(config);
    disconnected(&mut events).await;
    let refused = ping(&session).await;
    assert!(
        matches!(refused, Err(AmiError::NotConnected)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_ami_is_reported_as_such() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let (_session, mut events) = spawn_session(test_config(&addr));
    let reason = disconnected(&mut events).await;
    assert_eq!(
        reason,
        "not an AMI server: first line was \"HTTP/1.1 400 Bad Request\""
    );
}
