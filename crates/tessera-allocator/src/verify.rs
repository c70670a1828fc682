//! `allocate --verify`: the operator's fsck, re-deriving every stored chunk.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tessera_core::{merkle, sha256};
use tessera_partition::{SealKey, SealProfile};
use tessera_storage::PartitionDb;

use crate::report::{Event, Outcome, Report};
use crate::setup::{Setup, meta};
use crate::{Error, layout, workers};

/// `--verify`: re-derives every chunk listed in `partition.json` and compares it with what is
/// stored, byte for byte and root for root. It is the operator's fsck.
pub(crate) async fn verify(setup: &Setup, report: &mut dyn Report) -> Result<Outcome, Error> {
    let entries = layout::read_partition_json(&setup.dir)?;
    let mut checked = 0;
    let mut bad = Vec::new();
    for entry in &entries {
        let profile: SealProfile = entry.seal.parse()?;
        let key = SealKey::new(
            entry.owner,
            entry.validator,
            entry.chunk_size,
            profile.params(),
        )?;
        if !entry.path.exists() {
            let all: Vec<u64> = (0..entry.n_chunks).collect();
            report.event(Event::Checked {
                path: &entry.path,
                n_chunks: entry.n_chunks,
                bad: &all,
                missing: true,
            });
            bad.push((entry.path.clone(), all));
            checked += entry.n_chunks;
            continue;
        }
        let db = PartitionDb::open(
            &entry.path,
            &meta(entry.owner, entry.validator, entry.chunk_size, profile),
        )
        .await?;
        // Slots holding client data are not sealed: they are checked against their own root,
        // and may lie past a shrunk plan until their validator releases them.
        let data: std::collections::HashSet<u64> = db.data_ids().await?.into_iter().collect();
        let extra: Vec<u64> = db
            .chunk_ids()
            .await?
            .into_iter()
            .filter(|id| *id >= entry.n_chunks && !data.contains(id))
            .collect();
        let handle = tokio::runtime::Handle::current();
        let reader = db.clone();
        // Filler seals in batches, as in allocation; the queue holds one batch per worker.
        let widest = sha256::preferred_lanes();
        let mut rx = workers::spawn(
            (0..entry.n_chunks).collect::<Vec<u64>>(),
            setup.workers,
            widest,
            widest * setup.workers,
            Arc::new(AtomicBool::new(false)),
            move |ids: &[u64]| {
                // Filler is sealed first, then each stored chunk is read and compared in turn,
                // so that a worker holds one batch and one stored chunk, not two batches.
                let filler: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|id| !data.contains(id))
                    .collect();
                let mut expected = workers::seal_chunks(&key, &filler, &mut Vec::new()).into_iter();
                ids.iter()
                    .map(|&id| {
                        let is_data = data.contains(&id);
                        let want = if is_data { None } else { expected.next() };
                        // Worker threads are outside the runtime, so they may block on it to read.
                        let ok = match handle.block_on(reader.get(id)) {
                            Ok(Some(chunk)) if is_data => {
                                merkle::root(&chunk.data).is_ok_and(|r| r == chunk.root)
                            }
                            Ok(Some(chunk)) => want.is_some_and(|w| {
                                w.id == id && w.data == chunk.data && w.root == chunk.root
                            }),
                            Ok(None) => false,
                            Err(e) => {
                                tracing::warn!(id, error = %e, "chunk unreadable");
                                false
                            }
                        };
                        (id, ok)
                    })
                    .collect::<Vec<_>>()
            },
        );
        let mut wrong = Vec::new();
        let mut seen = 0;
        while let Some((id, ok)) = rx.recv().await {
            seen += 1;
            if !ok {
                wrong.push(id);
            }
        }
        db.close().await;
        // A chunk whose check never came back must not pass for a good one.
        if seen != entry.n_chunks {
            return Err(Error::Worker);
        }
        checked += seen;
        wrong.extend(extra);
        wrong.sort_unstable();
        report.event(Event::Checked {
            path: &entry.path,
            n_chunks: entry.n_chunks,
            bad: &wrong,
            missing: false,
        });
        if !wrong.is_empty() {
            bad.push((entry.path.clone(), wrong));
        }
    }
    Ok(Outcome::Verified {
        partitions: entries.len(),
        checked,
        bad,
    })
}
