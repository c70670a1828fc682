//! What the gateway learns about miners between challenge rounds, for the round to fold into
//! their records: failed pieces, pieces served, and bytes held in segments near repair.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tessera_core::AccountId;
use tessera_storage::ChallengeRecord;

/// Failed items and served pieces the gateway saw between rounds, folded into miners' records
/// by the next round.
#[derive(Debug, Default)]
pub struct Ledger {
    pub(crate) penalties: Mutex<HashMap<AccountId, Vec<ChallengeRecord>>>,
    pub(crate) served: Mutex<HashMap<AccountId, (u64, Duration)>>,
    /// Bytes of each miner's pieces in segments close to their repair threshold, as of the last
    /// repair sweep.
    rare: Mutex<HashMap<AccountId, u64>>,
}

impl Ledger {
    /// The failed items recorded against `miner` since the last call.
    pub fn take_penalties(&self, miner: &AccountId) -> Vec<ChallengeRecord> {
        let mut p = self.penalties.lock().unwrap_or_else(|p| p.into_inner());
        p.remove(miner).unwrap_or_default()
    }

    /// Bytes each miner served correctly, and the time it took, since the last call.
    pub fn take_served(&self) -> HashMap<AccountId, (u64, Duration)> {
        let mut s = self.served.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *s)
    }

    pub fn rare_bytes(&self, miner: &AccountId) -> u64 {
        let r = self.rare.lock().unwrap_or_else(|p| p.into_inner());
        r.get(miner).copied().unwrap_or(0)
    }

    pub(crate) fn set_rare(&self, rare: HashMap<AccountId, u64>) {
        *self.rare.lock().unwrap_or_else(|p| p.into_inner()) = rare;
    }
}
