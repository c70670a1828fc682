//! The life of one slot of a miner's partition, from filler to client data and back: the one
//! type that names its states, and the moves between them. docs/ARCHITECTURE.md draws the same
//! cycle, with what is durable at each step and what a crash leaves behind.

/// Where a slot is in its life. The miner only ever sees filler and data; the other states are
/// the validator's bookkeeping while the slot's content moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotState {
    /// Sealed filler, as allocation or a reseal made it: challenged through the commitment and
    /// audited against the validator's own seal.
    Filler,
    /// Promised by the gateway to a piece in flight (a put or a repair), before the index
    /// records the piece. In memory only.
    Reserved,
    /// Holds a piece of an object whose put has not committed: placed in the index, invisible
    /// to the client, reclaimed if the put dies. Not judged: the piece may not have arrived.
    Pending,
    /// Holds a piece of a committed object: challenged against the piece's recorded root.
    Data,
    /// Its piece moved away or its object ended: the release is recorded and sent every round
    /// until the miner confirms it.
    Releasing,
    /// The miner confirmed the release and reseals the slot as filler; until its signed update
    /// shows it full (or the grace runs out) it holds nothing.
    Resealing,
}

/// How a challenge item that lands on a slot is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    /// Its leaf must fold into the commitment (and, when audited, be the validator's seal).
    AgainstCommitment,
    /// Its leaf must be the root of the piece the index recorded.
    AgainstPiece,
    /// Its content is in motion: a failure proves nothing, so it counts neither way.
    NotJudged,
}

impl SlotState {
    /// Every state, in the order of the cycle.
    pub const ALL: [SlotState; 6] = [
        SlotState::Filler,
        SlotState::Reserved,
        SlotState::Pending,
        SlotState::Data,
        SlotState::Releasing,
        SlotState::Resealing,
    ];

    /// The states this one may move to. A reservation that fails ends back in filler; a
    /// pending piece either commits or is released; everything released is resealed.
    pub fn next(self) -> &'static [SlotState] {
        use SlotState::*;
        match self {
            Filler => &[Reserved],
            Reserved => &[Pending, Data, Filler],
            Pending => &[Data, Releasing],
            Data => &[Releasing],
            Releasing => &[Resealing],
            Resealing => &[Filler],
        }
    }

    /// Whether a move from `self` to `to` is one of the slot's life.
    pub fn can_move_to(self, to: SlotState) -> bool {
        self.next().contains(&to)
    }

    /// How a challenge item on a slot in this state is judged.
    pub fn judged(self) -> Judged {
        match self {
            SlotState::Filler => Judged::AgainstCommitment,
            SlotState::Data => Judged::AgainstPiece,
            SlotState::Reserved
            | SlotState::Pending
            | SlotState::Releasing
            | SlotState::Resealing => Judged::NotJudged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_life_of_a_slot_is_one_cycle_through_every_state() {
        // Following the first move out of each state walks the whole cycle and comes back.
        let mut at = SlotState::Filler;
        let mut seen = vec![at];
        loop {
            at = match at {
                SlotState::Reserved => SlotState::Pending,
                SlotState::Pending => SlotState::Data,
                other => other.next()[0],
            };
            if at == SlotState::Filler {
                break;
            }
            seen.push(at);
        }
        assert_eq!(seen, SlotState::ALL);
        // Every state can be reached, and every state can be left.
        for s in SlotState::ALL {
            assert!(!s.next().is_empty(), "{s:?} is a dead end");
            assert!(
                SlotState::ALL.iter().any(|from| from.can_move_to(s)),
                "{s:?} cannot be reached"
            );
        }
    }

    #[test]
    fn only_filler_and_committed_pieces_are_judged() {
        let judged: Vec<(SlotState, Judged)> =
            SlotState::ALL.iter().map(|s| (*s, s.judged())).collect();
        assert_eq!(
            judged,
            [
                (SlotState::Filler, Judged::AgainstCommitment),
                (SlotState::Reserved, Judged::NotJudged),
                (SlotState::Pending, Judged::NotJudged),
                (SlotState::Data, Judged::AgainstPiece),
                (SlotState::Releasing, Judged::NotJudged),
                (SlotState::Resealing, Judged::NotJudged),
            ]
        );
        // Data never goes straight back to filler: its release must be confirmed first, or a
        // slot could be challenged against the seal while it still holds a piece.
        assert!(!SlotState::Data.can_move_to(SlotState::Filler));
        assert!(!SlotState::Releasing.can_move_to(SlotState::Filler));
    }
}
