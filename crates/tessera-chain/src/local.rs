//! A chain backed by a metagraph file on disk, for local networks and tests.

use std::path::PathBuf;

use crate::{Chain, Error, Metagraph};

/// Reads the metagraph from a TOML file, every time it is asked, so edits take effect at the next
/// reallocation without a restart.
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
}
