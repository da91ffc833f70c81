//! What the relay refuses itself, before Asterisk sees it, for any account without the
//! `system` write class: AMI reaches a shell through `Originate` to `System()`,
//! through dialplan functions such as `SHELL()` in any value Asterisk evaluates, and
//! through the CLI and configuration actions, and through MixMonitor's `Command`. A loose manager.conf must not make the
//! panel a way into the PBX.

use shared::ami::{Classes, Message};

/// Applications that run a command on the PBX.
const SHELL_APPLICATIONS: &[&str] = &["system", "trysystem"];

/// Dialplan functions that run a command or touch files.
const SHELL_FUNCTIONS: &[&str] = &["shell", "file", "eval", "system"];

/// Actions that reach the CLI, the configuration or the process itself.
const FORBIDDEN_ACTIONS: &[&str] = &[
    "command",
    "getconfig",
    "getconfigjson",
    "updateconfig",
    "createconfig",
    "shutdown",
    "moduleload",
    "modulecheck",
    "reload",
    "dialplanextensionadd",
    "dialplanextensionremove",
];

/// Why an action was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {0} action is not allowed for this account")]
    Action(String),
    #[error("Originate to the {0} application is not allowed for this account")]
    Application(String),
    #[error("the {0}() function is not allowed for this account (header {1})")]
    Function(String, String),
    #[error(
        "the Command header of {0} runs a shell command, which is not allowed for this account"
    )]
    ShellCommand(String),
}

/// Actions whose `Command` header Asterisk runs in a shell (MixMonitor's, when the
/// recording ends).
const SHELL_COMMAND_ACTIONS: &[&str] = &["mixmonitor"];

/// Checks one AMI action about to be sent for an account with `write` classes.
pub fn check(action: &Message, write: Classes) -> Result<(), Refusal> {
    if write.contains(Classes::SYSTEM) {
        return Ok(());
    }
    // Every `Action` header counts: a repeated one must not smuggle a second name past.
    for name in action.get_all("Action") {
        let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
        if FORBIDDEN_ACTIONS.contains(&name.as_str()) {
            return Err(Refusal::Action(name));
        }
        if SHELL_COMMAND_ACTIONS.contains(&name.as_str())
            && action
                .get_all("Command")
                .any(|c| !c.trim_ascii().is_empty())
        {
            return Err(Refusal::ShellCommand(name));
        }
    }
    for application in action.get_all("Application") {
        let application = String::from_utf8_lossy(application)
            .trim()
            .to_ascii_lowercase();
        if SHELL_APPLICATIONS.contains(&application.as_str()) {
            return Err(Refusal::Application(application));
        }
    }
    for (key, value) in action.headers() {
        if let Some(function) = shell_function(value) {
            return Err(Refusal::Function(
                function,
                String::from_utf8_lossy(key).into_owned(),
            ));
        }
    }
    Ok(())
}

/// The first shell-reaching function called in `value`: `SHELL(`, `shell (`, and
/// the same inside `${...}`, in any case.
fn shell_function(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value).to_ascii_lowercase();
    let bytes = text.as_bytes();
    for function in SHELL_FUNCTIONS {
        let mut from = 0;
        while let Some(at) = text[from..].find(function) {
            let start = from + at;
            let end = start + function.len();
            let starts_word =
                start == 0 || !bytes[start - 1].is_ascii_alphanumeric() && bytes[start - 1] != b'_';
            let calls = text[end..].trim_start().starts_with('(');
            if starts_word && calls {
                return Some(function.to_ascii_uppercase());
            }
            from = end;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_system() -> Classes {
        Classes::ALL.and_not(Classes::SYSTEM)
    }

    #[test]
    fn the_shell_is_out_of_reach_without_the_system_class() {
        let refused = [
            Message::new()
                .with("Action", "Command")
                .with("Command", "core show channels"),
            Message::new()
                .with("Action", "Ping")
                .with("action", "UpdateConfig"),
            Message::new()
                .with("Action", "Originate")
                .with("Application", " TrySystem "),
            Message::new()
                .with("Action", "Setvar")
                .with("Value", "${SHELL(rm -rf /)}"),
            Message::new()
                .with("Action", "Getvar")
                .with("Variable", "shell (id)"),
            Message::new()
                .with("Action", "Originate")
                .with("Variable", "X=${FILE(/etc/shadow)}"),
            Message::new()
                .with("Action", "Originate")
                .with("Data", "${EVAL(${X})}"),
            Message::new()
                .with("Action", "MixMonitor")
                .with("Channel", "PJSIP/1001-00000001")
                .with("File", "call.wav")
                .with("Command", "rm -rf /"),
        ];
        for action in &refused {
            assert!(check(action, no_system()).is_err(), "{action:?}");
            assert_eq!(check(action, Classes::ALL), Ok(()), "system may");
        }
        let fine = [
            Message::new()
                .with("Action", "Hangup")
                .with("Channel", "PJSIP/1001-00000001"),
            Message::new()
                .with("Action", "Setvar")
                .with("Variable", "MYSHELL")
                .with("Value", "x"),
            Message::new()
                .with("Action", "Originate")
                .with("Application", "ChanSpy"),
            Message::new()
                .with("Action", "MixMonitor")
                .with("Channel", "PJSIP/1001-00000001")
                .with("File", "call.wav"),
        ];
        for action in &fine {
            assert_eq!(check(action, no_system()), Ok(()), "{action:?}");
        }
    }
}
