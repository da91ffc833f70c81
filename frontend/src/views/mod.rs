//! The pages, one per route. Each imports the layers below it (the context, the
//! store, the helpers, the parts), never another view: what two views share moves
//! down into `parts` or the helpers.

pub mod agent;
pub mod audit;
pub mod console;
pub mod event_log;
pub mod history;
pub mod pop;
pub mod supervisor;
pub mod wallboard;
