//! The panel in another language and at the keyboard, in Chromium: switched to German
//! with the header's switch, the agent, supervisor and wallboard views and the
//! shortcuts' list show no English word of the panel's own (checked against the
//! catalogues in `frontend/i18n/`), and the choice survives a reload; `?` opens the
//! shortcuts' list and Escape closes it, no shortcut fires while typing, `/` goes to
//! the grid's search and Enter there selects the first extension shown, and `h` hangs
//! up the call clicked.

use std::collections::BTreeMap;

use e2e::{Harness, PanelPage, Pbx, originate, wait_for};
use thirtyfour::prelude::*;

/// A catalogue of the SPA: key → text.
fn catalogue(code: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let path = format!("{}/../frontend/i18n/{code}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)?;
    Ok(text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect())
}

/// The English words that must not show in German: each English text's pieces between
/// placeholders, of three letters or more, where no German text is that piece too
/// (`Agent`, `Server`, `Pause` are German as well).
fn english_only(
    en: &BTreeMap<String, String>,
    de: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let german: Vec<&str> = de.values().map(String::as_str).collect();
    let mut pieces = Vec::new();
    for (key, text) in en {
        for piece in text.split(['{', '}']).step_by(2) {
            let piece = piece.trim_matches(|c: char| !c.is_alphanumeric());
            let letters = piece.chars().filter(|c| c.is_alphabetic()).count();
            let also_german = german.iter().any(|g| has_words(g, piece));
            if letters >= 3 && !also_german {
                pieces.push((key.clone(), piece.to_owned()));
            }
        }
    }
    pieces
}

/// Whether `text` holds `words` as whole words (not inside a longer word).
fn has_words(text: &str, words: &str) -> bool {
    text.match_indices(words).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + words.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// What a person reads and hears on the page: its visible text, and the titles,
/// placeholders and labels a screen reader says.
async fn page_words(page: &PanelPage) -> anyhow::Result<String> {
    let script = "const said = Array.from(document.querySelectorAll('[title],[placeholder],[aria-label]'))\
        .flatMap(e => ['title', 'placeholder', 'aria-label'].map(a => e.getAttribute(a)).filter(v => v));\
        return document.body.innerText + '\\n' + said.join('\\n');";
    Ok(page.driver.execute(script, vec![]).await?.convert()?)
}

/// The English pieces `page` shows; the header's `user@server` is the account's own
/// name (`admin`), not the panel's word.
async fn english_left(
    page: &PanelPage,
    pieces: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let who: String = page
        .driver
        .execute(
            "return document.querySelector('.who')?.innerText || ''",
            vec![],
        )
        .await?
        .convert()?;
    let mut words = page_words(page).await?;
    if !who.is_empty() {
        words = words.replace(&who, "");
    }
    Ok(pieces
        .iter()
        .filter(|(_, piece)| has_words(&words, piece))
        .map(|(key, piece)| format!("{key}: {piece:?}"))
        .collect())
}

async fn html_lang(page: &PanelPage) -> anyhow::Result<String> {
    Ok(page
        .driver
        .execute("return document.documentElement.lang", vec![])
        .await?
        .convert()?)
}

/// Waits until the element `testid` is on the page.
async fn shown(page: &PanelPage, testid: &str) -> anyhow::Result<()> {
    wait_for(testid, || async {
        Ok((!page.attributes(testid, "data-testid").await?.is_empty()).then_some(()))
    })
    .await
}

/// Presses `keys` wherever the focus is, as a person at the keyboard does.
async fn press(page: &PanelPage, keys: impl Into<TypingData>) -> anyhow::Result<()> {
    page.driver.action_chain().send_keys(keys).perform().await?;
    Ok(())
}

/// The `data-testid` of the focused element.
async fn focused(page: &PanelPage) -> anyhow::Result<String> {
    let script =
        "return document.activeElement && document.activeElement.getAttribute('data-testid') || ''";
    Ok(page.driver.execute(script, vec![]).await?.convert()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_to_german_the_views_show_no_english_and_keep_it_after_a_reload()
-> anyhow::Result<()> {
    let (en, de) = (catalogue("en")?, catalogue("de")?);
    let pieces = english_only(&en, &de);
    anyhow::ensure!(
        pieces.len() > 50,
        "only {} English pieces to look for",
        pieces.len()
    );
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    anyhow::ensure!(
        html_lang(&page).await? == "en",
        "the page starts in English"
    );
    page.fill("[data-testid='language']", "de").await?;
    wait_for("<html lang=de>", || async {
        Ok((html_lang(&page).await? == "de").then_some(()))
    })
    .await?;

    // The supervisor's view, once the demo's calls and queues are on it.
    page.navigate(&de["nav.supervisor"]).await?;
    shown(&page, "extension").await?;
    shown(&page, "channel").await?;
    shown(&page, "queue").await?;
    let mut left = english_left(&page, &pieces).await?;
    page.navigate(&de["nav.wallboard"]).await?;
    shown(&page, "queue").await?;
    left.extend(english_left(&page, &pieces).await?);
    page.navigate(&de["nav.agent"]).await?;
    shown(&page, "my-state").await?;
    left.extend(english_left(&page, &pieces).await?);
    press(&page, "?").await?;
    shown(&page, "shortcuts").await?;
    left.extend(english_left(&page, &pieces).await?);
    left.sort();
    left.dedup();
    anyhow::ensure!(
        left.is_empty(),
        "English left on the German panel: {left:#?}"
    );

    // The choice is this browser's: a reload keeps it.
    page.driver.refresh().await?;
    page.wait_for_attribute("link-state", "data-state", "up")
        .await?;
    anyhow::ensure!(
        html_lang(&page).await? == "de",
        "the reload went back to English"
    );
    page.navigate(&de["nav.supervisor"]).await?;
    page.wait_for_text_containing("extension-count", &de["extensions.title"])
        .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_mark_lists_the_shortcuts_and_slash_then_enter_selects_an_extension()
-> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    shown(&page, "extension").await?;

    press(&page, "?").await?;
    shown(&page, "shortcuts").await?;
    let list = page.text("shortcuts").await?;
    anyhow::ensure!(
        list.contains("Hang up the selected call"),
        "the list says: {list}"
    );
    press(&page, Key::Escape).await?;
    wait_for("the list to close", || async {
        Ok(page
            .attributes("shortcuts", "data-testid")
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;

    // `/` goes to the search; what is typed there is the search's, `?` included.
    press(&page, "/").await?;
    wait_for("the search to have the focus", || async {
        Ok((focused(&page).await? == "extension-search").then_some(()))
    })
    .await?;
    press(&page, "?").await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    anyhow::ensure!(
        page.attributes("shortcuts", "data-testid")
            .await?
            .is_empty(),
        "a shortcut fired while typing"
    );
    press(&page, Key::Backspace).await?;
    let tiles = page.attributes("extension", "data-exten").await?;
    let wanted = tiles.get(3).cloned().unwrap_or_default();
    press(&page, wanted.clone() + Key::Enter).await?;
    // Enter picks the first tile the search leaves: the one typed, or one beginning so.
    wait_for("the searched extension to be selected", || async {
        let script = "return Array.from(document.querySelectorAll(\"[data-testid='extension'][data-selected='true']\"))\
            .map(e => e.getAttribute('data-exten'))";
        let selected: Vec<String> = page.driver.execute(script, vec![]).await?.convert()?;
        let first = page.attributes("extension", "data-exten").await?;
        Ok((selected.len() == 1 && first.first() == selected.first() && selected[0].starts_with(&wanted)).then_some(()))
    })
    .await?;
    anyhow::ensure!(
        focused(&page).await? != "extension-search",
        "Enter left the focus in the search"
    );
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h_hangs_up_the_call_clicked() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let harness = Harness::start_with(&pbx).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    let admin = e2e::side_session(&pbx).await?;
    // A five-minute call: it ends only if the shortcut ends it.
    originate(&admin, "100", "200", "Keyboard <555>", 300).await?;
    let target = wait_for("the call on screen", || async {
        let shown = page.shown_channels().await?;
        Ok(shown.into_iter().find(|c| c.starts_with("Local/100")))
    })
    .await?;
    let row = format!("[data-testid='channel'][data-channel='{target}']");
    let clicked: bool = page
        .driver
        .execute(
            "const name = document.querySelector(arguments[0] + ' .name'); if (!name) return false; name.click(); return true;",
            vec![serde_json::json!(row)],
        )
        .await?
        .convert()?;
    anyhow::ensure!(clicked, "no row for {target}");
    page.wait_for_attributes("the row selected", "channel", "data-selected", |v| {
        v.iter().any(|s| s == "true")
    })
    .await?;
    press(&page, "h").await?;
    wait_for("the call to be hung up", || async {
        Ok((!page.shown_channels().await?.contains(&target)).then_some(()))
    })
    .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}
