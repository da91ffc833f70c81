//! What the person has picked out for the keyboard shortcuts: an extension of the grid
//! (a click on its tile, or Enter in the grid's search) and a call (a click on its row).
//! The logged-in panel provides one; the views mark what is selected and the
//! shortcuts act on it.

use leptos::prelude::*;

/// The selected extension and call; `Copy`, provided as a context by the panel.
#[derive(Clone, Copy)]
pub struct Selection {
    /// The extension number picked in the grid.
    pub exten: RwSignal<Option<String>>,
    /// The channel name of the call picked in a call list.
    pub channel: RwSignal<Option<String>>,
}

impl Selection {
    /// A selection with nothing picked, provided as the current owner's context.
    pub fn provide() -> Selection {
        let selection = Selection {
            exten: RwSignal::new(None),
            channel: RwSignal::new(None),
        };
        provide_context(selection);
        selection
    }

    /// The panel's selection, if this page has one (the screen-pop has none). Read it
    /// in a component's body: event handlers run outside any owner's context.
    pub fn get() -> Option<Selection> {
        use_context::<Selection>()
    }

    /// Whether `exten` is the extension picked (tracked).
    pub fn is_exten(self, exten: &str) -> bool {
        self.exten.with(|e| e.as_deref() == Some(exten))
    }

    /// Whether `channel` is the call picked (tracked).
    pub fn is_channel(self, channel: &str) -> bool {
        self.channel.with(|c| c.as_deref() == Some(channel))
    }
}
