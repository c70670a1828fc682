//! A chain backed by files on disk, for local networks and tests: the metagraph file, and one
//! weights file per validator beside it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::net::SocketAddr;

use tessera_core::{AccountId, Keypair};

use crate::weights::check_weights;
use crate::{Chain, ChainWeights, Error, Metagraph, Reveal, Served, WeightsRecord};

/// Reads the metagraph from a TOML file, every time it is asked, so edits take effect at the next
/// reallocation without a restart. Weights go to `weights-<validator ss58>.toml` in the same
/// directory.
#[derive(Debug, Clone)]
pub struct LocalChain {
    path: PathBuf,
    netuid: u16,
}

impl LocalChain {
    /// A chain for subnet `netuid` whose metagraph is the file at `path`; nothing is read yet.
    pub fn new(path: impl Into<PathBuf>, netuid: u16) -> Self {
        Self {
            path: path.into(),
            netuid,
        }
    }

    /// The metagraph file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file holding the weights `validator` last set, beside the metagraph file.
    pub fn weights_path(&self, validator: &AccountId) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        dir.join(format!("weights-{validator}.toml"))
    }
}

impl Chain for LocalChain {
    async fn metagraph(&self) -> Result<Metagraph, Error> {
        // A blocking read is fine here: the file is small and read once per reallocation, and it
        // keeps this crate free of any particular async runtime.
        let text = std::fs::read_to_string(&self.path).map_err(|source| Error::Read {
            path: self.path.clone(),
            source,
        })?;
        Metagraph::from_toml(&text, &self.path, self.netuid)
    }

    /// A local file lists axons by hand (or the devnet writes them): nothing to publish.
    async fn serve_axon(&self, _signer: &Keypair, _axon: SocketAddr) -> Result<Served, Error> {
        Ok(Served::Unchanged)
    }

    /// Writes the shares the values stand for to the signer's weights file.
    async fn set_weights(&self, signer: &Keypair, weights: &ChainWeights) -> Result<u64, Error> {
        self.write_weights(&signer.account(), &weights.shares())
            .map(|()| 0)
    }

    async fn commit_weights(&self, _signer: &Keypair, _hash: [u8; 32]) -> Result<u64, Error> {
        Err(self.no_commit_reveal())
    }

    async fn reveal_weights(&self, _signer: &Keypair, _reveal: &Reveal) -> Result<u64, Error> {
        Err(self.no_commit_reveal())
    }
}

impl LocalChain {
    fn no_commit_reveal(&self) -> Error {
        Error::Unsupported(format!(
            "metagraph {}: a local metagraph file has no commit-reveal",
            self.path.display()
        ))
    }

    /// Writes `validator`'s weights file: (uid, weight) pairs whose weights are finite, not
    /// negative and sum to 1 (within [`crate::WEIGHT_SUM_TOLERANCE`]), each uid once; an empty set
    /// clears them. Anything else is refused and the file is left as it was.
    pub fn write_weights(
        &self,
        validator: &AccountId,
        weights: &[(u16, f64)],
    ) -> Result<(), Error> {
        let path = self.weights_path(validator);
        check_weights(weights).map_err(|bad| Error::BadWeights {
            path: path.clone(),
            reason: bad.reason,
        })?;
        let record = WeightsRecord {
            validator: *validator,
            netuid: self.netuid,
            set_at_ms: now_ms(),
            weights: weights.to_vec(),
        };
        // Blocking, like the metagraph read: a few hundred bytes and one fsync per epoch.
        write_atomically(&path, record.to_toml().as_bytes())
            .map_err(|source| Error::WeightsIo { path, source })
    }

    /// The weights `validator` last set, or `None` if it never set any.
    pub async fn weights(&self, validator: &AccountId) -> Result<Option<WeightsRecord>, Error> {
        let path = self.weights_path(validator);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::WeightsIo { path, source }),
        };
        WeightsRecord::from_toml(&text, &path, validator, self.netuid).map(Some)
    }
}

/// Milliseconds since the unix epoch; 0 on a clock set before it.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Replaces `path` with `contents` so that a reader, in this process or another, sees the old
/// file or the new one and never part of either: a temporary file in the same directory (so the
/// rename stays on one file system) is written, synced and renamed over the target.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    // Unique per process and call, so two writers never share a temporary file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "weights".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // The target is untouched; only the temporary may be left, and it is of no use.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory entry is on disk; failing to sync a
    // directory (which some platforms do not allow) does not undo the write.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
