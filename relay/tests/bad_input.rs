//! Property tests for the input the relay reads itself: AJAM forms and cookies, names
//! under `static/`, the panel's token headers, config files, network rules and
//! `X-Forwarded-For`. Each gives a value or a clear error, never a panic.
//!
//! Each property runs proptest's default 256 cases (`PROPTEST_CASES` changes that).

use std::net::IpAddr;
use std::path::{Component, Path};

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use relay::ajam::http1::{Parsed, parse_head};
use relay::ajam::{Method, cookie_id, is_plain_static_name, parse_cookies, parse_form};
use relay::config::{ConfigError, from_toml};
use relay::net::access::{Gate, GateConfig, NetworkRule, RuleError, Sense, parse_network};

const EXAMPLE: &str = include_str!("../../astpanel.example.toml");

/// Bytes of a form: names and values with the characters that mean something there.
fn form_part() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9]{0,6}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

/// What `form_urlencoded` would send for these bytes: every byte percent-encoded.
fn percent_encoded(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
        // IPv4-mapped IPv6, as a dual-stack socket shows an IPv4 client.
        any::<[u8; 4]>().prop_map(|v4| IpAddr::from(std::net::Ipv4Addr::from(v4).to_ipv6_mapped())),
    ]
}

/// One way an operator may get the example config wrong.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertChar(usize, char),
    DeleteChar(usize),
    /// Replaces the value after the `=` of a line with another kind of value.
    ReplaceValue(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Mutation::InsertChar(at, c)),
        (
            any::<usize>(),
            proptest::sample::select(&['"', '=', '[', ']', '\n', '#', ','][..])
        )
            .prop_map(|(at, c)| Mutation::InsertChar(at, c)),
        any::<usize>().prop_map(Mutation::DeleteChar),
        (
            any::<usize>(),
            proptest::sample::select(
                &[
                    "1",
                    "-1",
                    "true",
                    "\"x\"",
                    "[]",
                    "{}",
                    "99999999999999999999",
                    "1.5",
                    "\"\"",
                    "\"::1\""
                ][..]
            )
        )
            .prop_map(|(line, value)| Mutation::ReplaceValue(line, value)),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let char_at = |at: usize| {
        text.char_indices()
            .map(|(i, _)| i)
            .nth(at % text.chars().count())
    };
    match *mutation {
        Mutation::DeleteLine(n) => {
            lines.remove(n % lines.len());
        }
        Mutation::DuplicateLine(n) => {
            let line = lines[n % lines.len()].clone();
            lines.insert(n % lines.len(), line);
        }
        Mutation::ReplaceValue(n, value) => {
            let count = lines.len();
            let line = &mut lines[n % count];
            if let Some((key, _)) = line.split_once('=') {
                *line = format!("{key}= {value}");
            }
        }
        Mutation::InsertChar(at, c) => {
            let mut text = text.to_owned();
            text.insert(char_at(at).unwrap_or(0), c);
            return text;
        }
        Mutation::DeleteChar(at) => {
            let mut text = text.to_owned();
            if let Some(i) = char_at(at) {
                text.remove(i);
            }
            return text;
        }
    }
    lines.join("\n")
}

/// A request head an AJAM client could send: a method, a target, some headers.
fn request_head() -> impl Strategy<Value = (String, usize)> {
    let method = prop::sample::select(vec!["GET", "POST", "HEAD"]);
    let target = "/asterisk/(rawman|manager|mxml)(\\?[a-z]{1,8}=[a-zA-Z0-9%]{0,12}){0,3}";
    let header = ("X-[A-Za-z]{1,10}", "[ -~]{0,40}");
    (
        method,
        target,
        proptest::collection::vec(header, 0..6),
        0usize..100,
    )
        .prop_map(|(method, target, headers, body_len)| {
            let mut head = format!("{method} {target} HTTP/1.1\r\nContent-Length: {body_len}\r\n");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {}\r\n", value.trim()));
            }
            head.push_str("\r\n");
            (head, body_len)
        })
}

proptest! {
    #[test]
    fn any_request_head_bytes_parse_without_a_panic(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Parsed::Head(head) = parse_head(&input, "Asterisk") {
            prop_assert!(head.head_len <= input.len());
        }
    }

    #[test]
    fn a_head_is_partial_until_its_blank_line_then_whole_at_any_split(
        (head, body_len) in request_head(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let bytes = head.as_bytes();
        let at = cut.index(bytes.len());
        prop_assert!(matches!(parse_head(&bytes[..at], "Asterisk"), Parsed::Partial), "cut at {}", at);
        let mut with_body = bytes.to_vec();
        with_body.extend(std::iter::repeat_n(b'x', body_len));
        let Parsed::Head(parsed) = parse_head(&with_body, "Asterisk") else {
            return Err(TestCaseError::fail(format!("not a head: {head:?}")));
        };
        prop_assert_eq!(parsed.head_len, bytes.len());
        prop_assert_eq!(parsed.body_len, body_len);
        prop_assert!(parsed.path.starts_with("/asterisk/"));
        prop_assert!(matches!(parsed.method, Method::Get | Method::Post | Method::Head));
    }

    #[test]
    fn any_form_bytes_parse_without_a_panic(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let pairs = parse_form(&input);
        prop_assert!(pairs.iter().all(|(name, _)| !name.is_empty()));
        prop_assert!(pairs.len() <= input.split(|&b| b == b'&').count());
    }

    #[test]
    fn a_form_gives_back_its_pairs_in_order_repeats_kept(
        pairs in proptest::collection::vec((form_part().prop_filter("named", |n| !n.is_empty()), form_part()), 0..8),
        repeat in any::<proptest::sample::Index>(),
    ) {
        let mut pairs = pairs;
        // A repeated key (`Variable` is repeated on purpose by AJAM clients).
        if let Some(pair) = pairs.get(repeat.index(pairs.len().max(1))).cloned() {
            pairs.push(pair);
        }
        let query = pairs
            .iter()
            .map(|(name, value)| format!("{}={}", percent_encoded(name), percent_encoded(value)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(parse_form(query.as_bytes()), pairs);
    }

    #[test]
    fn any_cookie_header_parses_without_a_panic_and_keeps_repeats(
        header in any::<String>(),
        names in proptest::collection::vec("[a-z_]{1,6}", 1..6),
    ) {
        for (name, value) in parse_cookies(&header) {
            prop_assert!(!name.is_empty() && !value.is_empty());
        }
        prop_assert_ne!(cookie_id(Some(&header)), Some(0));
        // Every cookie is kept, repeats too, last first as Asterisk lists them.
        let mut repeated = names.clone();
        repeated.push(names[0].clone());
        let header: String = repeated
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{name}=\"{i}\""))
            .collect::<Vec<_>>()
            .join("; ");
        let expected: Vec<(String, String)> = repeated
            .iter()
            .enumerate()
            .rev()
            .map(|(i, name)| (name.clone(), i.to_string()))
            .collect();
        prop_assert_eq!(parse_cookies(&header), expected);
    }

    #[test]
    fn a_static_name_that_passes_stays_inside_the_directory(
        name in prop_oneof![any::<String>(), "[a-z./~]{0,12}", "([a-z]{1,3}|\\.\\.|\\.|/){0,6}"],
    ) {
        if is_plain_static_name(&name) {
            let path = Path::new("/srv/static").join(&name);
            prop_assert!(path.starts_with("/srv/static"), "{:?}", path);
            prop_assert!(path.components().all(|c| c != Component::ParentDir), "{:?}", path);
        }
    }

    #[test]
    fn any_token_header_is_read_without_a_panic(value in proptest::collection::vec(any::<u8>(), 0..80)) {
        let Ok(value) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, value.clone());
        prop_assert!(relay::web::api::token_of(&headers).is_none_or(|(_, from_cookie)| from_cookie));
        headers.insert(AUTHORIZATION, value);
        let _ = relay::web::api::token_of(&headers);
    }

    #[test]
    fn a_mutated_example_config_loads_or_names_the_line(
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let text = mutations.iter().fold(EXAMPLE.to_owned(), |text, m| mutate(&text, m));
        match from_toml(Path::new("astpanel.toml"), &text, &|_| None) {
            Ok(_) => {}
            Err(error @ (ConfigError::Syntax { .. } | ConfigError::Invalid { .. })) => {
                let message = error.to_string();
                prop_assert!(message.contains("line"), "{}", message);
            }
            // The one error about the whole file: every [[server]] is gone.
            Err(ConfigError::NoServer { .. }) => {}
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn any_rule_text_parses_or_says_what_is_wrong(
        text in prop_oneof![
            any::<String>(),
            "(permit|deny|allow)[ \t]{0,2}[0-9a-f.:/]{0,20}",
        ],
    ) {
        match text.parse::<NetworkRule>() {
            Ok(rule) => {
                let sense = match rule.sense { Sense::Permit => "permit", Sense::Deny => "deny" };
                prop_assert!(text.trim_start().starts_with(sense), "{:?}", text);
                // The network it names is the one it read.
                let network = text.trim().split_once(char::is_whitespace).map(|(_, n)| n.trim());
                prop_assert_eq!(network.and_then(|n| parse_network(n).ok()), Some(rule.network));
            }
            // The error quotes what it could not read.
            Err(RuleError::Shape(quoted)) => prop_assert_eq!(quoted, text),
            Err(RuleError::Network(quoted)) => prop_assert!(text.contains(&quoted), "{:?}", quoted),
        }
    }

    #[test]
    fn the_client_address_is_the_peer_or_a_forwarded_one(
        peer in address(),
        proxies in proptest::collection::vec("(10\\.0\\.0\\.0/8|127\\.0\\.0\\.1|::1/128|0\\.0\\.0\\.0/0)", 0..3),
        forwarded in proptest::collection::vec(
            prop_oneof![address().prop_map(|a| a.to_string()), "[0-9a-f.:, ]{0,20}", any::<String>()],
            0..4,
        ),
    ) {
        let gate = Gate::new(GateConfig {
            trusted_proxies: proxies.iter().filter_map(|p| parse_network(p).ok()).collect(),
            ..GateConfig::default()
        });
        let mut headers = HeaderMap::new();
        for entry in &forwarded {
            if let Ok(value) = HeaderValue::from_str(entry) {
                headers.append("x-forwarded-for", value);
            }
        }
        let client = gate.client_address(peer, &headers);
        let canonical = |a: IpAddr| match a {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
            v4 => v4,
        };
        let named = forwarded
            .iter()
            .flat_map(|entry| entry.split(','))
            .filter_map(|e| e.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .any(|a| a == client);
        prop_assert!(client == canonical(peer) || named, "{} from {} via {:?}", client, peer, forwarded);
    }
}
