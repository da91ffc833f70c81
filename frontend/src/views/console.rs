//! The AMI console: one raw action (a name and `Key: Value` lines) sent through the
//! relay's `ami` action, and Asterisk's whole answer. Offered only to accounts the
//! relay allows it (`ami` in the hello's permissions); Asterisk still checks each
//! action's class, and the relay's shell guards apply.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shared::action::{Action, ActionResult, HeaderValue};

use crate::context::Ctx;
use crate::i18n::{tr, tr_with};

/// Why the console cannot send what was typed; the page shows the words, in the
/// panel's language.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleError {
    /// No action name: type one (`Ping`, `CoreStatus`…).
    #[error("{}", tr_with("console.no_action", &[]))]
    NoAction,
    /// A line that is not `Key: Value`: fix that line.
    #[error("{}", tr_with("console.not_a_header", &[("line", line), ("text", &format!("{text:?}"))]))]
    NotAHeader { line: usize, text: String },
    /// An `Action:` line besides the name field: use the field only.
    #[error("{}", tr_with("console.action_line", &[("line", line)]))]
    ActionLine { line: usize },
}

/// The `ami` action's headers: `Action` from the name, then each line; a key given
/// twice (`Variable`) is sent twice, in order.
pub fn request(action: &str, lines: &str) -> Result<BTreeMap<String, HeaderValue>, ConsoleError> {
    let action = action.trim();
    if action.is_empty() {
        return Err(ConsoleError::NoAction);
    }
    // not text: AMI's own header name.
    let mut headers = BTreeMap::from([("Action".to_owned(), HeaderValue::One(action.into()))]);
    for (n, raw) in lines.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, value)) = line
            .split_once(':')
            .filter(|(key, _)| !key.trim().is_empty())
        else {
            return Err(ConsoleError::NotAHeader {
                line: n + 1,
                text: line.to_owned(),
            });
        };
        let (key, value) = (key.trim(), value.trim().to_owned());
        // not text: AMI's header name.
        if key.eq_ignore_ascii_case("Action") {
            return Err(ConsoleError::ActionLine { line: n + 1 });
        }
        match headers.remove(key) {
            None => headers.insert(key.to_owned(), HeaderValue::One(value)),
            Some(HeaderValue::One(first)) => {
                headers.insert(key.to_owned(), HeaderValue::Many(vec![first, value]))
            }
            Some(HeaderValue::Many(mut all)) => {
                all.push(value);
                headers.insert(key.to_owned(), HeaderValue::Many(all))
            }
        };
    }
    Ok(headers)
}

/// An answer as Asterisk wrote it: the response's lines, then each event's, a blank
/// line between messages.
pub fn transcript(result: &ActionResult) -> String {
    let message = |headers: &[(String, String)]| {
        headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    result
        .response
        .iter()
        .map(|r| message(r))
        .chain(result.events.iter().flatten().map(|e| message(e)))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[component]
pub fn Console() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let allowed = ctx.may("ami");
    view! {
        <main class="content">
            <Show when=allowed fallback=|| view! {
                <p class="card wide centre" data-testid="console-refused" role="alert">{tr("console.refused")}</p>
            }>
                <ConsoleForm />
            </Show>
        </main>
    }
}

#[component]
fn ConsoleForm() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let action = RwSignal::new(String::from("Ping")); // not text: an AMI action's name
    let lines = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match request(&action.get_untracked(), &lines.get_untracked()) {
            Ok(headers) => {
                problem.set(None);
                ctx.ask_console(Action::Ami { headers });
            }
            Err(error) => problem.set(Some(error.to_string())),
        }
    };
    let answer = move || ctx.live.with(|l| l.console_result.clone());
    let waiting = move || {
        ctx.live
            .with(|l| l.console_id.is_some() && l.console_result.is_none())
    };
    view! {
        <section class="card wide" aria-label=tr("console.title")>
            <h2>{tr("console.title")}</h2>
            <form class="console" data-testid="console" on:submit=send aria-label=tr("console.form")>
                <label>{tr("console.action")}
                    <input data-testid="console-action" required autocomplete="off" spellcheck="false"
                        prop:value=move || action.get() on:input=move |ev| action.set(event_target_value(&ev)) />
                </label>
                // `Key: Value` and the example are AMI's own syntax, the same in every language.
                <label><span>{tr("console.headers_before")}" "<code>"Key: Value"</code>" "{tr("console.headers_after")}</span> // not text
                    <textarea data-testid="console-headers" rows="5" spellcheck="false" placeholder="Channel: PJSIP/1001-00000001" // not text
                        prop:value=move || lines.get() on:input=move |ev| lines.set(event_target_value(&ev))></textarea>
                </label>
                <button data-testid="console-send" type="submit" disabled=waiting>{tr("console.send")}</button>
                <p class="error" role="alert">{move || problem.get().unwrap_or_default()}</p>
            </form>
            {move || answer().map(|result| view! {
                <div class="answer" data-testid="console-answer" data-ok=result.ok.to_string() role="status">
                    {(!result.ok).then(|| view! { <p class="error" data-testid="console-error">{result.message.clone()}</p> })}
                    <pre data-testid="console-response">{transcript(&result)}</pre>
                </div>
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> HeaderValue {
        HeaderValue::One(value.into())
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn lines_become_headers_and_a_repeated_key_a_list() {
        let headers = request(
            " Originate ",
            "Channel: PJSIP/1001\n\n Variable: A=1\nVariable: B=2\nVariable:C=3\nData: x:y",
        );
        let expected = BTreeMap::from([
            ("Action".to_owned(), one("Originate")),
            ("Channel".to_owned(), one("PJSIP/1001")),
            (
                "Variable".to_owned(),
                HeaderValue::Many(vec!["A=1".into(), "B=2".into(), "C=3".into()]),
            ),
            ("Data".to_owned(), one("x:y")),
        ]);
        assert_eq!(headers, Ok(expected));
        assert_eq!(
            request("Ping", ""),
            Ok(BTreeMap::from([("Action".into(), one("Ping"))]))
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn what_cannot_be_sent_says_where() {
        assert_eq!(request("  ", ""), Err(ConsoleError::NoAction));
        assert_eq!(
            request("Hangup", "Channel: x\nno colon"),
            Err(ConsoleError::NotAHeader {
                line: 2,
                text: "no colon".into()
            })
        );
        assert_eq!(
            request("Hangup", ": value"),
            Err(ConsoleError::NotAHeader {
                line: 1,
                text: ": value".into()
            })
        );
        assert_eq!(
            request("Ping", "action: Command"),
            Err(ConsoleError::ActionLine { line: 1 })
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_transcript_is_the_response_then_the_events() {
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let result = ActionResult {
            response: Some(vec![pair("Response", "Success"), pair("Ping", "Pong")]),
            events: Some(vec![vec![pair("Event", "X")]]),
            ..ActionResult::ok(None, "")
        };
        assert_eq!(
            transcript(&result),
            "Response: Success\nPing: Pong\n\nEvent: X"
        );
        assert_eq!(
            transcript(&ActionResult::failed(None, "No such channel")),
            ""
        );
    }
}
