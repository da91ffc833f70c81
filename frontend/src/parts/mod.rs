//! Parts that views draw, below every view: the extension grid and the call list (the
//! supervisor's), the queue cards (the agent's and the supervisor's), the conference
//! room cards (the supervisor's), and the keyboard shortcuts with their list (the
//! frame's). A part reads
//! the context, the store and the helpers; it imports no view and no other part.

pub mod calls;
pub mod conferences;
pub mod extensions;
pub mod queues;
pub mod shortcuts;
