//! The SPA's words all come from its catalogues (`frontend/i18n/`): every key the code
//! names is in the English one, and no text in a view, a part or the app's frame is
//! written in the code instead (checked by `cargo test -p xtask`).
//!
//! The check reads the sources with a small Rust lexer, not a parser: inside `view!`
//! it refuses string-literal and bare text children and literal values of the
//! attributes people read (`title`, `placeholder`, `aria-label`, `alt`, `label`);
//! everywhere in those files (tests aside) it refuses a literal that reads like a
//! sentence or a capitalised word, the text an event handler or a `format!` writes
//! (except class lists on a line that sets a `class`). A literal that is not text but looks like it carries `// not text` on its line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::project_root;

/// Attributes whose value people read or hear.
const USER_ATTRIBUTES: [&str; 6] = [
    "title",
    "placeholder",
    "aria-label",
    "alt",
    "label",
    "aria-description",
];

/// One token of Rust source, as far as the checks here need it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A string literal's contents (escapes left as written).
    Str(String),
    Ident(String),
    Punct(char),
    /// A number, a char literal or a lifetime.
    Other,
}

/// The tokens of `source`, each with its line (from 1); comments dropped.
fn lex(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines = |from: usize, to: usize, chars: &[char]| {
        chars[from..to].iter().filter(|c| **c == '\n').count()
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let start = i;
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(start, i.min(chars.len()), &chars);
        } else if c == '"'
            || (c == 'r' && matches!(next, Some('"' | '#')) && raw_start(&chars, i).is_some())
        {
            let start_line = line;
            let start = i;
            let text;
            if c == '"' {
                i += 1;
                let from = i;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                text = chars[from..i.min(chars.len())].iter().collect();
                i += 1;
            } else {
                let hashes = raw_start(&chars, i).unwrap_or(0);
                i += 2 + hashes;
                let from = i;
                let close: Vec<char> = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !chars[i..].starts_with(&close) {
                    i += 1;
                }
                text = chars[from..i.min(chars.len())].iter().collect();
                i += close.len();
            }
            line += count_lines(start, i.min(chars.len()), &chars);
            tokens.push((Token::Str(text), start_line));
        } else if c == '\'' {
            // A char literal ('x', '\n', '\'') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            tokens.push((Token::Other, line));
        } else if c.is_alphabetic() || c == '_' {
            let from = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((Token::Ident(chars[from..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            tokens.push((Token::Other, line));
        } else {
            tokens.push((Token::Punct(c), line));
            i += 1;
        }
    }
    tokens
}

/// The number of `#`s of a raw string starting at `at` (`r"`, `r#"`), if one does.
fn raw_start(chars: &[char], at: usize) -> Option<usize> {
    let hashes = chars[at + 1..].iter().take_while(|c| **c == '#').count();
    (chars.get(at + 1 + hashes) == Some(&'"')).then_some(hashes)
}

/// Whether a literal reads as text for people: a capitalised word, or words with
/// spaces between them. Keys (`login.submit`), CSS classes, state words and format
/// strings such as `{}@{}` do not.
fn reads_as_text(literal: &str) -> bool {
    let letters = literal.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 2 {
        return false;
    }
    let capitalised = literal
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| {
            let mut chars = word.chars();
            matches!((chars.next(), chars.next()), (Some(a), Some(b)) if a.is_uppercase() && b.is_lowercase())
        });
    // Words as prose has them: letters, maybe an apostrophe or a hyphen, maybe punctuation
    // around; not selectors, paths or code.
    let words = literal
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| "()“”\"«»,.;:!?…".contains(c)))
        .filter(|word| word.chars().count() >= 2)
        .filter(|word| {
            word.chars()
                .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
        })
        .count();
    capitalised || words >= 2
}

/// One piece of text written in the code: file, line and the text.
type Finding = (PathBuf, usize, String);

/// The text in `source` that should be a catalogue lookup.
fn untranslated(source: &str) -> Vec<(usize, String)> {
    let lines_with = |marker: &str| -> BTreeSet<usize> {
        let lines = source.lines().enumerate();
        lines
            .filter(|(_, line)| line.contains(marker))
            .map(|(index, _)| index + 1)
            .collect()
    };
    // `// not text` on a line, or alone on the line above it.
    let allowed: BTreeSet<usize> = lines_with("// not text")
        .into_iter()
        .flat_map(|line| [line, line + 1])
        .collect();
    // Class lists (`"toast ok"`) read like words; a line that sets a class is not checked for them.
    let class_lines = lines_with("class");
    // Tests write what they like.
    let code = match source.find("#[cfg(test)]") {
        Some(at) => &source[..at],
        None => source,
    };
    let tokens = lex(code);
    let mut found = Vec::new();
    // For each token, the innermost `view!` it is in (the index of its `{`).
    let mut in_view: Vec<Option<usize>> = vec![None; tokens.len()];
    let mut views = Vec::new();
    let mut i = 0;
    while i + 2 < tokens.len() {
        let opens_view = tokens[i].0 == Token::Ident("view".into())
            && tokens[i + 1].0 == Token::Punct('!')
            && tokens[i + 2].0 == Token::Punct('{');
        if !opens_view {
            i += 1;
            continue;
        }
        let end = matching_brace(&tokens, i + 2);
        for owner in &mut in_view[i + 3..end] {
            *owner = Some(i + 2);
        }
        views.push((i + 2, end));
        i += 3;
    }
    for (open, end) in views {
        let own: Vec<bool> = in_view[open + 1..end]
            .iter()
            .map(|owner| *owner == Some(open))
            .collect();
        found.extend(view_text(&tokens[open + 1..end], &own, &class_lines));
    }
    // Elsewhere (and inside Rust blocks within views), what reads as text.
    let mut previous: Option<&Token> = None;
    for (index, (token, line)) in tokens.iter().enumerate() {
        if let Token::Str(text) = token {
            let in_macro_like_log =
                previous == Some(&Token::Punct('(')) && index >= 3 && is_log(&tokens[index - 3].0);
            if in_view[index].is_none()
                && reads_as_text(text)
                && !in_macro_like_log
                && !class_lines.contains(line)
            {
                found.push((*line, text.clone()));
            }
        }
        previous = Some(token);
    }
    found.retain(|(line, text)| !allowed.contains(line) && !is_key(text));
    found.sort();
    found.dedup();
    found
}

/// Whether a literal is a catalogue key (`events.pause`): what a lookup is given.
fn is_key(literal: &str) -> bool {
    let mut sections = literal.split('.');
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    sections.next().is_some_and(word) && literal.contains('.') && sections.all(word)
}

/// Whether `token` names a logging or panicking macro, whose words are for developers.
fn is_log(token: &Token) -> bool {
    matches!(token, Token::Ident(name) if ["log", "warn", "error", "debug_warn", "panic", "unreachable", "expect"].contains(&name.as_str()))
}

/// The index of the `}` that closes the `{` at `open`, or the end.
fn matching_brace(tokens: &[(Token, usize)], open: usize) -> usize {
    let mut depth = 0;
    for (index, (token, _)) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return index;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The text in a `view!`'s tokens: literal and bare text children, literal values of
/// the attributes people read, and, inside its Rust blocks, literals that read as text.
/// `own[i]` says whether token `i` is this view's, not a `view!` nested in it;
/// `class_lines` are the lines that set a CSS class.
fn view_text(
    tokens: &[(Token, usize)],
    own: &[bool],
    class_lines: &BTreeSet<usize>,
) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Brace depth (Rust blocks), and whether at depth 0 we are inside a tag.
    let (mut depth, mut parens, mut in_tag) = (0usize, 0usize, false);
    for (index, (token, line)) in tokens.iter().enumerate() {
        let before = index.checked_sub(1).map(|i| &tokens[i].0);
        match token {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => depth = depth.saturating_sub(1),
            Token::Punct('(') if depth == 0 => parens += 1,
            Token::Punct(')') if depth == 0 => parens = parens.saturating_sub(1),
            Token::Punct('<') if depth == 0 && !in_tag => in_tag = true,
            // `=>` and `->` in an unbraced attribute value do not close the tag.
            Token::Punct('>')
                if depth == 0
                    && in_tag
                    && parens == 0
                    && !matches!(before, Some(Token::Punct('=' | '-'))) =>
            {
                in_tag = false
            }
            Token::Ident(word) if depth == 0 && !in_tag => found.push((*line, word.clone())),
            Token::Str(text) => {
                let has_letters = text.chars().any(char::is_alphabetic);
                let is_text = if depth == 0 && in_tag {
                    // An attribute's value: text if people read that attribute.
                    let name = match before {
                        Some(Token::Punct('=')) => attribute_name(&tokens[..index - 1]),
                        _ => String::new(),
                    };
                    has_letters && USER_ATTRIBUTES.contains(&name.as_str())
                } else if depth == 0 {
                    // A literal child.
                    has_letters
                } else if own[index] {
                    // `{"Text"}`, or a block's value such as `if x { "Pause" } else { "Resume" }`.
                    let child = matches!(before, Some(Token::Punct('{')))
                        && matches!(tokens.get(index + 1).map(|t| &t.0), Some(Token::Punct('}')));
                    let class_list =
                        class_lines.contains(line) && !text.chars().any(char::is_uppercase);
                    !class_list && ((child && has_letters) || reads_as_text(text))
                } else {
                    false
                };
                if is_text {
                    found.push((*line, text.clone()));
                }
            }
            _ => {}
        }
    }
    found
}

/// The attribute name that ends `tokens` (`aria-label`, `title`, `attr:title` gives
/// `title`): its last word and the words joined to it by `-`.
fn attribute_name(tokens: &[(Token, usize)]) -> String {
    let mut parts = Vec::new();
    let mut rest = tokens;
    while let [before @ .., (Token::Ident(word), _)] = rest {
        parts.push(word.clone());
        match before {
            [earlier @ .., (Token::Punct('-'), _)] => {
                parts.push("-".into());
                rest = earlier;
            }
            _ => break,
        }
    }
    parts.reverse();
    parts.concat()
}

/// The English catalogue's keys.
fn english_keys(root: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root.join("frontend/i18n/en.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(key, _)| key.trim().to_owned()))
        .collect()
}

/// Every `.rs` file of the SPA whose text people read.
fn view_files(root: &Path) -> Vec<PathBuf> {
    let src = root.join("frontend/src");
    let mut files = vec![src.join("app.rs")];
    for dir in ["views", "parts"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(src.join(dir))
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

#[test]
fn every_key_the_frontend_names_is_in_the_english_catalogue() {
    let root = project_root();
    let keys = english_keys(&root);
    assert!(
        keys.len() > 5,
        "frontend/i18n/en.txt is missing or nearly empty"
    );
    // A key is a literal `section.word` whose section the catalogue has.
    let sections: BTreeSet<&str> = keys
        .iter()
        .filter_map(|key| key.split('.').next())
        .collect();
    let mut files = Vec::new();
    crate::tidy::rust_files(&root.join("frontend/src"), &mut files);
    let mut missing: Vec<Finding> = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        for (token, line) in lex(&source) {
            let Token::Str(text) = token else { continue };
            let looks_like_key = text.contains('.')
                && sections.contains(text.split('.').next().unwrap_or_default())
                && text
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
            if looks_like_key && !keys.contains(&text) {
                missing.push((
                    file.strip_prefix(&root).unwrap_or(&file).to_path_buf(),
                    line,
                    text,
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys not in frontend/i18n/en.txt: {missing:#?}"
    );
}

#[test]
fn no_view_writes_text_outside_the_catalogues() {
    let root = project_root();
    let mut found: Vec<Finding> = Vec::new();
    for file in view_files(&root) {
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!source.is_empty(), "cannot read {}", file.display());
        let relative = file.strip_prefix(&root).unwrap_or(&file).to_path_buf();
        found.extend(
            untranslated(&source)
                .into_iter()
                .map(|(line, text)| (relative.clone(), line, text)),
        );
    }
    let list: Vec<String> = found
        .iter()
        .map(|(file, line, text)| format!("{}:{line}: {text:?}", file.display()))
        .collect();
    assert!(
        list.is_empty(),
        "text written in the code instead of frontend/i18n/*.txt (use crate::i18n's tr/t/tr_with; \
         `// not text` on the line if it is not text):\n  {}",
        list.join("\n  ")
    );
}

#[test]
fn the_text_check_sees_each_kind_of_text() {
    let source = r##"
fn f() {
    let a = format!("Login refused: {x}");
    let b = ctx.may("ami");
    view! {
        <p class="muted" title="Hang up">"Waiting"</p>
        <p title="Live calls" data-x="Not read">"Calls"</p>
        <b>Bare words</b>
        <span aria-label=tr("calls.hangup")>{tr("calls.hangup")}</span>
        <i>{"Literal"}</i>
        <i>{move || if x { "Pause" } else { "resume now" }}</i>
        <a href=r#"/x"# data-state="idle" on:click=move |_| go("/")>{label}</a>
        {move || view! { <p class="muted centre">"Inner"</p> }}
        <b class=move || if x { "toast ok" } else { "toast failed" }>"Outer"</b>
        <i>{move || t(if x { "events.resume" } else { "events.pause" })}</i>
    }
    let c = "Not text either"; // not text
    // not text: the next line's
    let d = "Not text at all";
    let e = find("[data-channel='{channel}'] [data-testid='transfer-to']");
}
"##;
    let texts: Vec<String> = untranslated(source)
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        texts,
        [
            "Login refused: {x}",
            "Hang up",
            "Waiting",
            "Calls",
            "Live calls",
            "Bare",
            "words",
            "Literal",
            "Pause",
            "resume now",
            "Inner",
            "Outer",
        ],
    );
}
