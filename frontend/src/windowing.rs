//! Long lists drawn in part: only the rows a scroll box shows (and a few around them)
//! are in the DOM, with padding standing in for the rest, so 2,000 extensions or 500
//! calls cost what one screenful costs.
//!
//! [`visible_rows`] is the arithmetic; [`ScrollBox`] follows one box's scroll position,
//! size and row pitch (which CSS fixes), reading the DOM only when the box scrolls or the
//! window resizes, never while the list redraws, so a busy list forces no layout.

use std::ops::Range;

use leptos::html::Div;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlDivElement;

/// Rows drawn beyond each edge of the box, so a quick scroll shows no blank.
pub const OVERSCAN_ROWS: usize = 4;

/// Where a scroll box is scrolled to and how big it is, in CSS pixels, and how its
/// rows are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Viewport {
    pub top: f64,
    pub height: f64,
    pub width: f64,
    /// Items per row (tiles in a grid; 1 in a list).
    pub columns: usize,
    /// From one row's top to the next's; `None` until a row has been drawn.
    pub pitch: Option<f64>,
}

/// Reads a box's columns and row pitch from what it has drawn, if it has drawn a row.
pub type Metrics = fn(&HtmlDivElement) -> Option<(usize, f64)>;

/// The rows at least partly inside `viewport`, plus [`OVERSCAN_ROWS`] on each side,
/// out of `rows` rows each `pitch` pixels apart.
pub fn visible_rows(viewport: Viewport, pitch: f64, rows: usize) -> Range<usize> {
    if rows == 0 || pitch.is_nan() || pitch <= 0.0 {
        return 0..0;
    }
    let first = (viewport.top.max(0.0) / pitch) as usize;
    let shown = (viewport.height.max(0.0) / pitch).ceil() as usize + 1;
    let start = first.saturating_sub(OVERSCAN_ROWS).min(rows);
    let end = first
        .saturating_add(shown)
        .saturating_add(OVERSCAN_ROWS)
        .min(rows);
    start..end
}

/// The padding above and below the drawn rows that stands in for the others.
pub fn padding(range: &Range<usize>, rows: usize, pitch: f64) -> (f64, f64) {
    let above = range.start as f64 * pitch;
    let below = rows.saturating_sub(range.end) as f64 * pitch;
    (above, below)
}

/// One scroll box and its live [`Viewport`].
#[derive(Clone, Copy)]
pub struct ScrollBox {
    pub node: NodeRef<Div>,
    pub viewport: RwSignal<Viewport>,
    metrics: Metrics,
}

impl ScrollBox {
    /// A box measured once it is on the page and again whenever the window resizes;
    /// the view calls [`ScrollBox::measure`] from the box's `scroll` event, and once
    /// more when its first rows are drawn.
    pub fn new(metrics: Metrics) -> ScrollBox {
        let scroll = ScrollBox {
            node: NodeRef::new(),
            viewport: RwSignal::new(Viewport::default()),
            metrics,
        };
        scroll.node.on_load(move |_| scroll.measure());
        let resize = window_event_listener(leptos::ev::resize, move |_| scroll.measure());
        on_cleanup(move || resize.remove());
        scroll
    }

    pub fn measure(self) {
        let Some(element) = self.node.get_untracked() else {
            return;
        };
        // A box sized by its content is small while it has few rows drawn; counting
        // the window's height instead keeps it from drawing too few to ever grow.
        let window_height = web_sys::window()
            .and_then(|w| w.inner_height().ok())
            .and_then(|h| h.as_f64())
            .unwrap_or_default();
        let (columns, pitch) = match (self.metrics)(&element) {
            Some((columns, pitch)) => (columns, Some(pitch)),
            None => self
                .viewport
                .with_untracked(|v| (v.columns.max(1), v.pitch)),
        };
        self.viewport.set(Viewport {
            top: f64::from(element.scroll_top()),
            height: f64::from(element.client_height()).max(window_height),
            width: f64::from(element.client_width()),
            columns,
            pitch,
        });
    }

    /// Measures again if no row had been drawn when it last did; for the view to call
    /// once it has rows.
    pub fn measure_if_unmeasured(self) {
        if self.viewport.with_untracked(|v| v.pitch.is_none()) {
            self.measure();
        }
    }
}

/// The height of the first element matching `selector` in `element`, if one is drawn.
pub fn row_height(element: &HtmlDivElement, selector: &str) -> Option<f64> {
    let row = element.query_selector(selector).ok().flatten()?;
    let height = row.dyn_into::<web_sys::HtmlElement>().ok()?.offset_height();
    (height > 0).then_some(f64::from(height))
}

/// A length in CSS pixels from a computed style (`"96px"`), if it is one. The browser's
/// own `parseFloat` reads it, which keeps Rust's float parser out of the bundle.
pub fn pixels(computed: &str) -> Option<f64> {
    let number = computed.trim().strip_suffix("px")?;
    Some(js_sys::parse_float(number)).filter(|px| *px > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(top: f64, height: f64) -> Viewport {
        Viewport {
            top,
            height,
            width: 800.0,
            ..Viewport::default()
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn only_the_rows_in_view_and_the_overscan_are_drawn() {
        // 500 rows of 50 px, a 400 px box at the top: 9 rows in view, 4 more below.
        assert_eq!(visible_rows(at(0.0, 400.0), 50.0, 500), 0..13);
        // Scrolled to row 100: 4 rows above it too.
        assert_eq!(visible_rows(at(5_000.0, 400.0), 50.0, 500), 96..113);
        // At the very end nothing runs past the last row.
        assert_eq!(visible_rows(at(24_800.0, 400.0), 50.0, 500), 492..500);
        // Scrolled beyond the end (the list just shrank): an empty range, no panic.
        assert!(visible_rows(at(90_000.0, 400.0), 50.0, 500).is_empty());
        // Fewer rows than fit: all of them.
        assert_eq!(visible_rows(at(0.0, 400.0), 50.0, 3), 0..3);
        assert_eq!(visible_rows(at(0.0, 400.0), 50.0, 0), 0..0);
        assert_eq!(visible_rows(at(0.0, 400.0), 0.0, 10), 0..0, "unmeasured");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn padding_keeps_the_scroll_height_of_every_row() {
        let range = 96..113;
        let (above, below) = padding(&range, 500, 50.0);
        assert_eq!(above, 4_800.0);
        assert_eq!(below, 19_350.0);
        assert_eq!(above + below + 17.0 * 50.0, 500.0 * 50.0);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn pixels_reads_computed_lengths_only() {
        assert_eq!(pixels("96px"), Some(96.0));
        assert_eq!(pixels(" 8.5px "), Some(8.5));
        assert_eq!(pixels("auto"), None);
        assert_eq!(pixels("0px"), None);
    }
}
