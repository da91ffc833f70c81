//! Following one server's model over the WebSocket: a snapshot, then deltas by `seq`.
//!
//! Snapshots and deltas of a server share one `seq` (`PROTOCOL.md`): a delta at or
//! below the `seq` held is already in the model and is dropped, the next one is
//! applied, and any other means one was lost: the follower asks for a `resync` once
//! and drops what comes until the snapshot that answers it. Every reader of the
//! relay's stream (the SPA, the relay's tests, the bench's panels) follows it with
//! this one type, so they cannot read the same stream differently.

/// What to do with a delta; see [`Follower::delta`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The next delta: apply its changes.
    Apply,
    /// Already held (at or below the `seq` of the model), or arriving while a resync
    /// is on its way: drop it.
    Drop,
    /// Not the next one: drop it and ask for a fresh snapshot (`resync`).
    Resync,
}

/// The `seq` a reader's model holds, and whether it has asked for a snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Follower {
    /// The `seq` of the model held; `None` before the first snapshot.
    seq: Option<u64>,
    /// A resync was asked for and its snapshot has not come yet.
    resyncing: bool,
}

impl Follower {
    /// The `seq` the model holds; `None` before the first snapshot.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// A snapshot at `seq` replaced the model: follow from there, whatever came before.
    pub fn snapshot(&mut self, seq: u64) {
        self.seq = Some(seq);
        self.resyncing = false;
    }

    /// What to do with the delta `seq`; an applied one moves the follower on.
    pub fn delta(&mut self, seq: u64) -> Step {
        match self.seq {
            Some(held) if seq <= held => Step::Drop,
            Some(held) if seq == held + 1 => {
                self.seq = Some(seq);
                Step::Apply
            }
            // Lost deltas, or none before a snapshot: ask once; the answer resets.
            _ if self.resyncing => Step::Drop,
            _ => {
                self.resyncing = true;
                Step::Resync
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_follow_the_snapshot_one_seq_at_a_time() {
        let mut follower = Follower::default();
        follower.snapshot(5);
        assert_eq!(follower.delta(4), Step::Drop, "below the snapshot");
        assert_eq!(follower.delta(5), Step::Drop, "in the snapshot");
        assert_eq!(follower.delta(6), Step::Apply);
        assert_eq!(follower.delta(6), Step::Drop, "applied already");
        assert_eq!(follower.delta(7), Step::Apply);
        assert_eq!(follower.seq(), Some(7));
    }

    #[test]
    fn a_gap_asks_for_one_resync_and_the_snapshot_resets() {
        let mut follower = Follower::default();
        follower.snapshot(5);
        assert_eq!(follower.delta(7), Step::Resync, "6 was lost");
        assert_eq!(follower.delta(8), Step::Drop, "the resync is on its way");
        assert_eq!(follower.delta(6), Step::Apply, "6, late but next");
        assert_eq!(follower.seq(), Some(6));
        assert_eq!(follower.delta(9), Step::Drop, "still waiting");
        follower.snapshot(20);
        assert_eq!(follower.seq(), Some(20));
        assert_eq!(follower.delta(21), Step::Apply);
        assert_eq!(follower.delta(23), Step::Resync, "a new gap asks again");
    }

    #[test]
    fn a_snapshot_may_go_back_and_a_delta_before_any_asks_for_one() {
        let mut follower = Follower::default();
        assert_eq!(follower.seq(), None);
        assert_eq!(follower.delta(1), Step::Resync, "no snapshot yet");
        assert_eq!(follower.delta(2), Step::Drop);
        follower.snapshot(9);
        // The relay restarted: its seq starts over, and its snapshot says so.
        follower.snapshot(3);
        assert_eq!(follower.delta(4), Step::Apply);
    }
}
