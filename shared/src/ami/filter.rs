//! The `Filter` action's rules: parsed as `manager.c`'s `manager_add_filter` parses
//! them, matched per session as its `should_send_event` does, with Asterisk's answer
//! texts (`ami-session-2.txt`, connection 2). One home for both sides that keep
//! filters: pbxsim's sessions (as Asterisk) and the relay's AMI proxy (per downstream
//! client, never sent upstream).

use regex::{Regex, RegexBuilder};

/// Why a `Filter: ` could not be added, with Asterisk's answer text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// The pattern is not a regular expression: fix the pattern.
    #[error("Filter did not compile.  Check the syntax of the filter given.")]
    Compile,
    /// `MatchCriteria` (or a legacy filter without pattern) is malformed: fix the criteria.
    #[error("Filter was formatted incorrectly.  Check the syntax of the filter given.")]
    Format,
}

/// How a rule compares its pattern, `method(...)` of `MatchCriteria`.
#[derive(Clone, Debug)]
enum Method {
    /// The default: an extended regular expression anywhere in the text.
    Regex(Regex),
    Exact(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    /// Matches anything: only `name(...)`/`header(...)` decide.
    None,
}

impl Method {
    fn matches(&self, text: &str) -> bool {
        match self {
            Method::Regex(re) => re.is_match(text),
            Method::Exact(p) => text == p,
            Method::StartsWith(p) => text.starts_with(p.as_str()),
            Method::EndsWith(p) => text.ends_with(p.as_str()),
            Method::Contains(p) => text.contains(p.as_str()),
            Method::None => true,
        }
    }
}

/// One rule of a session: include (whitelist) or exclude (blacklist).
#[derive(Clone, Debug)]
pub struct Filter {
    /// `!pattern` or `action(exclude)`: drop matching events.
    exclude: bool,
    method: Method,
    /// Only for events with this name (`name(...)`).
    event: Option<String>,
    /// Only this header's value (`header(...)`), as `Name:`.
    header: Option<String>,
}

impl Filter {
    /// Parses `Filter:` and `MatchCriteria:` as `manager_add_filter` does: a leading `!`
    /// excludes, `action(...)` overrides it, the default method is a regex over the
    /// whole event text (with `.` matching line ends, as POSIX `regexec` without
    /// `REG_NEWLINE` does).
    pub fn parse(pattern: &str, criteria: Option<&str>) -> Result<Filter, FilterError> {
        let (mut exclude, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut method: &str = "regex";
        let (mut event, mut header) = (None, None);
        let advanced = criteria.filter(|c| !c.is_empty());
        if advanced.is_none() && pattern.is_empty() {
            return Err(FilterError::Format);
        }
        if let Some(criteria) = advanced {
            method = "none";
            let mut found = false;
            // `action(include),name(X),header(Y),method(exact)`: tokens end at ` `, `,` or `)`.
            for option in criteria.split([' ', ',', ')']).filter(|o| !o.is_empty()) {
                let Some((key, value)) = option.split_once('(') else {
                    return Err(FilterError::Format);
                };
                let value = value.trim();
                if value.is_empty() {
                    return Err(FilterError::Format);
                }
                match (key, value) {
                    ("action", "include") => exclude = false,
                    ("action", "exclude") => exclude = true,
                    ("name", name) => event = Some(name.to_string()),
                    ("header", name) => header = Some(format!("{}:", name.trim_end_matches(':'))),
                    (
                        "method",
                        m @ ("regex" | "exact" | "starts_with" | "ends_with" | "contains" | "none"),
                    ) => method = m,
                    _ => return Err(FilterError::Format),
                }
                found = true;
            }
            if !found
                || pattern.is_empty() != (method == "none")
                || (method == "none" && event.is_none() && header.is_none())
            {
                return Err(FilterError::Format);
            }
        }
        let text = pattern.to_string();
        let method = match method {
            "regex" => Method::Regex(
                RegexBuilder::new(pattern)
                    .dot_matches_new_line(true)
                    .build()
                    .map_err(|_| FilterError::Compile)?,
            ),
            "exact" => Method::Exact(text),
            "starts_with" => Method::StartsWith(text),
            "ends_with" => Method::EndsWith(text),
            "contains" => Method::Contains(text),
            _ => Method::None,
        };
        Ok(Filter {
            exclude,
            method,
            event,
            header,
        })
    }

    /// Whether the rule matches one event named `name` whose wire form is `text`.
    fn matches(&self, name: &str, text: &str) -> bool {
        if self
            .event
            .as_deref()
            .is_some_and(|e| !e.eq_ignore_ascii_case(name))
        {
            return false;
        }
        match &self.header {
            None => self.method.matches(text),
            Some(header) => text.lines().any(|line| {
                line.strip_prefix(header.as_str())
                    .map(str::trim_start)
                    .is_some_and(|value| !value.is_empty() && self.method.matches(value))
            }),
        }
    }
}

/// `should_send_event` for the event `name` whose wire form is `text`: no rules pass
/// everything; include rules alone pass what one of them matches; exclude rules alone drop
/// what one of them matches; both: included and not excluded.
pub fn should_send(filters: &[Filter], name: &str, text: &str) -> bool {
    if filters.is_empty() {
        return true;
    }
    let mut includes = filters.iter().filter(|f| !f.exclude).peekable();
    let included = includes.peek().is_none() || includes.any(|f| f.matches(name, text));
    included && !filters.iter().any(|f| f.exclude && f.matches(name, text))
}

/// Whether `event` passes a session's rules ([`should_send`] over its wire form).
pub fn passes(filters: &[Filter], event: &super::Message) -> bool {
    if filters.is_empty() {
        return true;
    }
    let bytes = event.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let name = event
        .event_name()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    should_send(filters, &name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(rules: &[(&str, Option<&str>)], text: &str) -> bool {
        let filters: Vec<Filter> = rules
            .iter()
            .map(|(p, c)| Filter::parse(p, *c).unwrap())
            .collect();
        let name = text
            .strip_prefix("Event: ")
            .and_then(|r| r.split("\r\n").next())
            .unwrap_or_default();
        should_send(&filters, name, text)
    }

    const VARSET: &str = "Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: X\r\n\r\n";
    const RTCP: &str = "Event: RTCPSent\r\nPrivilege: reporting,all\r\n\r\n";
    const EXT: &str = "Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 1002\r\n\r\n";

    #[test]
    fn exclude_rules_are_regexes_over_the_event_text() {
        let relay = [
            ("!Event: VarSet", None),
            ("!Event: Newexten", None),
            ("!Event: RTCP*", None),
            ("!Event: Cdr", None),
            ("!Event: CEL", None),
        ];
        assert!(!passes(&relay, VARSET));
        assert!(!passes(&relay, RTCP));
        assert!(passes(&relay, EXT));
    }

    #[test]
    fn include_and_exclude_combine_as_asterisk_does() {
        assert!(passes(&[("Event: ExtensionStatus", None)], EXT));
        assert!(!passes(&[("Event: ExtensionStatus", None)], VARSET));
        let both = [("Privilege: .*all", None), ("!Event: VarSet", None)];
        assert!(passes(&both, EXT));
        assert!(!passes(&both, VARSET));
    }

    #[test]
    fn match_criteria_name_and_exact_header() {
        let rule = [(
            "1002",
            Some("action(include),name(ExtensionStatus),header(Exten),method(exact)"),
        )];
        assert!(passes(&rule, EXT));
        assert!(!passes(&rule, &EXT.replace("1002", "10020")));
        assert!(!passes(&rule, VARSET));
    }

    #[test]
    fn recorded_errors() {
        assert_eq!(
            Filter::parse("Event: (unclosed", None).err(),
            Some(FilterError::Compile)
        );
        assert_eq!(
            Filter::parse("x", Some("action(maybe)")).err(),
            Some(FilterError::Format)
        );
        assert_eq!(Filter::parse("", None).err(), Some(FilterError::Format));
        assert_eq!(
            Filter::parse("x", Some("name(X),method(none)")).err(),
            Some(FilterError::Format)
        );
    }
}
