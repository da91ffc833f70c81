//! Who a person is: relay accounts (`users`), the failed-login ledgers (`throttle`),
//! and the logins kept across a restart (`store`).

pub mod store;
pub mod throttle;
pub mod tokens;
pub mod users;
