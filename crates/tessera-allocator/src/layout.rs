//! Where things live under `<db_path>/<wallet.name>/<wallet.hotkey>/`, and `partition.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tessera_core::AccountId;

use crate::Error;

pub(crate) const PARTITION_JSON: &str = "partition.json";

/// One partition as `partition.json` lists it: the prototype's fields plus chunk size and seal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionEntry {
    /// The partition's database file.
    pub path: PathBuf,
    /// The miner's hotkey.
    pub owner: AccountId,
    pub validator: AccountId,
    /// Bytes of sealed data: `n_chunks * chunk_size`.
    pub size: u64,
    pub n_chunks: u64,
    /// Hex digest of everything the partition's chunks derive from (see docs/protocol.md).
    pub seed: String,
    pub chunk_size: u64,
    /// Seal profile name, `dev` or `production`.
    pub seal: String,
    /// Set when the validator has left the plan but the partition holds client data: it is kept
    /// (and served, should the validator come back) until then, in Unix milliseconds, and
    /// counts toward no plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until_ms: Option<u64>,
}

/// `partition.json`: the partitions, and the capacity the operator chose, kept until a smaller
/// one is asked for explicitly so that a forgotten flag or a filling disk never deletes sealed
/// chunks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionFile {
    /// Bytes; `None` in a file from before it was recorded.
    pub capacity: Option<u64>,
    pub partitions: Vec<PartitionEntry>,
}

/// Either form of the file: a bare list is how it was written before the capacity was recorded.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyForm {
    Current(PartitionFile),
    List(Vec<PartitionEntry>),
}

pub(crate) fn write_partition_json(dir: &Path, file: &PartitionFile) -> Result<(), Error> {
    let path = dir.join(PARTITION_JSON);
    let tmp = dir.join(format!(".{PARTITION_JSON}.new"));
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let text = serde_json::to_string_pretty(file).expect("plain data serialises");
    // Write beside, sync, then rename: readers see the old file or the new one, never half.
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// The partitions `partition.json` lists.
pub fn read_partition_json(dir: &Path) -> Result<Vec<PartitionEntry>, Error> {
    Ok(read_partition_file(dir)?.partitions)
}

/// The whole of `partition.json`; an error naming the file when it is missing or malformed.
pub fn read_partition_file(dir: &Path) -> Result<PartitionFile, Error> {
    let path = dir.join(PARTITION_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::PartitionFile {
        path: path.clone(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "missing: allocate first".to_owned()
        } else {
            e.to_string()
        },
    })?;
    match serde_json::from_str(&text) {
        Ok(AnyForm::Current(file)) => Ok(file),
        Ok(AnyForm::List(partitions)) => Ok(PartitionFile {
            capacity: None,
            partitions,
        }),
        Err(e) => Err(Error::PartitionFile {
            path,
            reason: format!("malformed: {e}"),
        }),
    }
}

/// `partition.json` when there is one; `None` before the first allocation.
pub(crate) fn read_partition_file_if_any(dir: &Path) -> Result<Option<PartitionFile>, Error> {
    if !dir.join(PARTITION_JSON).exists() {
        return Ok(None);
    }
    read_partition_file(dir).map(Some)
}
