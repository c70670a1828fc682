//! What every form of the job resolves before touching the disk (the wallet, the metagraph, the
//! folder, the seal), and the one question asked before it does.

use std::path::PathBuf;

use tessera_chain::{AnyChain, Chain, Metagraph};
use tessera_core::AccountId;
use tessera_core::wallet::expand_tilde;
use tessera_partition::SealProfile;
use tessera_storage::Meta;

use crate::report::Report;
use crate::{Config, Error, workers};

/// Everything resolved from the config before anything on disk is touched.
pub(crate) struct Setup {
    pub(crate) me: AccountId,
    pub(crate) dir: PathBuf,
    pub(crate) db_path: PathBuf,
    pub(crate) profile: SealProfile,
    pub(crate) metagraph: Metagraph,
    pub(crate) workers: usize,
}

pub(crate) async fn setup(config: &Config) -> Result<Setup, Error> {
    // Cheap checks first, so a typo costs nothing.
    let profile: SealProfile = config.seal.parse()?;
    tessera_core::merkle::segment_count(config.chunk_size.0)?;
    // A network name that means nothing is refused before any connection is tried.
    tessera_chain::Source::choose(
        &config.subtensor.network,
        config.subtensor.chain_endpoint.as_deref(),
        config.metagraph.file(),
    )?;
    if config.capacity.is_none() && !(config.threshold > 0.0 && config.threshold <= 1.0) {
        return Err(Error::Threshold(config.threshold));
    }
    // Absolute, because partition.json records the paths for later runs and for the miner,
    // which need not start in the same directory.
    let db_path = expand_tilde(&config.db_path);
    let db_path = std::path::absolute(&db_path).map_err(|source| Error::Io {
        path: db_path.clone(),
        source,
    })?;
    let me = config.wallet.keypair()?.account();
    let source = tessera_chain::Source::choose(
        &config.subtensor.network,
        config.subtensor.chain_endpoint.as_deref(),
        config.metagraph.file(),
    )?;
    let metagraph = AnyChain::new(source, config.netuid).metagraph().await?;
    let dir = tessera_node::node_dir(&db_path, &config.wallet.name, &config.wallet.hotkey);
    let workers = match config.workers {
        0 => workers::default_count(),
        n => n,
    };
    Ok(Setup {
        me,
        dir,
        db_path,
        profile,
        metagraph,
        workers,
    })
}

pub(crate) fn meta(
    miner: AccountId,
    validator: AccountId,
    chunk_size: u64,
    profile: SealProfile,
) -> Meta {
    Meta {
        miner,
        validator,
        chunk_size,
        seal_profile: profile.name().to_owned(),
        seal_passes: profile.params().passes,
    }
}

/// Asks before anything is written (unless `no_prompt`), then creates the node's folder: from
/// here on the disk changes.
pub(crate) fn confirm_and_create(
    config: &Config,
    setup: &Setup,
    report: &mut dyn Report,
    question: &str,
) -> Result<(), Error> {
    if !config.no_prompt && !report.confirm(question) {
        return Err(Error::NotConfirmed);
    }
    std::fs::create_dir_all(&setup.dir).map_err(|source| Error::Io {
        path: setup.dir.clone(),
        source,
    })
}
