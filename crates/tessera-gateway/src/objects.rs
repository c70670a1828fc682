//! Objects as clients see them: their own live objects, their health, and deleting one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tessera_core::AccountId;
use tessera_object::ObjectId;
use tessera_proto::gateway::v1::ObjectInfo;
use tessera_rpc::now_ms;
use tessera_storage::{ObjectRecord, PlacementRecord};

use crate::miners::{Holder, MIN_REPUTATION};
use crate::{Error, Gateway};

impl Gateway {
    /// `owner`'s live, complete object `id`; anyone else is told it does not exist, so that ids
    /// of others' objects cannot even be confirmed.
    pub(crate) async fn owned(&self, id: &[u8], owner: &AccountId) -> Result<ObjectRecord, Error> {
        let id = ObjectId::from_slice(id)
            .ok_or_else(|| Error::BadRequest("object id must be 16 bytes".into()))?;
        match self.state.object(&id.0).await? {
            Some(o) if o.complete && o.object.owner == *owner && o.object.expires_ms > now_ms() => {
                Ok(o)
            }
            _ => Err(Error::NotFound(format!("object {id} not found"))),
        }
    }

    /// Refuses object `o` to a client's `verb` (delete, read) when an S3 entry or upload holds
    /// it: such objects are the S3 face's, which does that through S3.
    pub(crate) async fn not_held_by_s3(&self, o: &ObjectRecord, verb: &str) -> Result<(), Error> {
        match self.state.s3_holder(&o.object.id).await? {
            Some(holder) => Err(Error::HeldByS3(format!(
                "object {} holds S3 entry {holder}; {verb} it through S3",
                ObjectId(o.object.id)
            ))),
            None => Ok(()),
        }
    }

    /// The wire description of `o`, with the health of its segments.
    pub(crate) async fn info(&self, o: &ObjectRecord) -> Result<ObjectInfo, Error> {
        let placements = self.state.placements(&o.object.id).await?;
        let (_, holders) = self.miners_now().await?;
        let health = health(&placements, &holders, o.object.segments);
        Ok(object_info(o, &health))
    }

    /// `owner`'s live objects, oldest first, with their health; not those the S3 face holds,
    /// which S3's listings show by key (and which only the gateway can open).
    pub(crate) async fn list_objects(&self, owner: &AccountId) -> Result<Vec<ObjectInfo>, Error> {
        let now = now_ms();
        let (_, holders) = self.miners_now().await?;
        let s3 = self.state.s3_objects_of(owner).await?;
        let mut objects = Vec::new();
        for o in self.state.objects_of(owner).await? {
            if o.object.expires_ms <= now || s3.contains(&o.object.id) {
                continue;
            }
            let placements = self.state.placements(&o.object.id).await?;
            objects.push(object_info(
                &o,
                &health(&placements, &holders, o.object.segments),
            ));
        }
        Ok(objects)
    }

    pub(crate) async fn stat_object(
        &self,
        id: &[u8],
        owner: &AccountId,
    ) -> Result<ObjectInfo, Error> {
        let o = self.owned(id, owner).await?;
        self.info(&o).await
    }

    /// Ends `owner`'s object `id` now: gone for the client at once, its slots given back to
    /// filler by the next reclaim sweep. An object an S3 entry or upload holds is refused: S3
    /// would still list the entry and fail to read it; S3's own delete ends it.
    pub(crate) async fn delete_object(&self, id: &[u8], owner: &AccountId) -> Result<(), Error> {
        let o = self.owned(id, owner).await?;
        self.not_held_by_s3(&o, "delete").await?;
        self.state
            .expire_object(&o.object.id, owner, now_ms())
            .await?;
        tracing::info!(object = %ObjectId(o.object.id), %owner, "object deleted");
        Ok(())
    }
}

/// How many of `holders` are trusted with new pieces now: a put needs `n` of them.
pub(crate) fn ready(holders: &HashMap<AccountId, Holder>) -> usize {
    holders
        .values()
        .filter(|h| h.reputation >= MIN_REPUTATION)
        .count()
}

/// Healthy pieces per segment: pieces with a placement on a miner that can hold pieces now and
/// that has not failed since.
pub(crate) fn health(
    placements: &[PlacementRecord],
    holders: &HashMap<AccountId, Holder>,
    segments: u64,
) -> Vec<u16> {
    let mut by_segment: BTreeMap<u64, BTreeSet<u16>> = BTreeMap::new();
    for p in placements {
        let ok = !p.failed
            && holders
                .get(&p.miner)
                .is_some_and(|h| h.reputation >= MIN_REPUTATION);
        let entry = by_segment.entry(p.segment).or_default();
        if ok {
            entry.insert(p.piece);
        }
    }
    (0..segments)
        .map(|s| by_segment.get(&s).map_or(0, |set| set.len() as u16))
        .collect()
}

pub(crate) fn object_info(o: &ObjectRecord, health: &[u16]) -> ObjectInfo {
    let n = &o.object;
    ObjectInfo {
        id: n.id.to_vec(),
        size: n.size,
        digest: n.digest.to_vec(),
        k: u32::from(n.k),
        n: u32::from(n.n),
        piece_size: n.piece_size,
        segments: n.segments,
        created_ms: n.created_ms,
        expires_ms: n.expires_ms,
        healthy_pieces: health.iter().map(|h| u64::from(*h)).sum(),
        weakest_segment: health.iter().copied().min().map_or(0, u32::from),
    }
}
