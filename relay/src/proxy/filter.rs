//! The `Filter` action's rules, kept per downstream client and applied inside the
//! relay (never sent upstream, where they would narrow the shared session for
//! everyone). Parsed as Asterisk 22's `manager_add_filter` reads `Filter:` and
//! `MatchCriteria:`, with its answer texts (`ami-session-2.txt`, connection 2).

use regex::{Regex, RegexBuilder};
use shared::ami::Message;

/// Why a filter was not added, in Asterisk's words.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The pattern is not a regular expression.
    #[error("Filter did not compile.  Check the syntax of the filter given.")]
    Compile,
    /// `MatchCriteria` is malformed, or a pattern is missing.
    #[error("Filter was formatted incorrectly.  Check the syntax of the filter given.")]
    Format,
}

/// How a rule compares its pattern (`method(...)`).
#[derive(Clone, Debug)]
enum Method {
    /// The default: a regular expression anywhere in the text, `.` matching line ends
    /// (POSIX `regexec` without `REG_NEWLINE`).
    Regex(Regex),
    Exact(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    /// Anything: only `name(...)` and `header(...)` decide.
    Any,
}

/// One rule: include (only matching events pass) or exclude (matching events do not).
#[derive(Clone, Debug)]
pub struct Filter {
    exclude: bool,
    method: Method,
    /// Only events of this name (`name(...)`).
    event: Option<String>,
    /// Match this header's value instead of the whole event (`header(...)`).
    header: Option<String>,
}

impl Filter {
    /// A `Filter:` value and its optional `MatchCriteria:`; a leading `!` excludes,
    /// `action(...)` says it outright.
    pub fn parse(pattern: &str, criteria: Option<&str>) -> Result<Filter, FilterError> {
        let (mut exclude, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let (mut event, mut header, mut method_name) = (None, None, "regex".to_owned());
        for part in criteria.unwrap_or_default().split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let (key, value) = part
                .strip_suffix(')')
                .and_then(|p| p.split_once('('))
                .ok_or(FilterError::Format)?;
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "action" => {
                    exclude = match value.to_ascii_lowercase().as_str() {
                        "include" => false,
                        "exclude" => true,
                        _ => return Err(FilterError::Format),
                    }
                }
                "name" => event = Some(value.to_owned()),
                "header" => header = Some(value.trim_end_matches(':').to_owned()),
                "method" => method_name = value.to_ascii_lowercase(),
                _ => return Err(FilterError::Format),
            }
        }
        if pattern.is_empty() && method_name != "none" {
            return Err(FilterError::Format);
        }
        let text = pattern.to_owned();
        let method = match method_name.as_str() {
            "regex" => Method::Regex(
                RegexBuilder::new(pattern)
                    .dot_matches_new_line(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|_| FilterError::Compile)?,
            ),
            "exact" => Method::Exact(text),
            "starts_with" => Method::StartsWith(text),
            "ends_with" => Method::EndsWith(text),
            "contains" => Method::Contains(text),
            "none" => Method::Any,
            _ => return Err(FilterError::Format),
        };
        Ok(Filter {
            exclude,
            method,
            event,
            header,
        })
    }

    fn matches(&self, event: &Message, whole: &str) -> bool {
        if let Some(name) = &self.event
            && !event
                .event_name()
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        {
            return false;
        }
        let value;
        let text = match &self.header {
            Some(header) => match event.get_str(header) {
                Some(found) => {
                    value = found;
                    &*value
                }
                None => return false,
            },
            None => whole,
        };
        match &self.method {
            Method::Regex(re) => re.is_match(text),
            Method::Exact(p) => text == p,
            Method::StartsWith(p) => text.starts_with(p.as_str()),
            Method::EndsWith(p) => text.ends_with(p.as_str()),
            Method::Contains(p) => text.contains(p.as_str()),
            Method::Any => true,
        }
    }
}

/// Whether `event` passes a client's rules, as manager.c decides: with include
/// rules it must match one of them, and it must match no exclude rule.
pub fn passes(filters: &[Filter], event: &Message) -> bool {
    if filters.is_empty() {
        return true;
    }
    let whole = event.to_bytes();
    let whole = String::from_utf8_lossy(&whole);
    let mut includes = filters.iter().filter(|f| !f.exclude).peekable();
    if includes.peek().is_some() && !includes.any(|f| f.matches(event, &whole)) {
        return false;
    }
    !filters
        .iter()
        .any(|f| f.exclude && f.matches(event, &whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, exten: &str) -> Message {
        Message::new()
            .with("Event", name)
            .with("Privilege", "call,all")
            .with("Exten", exten)
    }

    fn rules(list: &[(&str, Option<&str>)]) -> Vec<Filter> {
        list.iter()
            .map(|(p, c)| Filter::parse(p, *c).expect("a rule"))
            .collect()
    }

    #[test]
    fn includes_then_excludes_as_asterisk() {
        let only_devices = rules(&[("Event: DeviceStateChange", None)]);
        assert!(passes(&only_devices, &event("DeviceStateChange", "1")));
        assert!(!passes(&only_devices, &event("Newchannel", "1")));
        let not_devices = rules(&[("!Event: DeviceStateChange", None)]);
        assert!(!passes(&not_devices, &event("DeviceStateChange", "1")));
        assert!(passes(&not_devices, &event("Newchannel", "1")));
        assert!(passes(&[], &event("Newchannel", "1")));
    }

    #[test]
    fn match_criteria_name_and_exact_header() {
        let exact = rules(&[(
            "1002",
            Some("action(include),name(ExtensionStatus),header(Exten),method(exact)"),
        )]);
        assert!(passes(&exact, &event("ExtensionStatus", "1002")));
        assert!(!passes(&exact, &event("ExtensionStatus", "10021")));
        assert!(!passes(&exact, &event("Newchannel", "1002")));
    }

    #[test]
    fn the_recorded_errors() {
        assert_eq!(
            Filter::parse("Event: (unclosed", None)
                .unwrap_err()
                .to_string(),
            "Filter did not compile.  Check the syntax of the filter given."
        );
        assert_eq!(
            Filter::parse("x", Some("action(maybe)"))
                .unwrap_err()
                .to_string(),
            "Filter was formatted incorrectly.  Check the syntax of the filter given."
        );
    }
}
