//! Per-account bounds on actions: how many may be in flight, and how many may start
//! per second. Past them the caller is refused at once, never queued.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("too many actions in flight ({0} at most): wait for one to finish")]
    InFlight(usize),
    #[error("too many actions ({0} a second at most): slow down")]
    Rate(u32),
}

/// Held while an action runs.
pub struct Permit {
    _held: OwnedSemaphorePermit,
}

pub struct ActionLimiter {
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    per_second: u32,
    /// Start of the current one-second window and the actions started in it.
    window: Mutex<(Instant, u32)>,
}

impl ActionLimiter {
    pub fn new(max_in_flight: usize, per_second: u32) -> ActionLimiter {
        ActionLimiter {
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            per_second,
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    pub fn try_acquire(&self) -> Result<Permit, LimitError> {
        {
            let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if now.duration_since(window.0) >= Duration::from_secs(1) {
                *window = (now, 0);
            }
            if window.1 >= self.per_second {
                return Err(LimitError::Rate(self.per_second));
            }
            window.1 += 1;
        }
        self.in_flight
            .clone()
            .try_acquire_owned()
            .map(|held| Permit { _held: held })
            .map_err(|_| LimitError::InFlight(self.max_in_flight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_at_n_minus_one_n_and_n_plus_one() {
        let limiter = ActionLimiter::new(3, 100);
        let held: Vec<Permit> = (0..2).map(|_| limiter.try_acquire().unwrap()).collect();
        let third = limiter.try_acquire().expect("N-th");
        assert_eq!(
            limiter.try_acquire().err(),
            Some(LimitError::InFlight(3)),
            "N+1-th"
        );
        drop(third);
        assert!(
            limiter.try_acquire().is_ok(),
            "a finished action frees its place"
        );
        drop(held);
    }

    #[test]
    fn rate_at_n_and_n_plus_one() {
        let limiter = ActionLimiter::new(100, 5);
        for _ in 0..5 {
            drop(limiter.try_acquire().unwrap());
        }
        assert_eq!(limiter.try_acquire().err(), Some(LimitError::Rate(5)));
    }
}
