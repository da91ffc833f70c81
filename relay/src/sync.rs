//! A poison-tolerant lock for the relay's `std` mutexes.
//!
//! Every critical section in the relay leaves its data whole before anything in it
//! can panic, so a poisoned mutex holds nothing broken: taking its guard is safe, and
//! cheaper than making every caller handle an error that cannot mean anything.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking the guard of a poisoned one as it is.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
