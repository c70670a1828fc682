//! The slots whose content the gateway is changing on each miner, in memory: promised to a
//! piece in flight, or released and not yet resealed. The challenge loop reads this book so that
//! no slot is judged while its content is in motion (see `tessera_core::slot`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tessera_core::AccountId;
use tessera_core::commit::{self, LeafChange};
use tessera_core::slot::SlotState;
use tessera_rpc::now_ms;

/// How long a released slot is spared from challenges while the miner reseals it, at most: a
/// reseal takes seconds; a slot still empty after this counts as missing.
pub const RESEAL_GRACE: Duration = Duration::from_secs(3600);

/// Slots whose content this validator is changing on each miner. A released slot (with when)
/// holds nothing (`EMPTY`) until the miner reseals it, and is challenged against neither root
/// until the miner's signed update shows it holds something again (or the grace runs out). A
/// reserved slot is getting a piece the index may not record yet: an audit of it proves no lie.
#[derive(Debug, Default)]
pub struct Slots {
    released: Mutex<HashMap<AccountId, HashMap<u64, u64>>>,
    reserved: Mutex<HashMap<AccountId, std::collections::HashSet<u64>>>,
    /// Slots forgotten by `seen`, for the state file to forget too (`take_resealed`).
    resealed: Mutex<HashMap<AccountId, Vec<u64>>>,
}

impl Slots {
    pub fn mark(&self, miner: &AccountId, slots: &[u64]) {
        self.mark_at(miner, slots, now_ms());
    }

    /// Marks `slots` as released at `at_ms`: how the state file's memory of slots resealing is
    /// taken back after a restart.
    pub fn mark_at(&self, miner: &AccountId, slots: &[u64], at_ms: u64) {
        let mut all = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let mine = all.entry(*miner).or_default();
        for s in slots {
            mine.insert(*s, at_ms);
        }
    }

    /// Forgets the slots an update shows holding something other than `EMPTY`.
    pub fn seen(&self, miner: &AccountId, changes: &[LeafChange]) {
        let mut all = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let mut gone = Vec::new();
        if let Some(mine) = all.get_mut(miner) {
            for c in changes.iter().filter(|c| c.new != commit::EMPTY) {
                if mine.remove(&c.slot).is_some() {
                    gone.push(c.slot);
                }
            }
        }
        if !gone.is_empty() {
            let mut resealed = self.resealed.lock().unwrap_or_else(|e| e.into_inner());
            resealed.entry(*miner).or_default().extend(gone);
        }
    }

    /// The slots `seen` forgot since the last call, by miner.
    pub fn take_resealed(&self) -> HashMap<AccountId, Vec<u64>> {
        std::mem::take(&mut *self.resealed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The slots of `miner` still spared.
    pub fn spared(&self, miner: &AccountId) -> Vec<u64> {
        let cutoff = now_ms().saturating_sub(RESEAL_GRACE.as_millis() as u64);
        let mut all = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mine) = all.get_mut(miner) else {
            return Vec::new();
        };
        mine.retain(|_, at| *at >= cutoff);
        mine.keys().copied().collect()
    }

    /// The gateway promised `slot` of `miner` to a piece in flight.
    pub fn reserve(&self, miner: &AccountId, slot: u64) {
        let mut all = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(*miner).or_default().insert(slot);
    }

    /// The promise ended: the piece is in the index, or the slot is free again.
    pub fn unreserve(&self, miner: &AccountId, slot: u64) {
        let mut all = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mine) = all.get_mut(miner) {
            mine.remove(&slot);
        }
    }

    /// The state of `slot` of `miner` when this book holds it: promised to a piece in flight
    /// (`Reserved`) or released and not yet resealed (`Resealing`). `None` leaves the slot to
    /// the index (`Pending`, `Data`, `Releasing`) or to the commitment (`Filler`).
    pub fn state(&self, miner: &AccountId, slot: u64) -> Option<SlotState> {
        let reserved = self
            .reserved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(miner)
            .is_some_and(|m| m.contains(&slot));
        if reserved {
            Some(SlotState::Reserved)
        } else if self.spared(miner).contains(&slot) {
            Some(SlotState::Resealing)
        } else {
            None
        }
    }
}
