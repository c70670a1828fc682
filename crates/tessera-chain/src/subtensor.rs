//! The Subtensor backend: a subnet's metagraph read from chain storage, and extrinsics signed by
//! the node's hotkey, through subxt's metadata-driven (dynamic) API.
//!
//! Everything is decoded from the metadata the node serves at connect time, so one build works
//! against the test chain's runtime (spec 218) and mainnet's newer ones alike. Storage items are
//! read rather than runtime APIs: `Keys`, `Axons`, `ValidatorPermit`, `LastUpdate`, `Owner` and
//! `TotalHotkeyAlpha` keep their layout across versions, while the neuron-info APIs changed from
//! opaque bytes to typed structs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use futures::future::try_join_all;
use subxt::dynamic::{self, At as _, Value};
use subxt::tx::{Payload, Signer, TransactionStatus};
use subxt::utils::{AccountId32, MultiSignature};
use subxt::{OnlineClient, SubstrateConfig};
use tessera_core::{AccountId, Keypair};

use crate::metagraph::{Metagraph, Neuron, SubnetParams};
use crate::weights::{ChainWeights, Reveal};
use crate::{Chain, Error};

type Config = SubstrateConfig;

const PALLET: &str = "SubtensorModule";

/// The version a miner publishes with its axon.
const AXON_VERSION: u32 = 1;

/// Axon protocol number for gRPC, in the chain's `protocol` field (Bittensor uses 4 for HTTP).
pub const PROTOCOL_GRPC: u8 = 4;

/// Calls of timelocked (drand) commit-reveal; a runtime that has one of them and has commit-reveal
/// switched on for a subnet expects those instead of plain commits.
const TIMELOCKED_CALLS: [&str; 3] = [
    "commit_crv3_weights",
    "commit_timelocked_weights",
    "commit_timelocked_mechanism_weights",
];

/// A Subtensor node at one URL, for one subnet. Connects on first use and again after a failure;
/// calls made while it is unreachable fail at once with [`Error::Unreachable`].
pub struct SubtensorChain {
    url: String,
    netuid: u16,
    client: tokio::sync::Mutex<Option<OnlineClient<Config>>>,
    /// One extrinsic at a time per node: the nonce comes from the chain's state, which counts
    /// only included transactions.
    submitting: tokio::sync::Mutex<()>,
    /// How long an extrinsic may take to land in a block before it counts as failed.
    pub include_timeout: Duration,
}

impl std::fmt::Debug for SubtensorChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubtensorChain")
            .field("url", &self.url)
            .field("netuid", &self.netuid)
            .finish_non_exhaustive()
    }
}

/// What happened to a `serve_axon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The chain held this axon already; nothing was submitted.
    Unchanged,
    /// The axon was published in a block.
    Published,
}

impl SubtensorChain {
    /// A backend for subnet `netuid` of the node at `url`; nothing is contacted yet.
    pub fn new(url: impl Into<String>, netuid: u16) -> Self {
        Self {
            url: url.into(),
            netuid,
            client: tokio::sync::Mutex::new(None),
            submitting: tokio::sync::Mutex::new(()),
            include_timeout: Duration::from_secs(60),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn netuid(&self) -> u16 {
        self.netuid
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> Error {
        Error::Unreachable {
            url: self.url.clone(),
            reason: one_line(e),
        }
    }

    /// The connected client, connecting first if there is none.
    async fn client(&self) -> Result<OnlineClient<Config>, Error> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let rpc = subxt::rpcs::RpcClient::from_insecure_url(&self.url)
            .await
            .map_err(|e| self.unreachable(e))?;
        // The legacy RPC methods only: every Subtensor node and chopsticks serve them, and a
        // pool's refusal comes back as that error rather than hidden behind another backend's.
        let backend = subxt::backend::LegacyBackend::<Config>::builder()
            .storage_page_size(1000)
            .build(rpc);
        let client = OnlineClient::<Config>::from_backend(std::sync::Arc::new(backend))
            .await
            .map_err(|e| self.unreachable(e))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Drops the connection after a failure, so the next call connects afresh.
    async fn forget(&self) {
        *self.client.lock().await = None;
    }

    /// Runs `read` on a connected client; a failure drops the connection.
    async fn with_client<T, F, Fut>(&self, read: F) -> Result<T, Error>
    where
        F: FnOnce(OnlineClient<Config>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let client = self.client().await?;
        let result = read(client).await;
        if matches!(result, Err(Error::Unreachable { .. })) {
            self.forget().await;
        }
        result
    }

    /// The number of the latest block the node reports.
    pub async fn block(&self) -> Result<u64, Error> {
        self.with_client(|client| async move {
            let at = client
                .at_current_block()
                .await
                .map_err(|e| self.unreachable(e))?;
            Ok(at.block_number())
        })
        .await
    }

    /// Reads the subnet's metagraph at the latest block.
    async fn read_metagraph(&self) -> Result<Metagraph, Error> {
        self.with_client(|client| async move {
            let at = client
                .at_current_block()
                .await
                .map_err(|e| self.unreachable(e))?;
            let block = at.block_number();
            let netuid = self.netuid;
            let st = at.storage();
            let fail = |item: &'static str| move |e: subxt::Error| self.read_error(item, e);

            let added: bool = st
                .fetch(
                    dynamic::storage::<(u16,), bool>(PALLET, "NetworksAdded"),
                    (netuid,),
                )
                .await
                .map_err(|e| fail("NetworksAdded")(e.into()))?
                .decode()
                .map_err(|e| fail("NetworksAdded")(e.into()))?;
            if !added {
                return Err(Error::NoSubnet {
                    url: self.url.clone(),
                    netuid,
                });
            }

            // uid -> hotkey.
            let mut hotkeys: Vec<(u16, AccountId32)> = Vec::new();
            let mut keys = st
                .iter(
                    dynamic::storage::<(u16, u16), AccountId32>(PALLET, "Keys"),
                    (netuid,),
                )
                .await
                .map_err(|e| fail("Keys")(e.into()))?;
            while let Some(kv) = keys.next().await {
                let kv = kv.map_err(|e| fail("Keys")(e.into()))?;
                let (_, uid): (u16, u16) = kv
                    .key()
                    .and_then(|k| k.decode())
                    .map_err(|e| fail("Keys")(e.into()))?;
                let hotkey = kv.value().decode().map_err(|e| fail("Keys")(e.into()))?;
                hotkeys.push((uid, hotkey));
            }
            hotkeys.sort_by_key(|(uid, _)| *uid);

            // hotkey -> axon.
            let mut axons = std::collections::HashMap::new();
            let mut it = st
                .iter(
                    dynamic::storage::<(u16, AccountId32), Value>(PALLET, "Axons"),
                    (netuid,),
                )
                .await
                .map_err(|e| fail("Axons")(e.into()))?;
            while let Some(kv) = it.next().await {
                let kv = kv.map_err(|e| fail("Axons")(e.into()))?;
                let (_, hotkey): (u16, AccountId32) = kv
                    .key()
                    .and_then(|k| k.decode())
                    .map_err(|e| fail("Axons")(e.into()))?;
                let info: Value = kv.value().decode().map_err(|e| fail("Axons")(e.into()))?;
                axons.insert(hotkey.0, axon_of(&info));
            }

            let permits: Vec<bool> = st
                .fetch(
                    dynamic::storage::<(u16,), Vec<bool>>(PALLET, "ValidatorPermit"),
                    (netuid,),
                )
                .await
                .map_err(|e| fail("ValidatorPermit")(e.into()))?
                .decode()
                .map_err(|e| fail("ValidatorPermit")(e.into()))?;
            let updates: Vec<u64> = st
                .fetch(
                    dynamic::storage::<(u16,), Vec<u64>>(PALLET, "LastUpdate"),
                    (netuid,),
                )
                .await
                .map_err(|e| fail("LastUpdate")(e.into()))?
                .decode()
                .map_err(|e| fail("LastUpdate")(e.into()))?;

            // Per-hotkey items, requested together: they pipeline over the one connection.
            let owner = dynamic::storage::<(AccountId32,), AccountId32>(PALLET, "Owner");
            let alpha = dynamic::storage::<(AccountId32, u16), u64>(PALLET, "TotalHotkeyAlpha");
            let coldkeys = try_join_all(hotkeys.iter().map(|(_, h)| {
                let st = &st;
                let owner = &owner;
                async move {
                    st.fetch(owner, (*h,))
                        .await
                        .map_err(|e| fail("Owner")(e.into()))?
                        .decode()
                        .map_err(|e| fail("Owner")(e.into()))
                }
            }))
            .await?;
            let stakes = try_join_all(hotkeys.iter().map(|(_, h)| {
                let st = &st;
                let alpha = &alpha;
                async move {
                    st.fetch(alpha, (*h, netuid))
                        .await
                        .map_err(|e| fail("TotalHotkeyAlpha")(e.into()))?
                        .decode()
                        .map_err(|e| fail("TotalHotkeyAlpha")(e.into()))
                }
            }))
            .await?;

            let neurons = hotkeys
                .iter()
                .zip(coldkeys)
                .zip(stakes)
                .map(|(((uid, hotkey), coldkey), stake): (_, u64)| {
                    let i = usize::from(*uid);
                    let coldkey: AccountId32 = coldkey;
                    Neuron {
                        uid: *uid,
                        hotkey: AccountId(hotkey.0),
                        coldkey: (coldkey.0 != [0; 32]).then_some(AccountId(coldkey.0)),
                        // Alpha is kept in rao, 1e9 to the unit.
                        stake: stake as f64 / 1e9,
                        validator_permit: permits.get(i).copied().unwrap_or(false),
                        axon: axons.get(&hotkey.0).copied().flatten(),
                        last_update: updates.get(i).copied().unwrap_or(0),
                    }
                })
                .collect();

            let params = self.read_params(&at).await?;
            Ok(Metagraph {
                netuid,
                block,
                neurons,
                params,
            })
        })
        .await
    }

    /// The subnet's hyperparameters for weights, and whether the runtime has timelocked commits.
    async fn read_params(
        &self,
        at: &subxt::client::ClientAtBlock<Config, subxt::client::OnlineClientAtBlockImpl<Config>>,
    ) -> Result<SubnetParams, Error> {
        let netuid = self.netuid;
        let st = at.storage();
        let metadata = at.metadata_ref();
        let pallet = metadata.pallet_by_name(PALLET);
        let has_item = |name: &str| {
            pallet
                .and_then(|p| p.storage())
                .and_then(|s| s.entry_by_name(name))
                .is_some()
        };
        let timelocked = pallet.is_some_and(|p| {
            TIMELOCKED_CALLS
                .iter()
                .any(|c| p.call_variant_by_name(c).is_some())
        });
        macro_rules! item {
            ($name:literal, $ty:ty) => {
                st.fetch(dynamic::storage::<(u16,), $ty>(PALLET, $name), (netuid,))
                    .await
                    .map_err(|e| self.read_error($name, e.into()))?
                    .decode()
                    .map_err(|e| self.read_error($name, e.into()))?
            };
        }
        let reveal_period_epochs: u64 = if has_item("RevealPeriodEpochs") {
            item!("RevealPeriodEpochs", u64)
        } else {
            1
        };
        Ok(SubnetParams {
            tempo: item!("Tempo", u16),
            weights_rate_limit: item!("WeightsSetRateLimit", u64),
            min_allowed_weights: item!("MinAllowedWeights", u16),
            max_weight_limit: item!("MaxWeightsLimit", u16),
            weights_version_key: item!("WeightsVersionKey", u64),
            commit_reveal: item!("CommitRevealWeightsEnabled", bool),
            reveal_period_epochs,
            timelocked,
        })
    }

    /// A failed storage read: unreachable when the connection is the cause, otherwise a layout
    /// this build cannot read.
    fn read_error(&self, item: &'static str, e: subxt::Error) -> Error {
        let text = one_line(&e);
        if is_connection_error(&text) {
            self.unreachable(text)
        } else {
            Error::Storage {
                url: self.url.clone(),
                item,
                reason: text,
            }
        }
    }

    /// Every storage key a read of `metagraph` covers, so that a benchmark can fetch the same
    /// keys raw and compare.
    pub async fn metagraph_keys(&self, metagraph: &Metagraph) -> Result<Vec<Vec<u8>>, Error> {
        let client = self.client().await?;
        let at = client
            .at_current_block()
            .await
            .map_err(|e| self.unreachable(e))?;
        let st = at.storage();
        let netuid = self.netuid;
        let bad = |e: subxt::error::StorageError| self.read_error("keys", e.into());
        let mut keys = Vec::new();
        for item in [
            "NetworksAdded",
            "ValidatorPermit",
            "LastUpdate",
            "Tempo",
            "WeightsSetRateLimit",
            "MinAllowedWeights",
            "MaxWeightsLimit",
            "WeightsVersionKey",
            "CommitRevealWeightsEnabled",
            "RevealPeriodEpochs",
        ] {
            let entry = st
                .entry(dynamic::storage::<(u16,), Value>(PALLET, item))
                .map_err(bad)?;
            keys.push(entry.fetch_key((netuid,)).map_err(bad)?);
        }
        let uid_key = st
            .entry(dynamic::storage::<(u16, u16), Value>(PALLET, "Keys"))
            .map_err(bad)?;
        let axon = st
            .entry(dynamic::storage::<(u16, AccountId32), Value>(
                PALLET, "Axons",
            ))
            .map_err(bad)?;
        let owner = st
            .entry(dynamic::storage::<(AccountId32,), Value>(PALLET, "Owner"))
            .map_err(bad)?;
        let alpha = st
            .entry(dynamic::storage::<(AccountId32, u16), Value>(
                PALLET,
                "TotalHotkeyAlpha",
            ))
            .map_err(bad)?;
        for n in &metagraph.neurons {
            let hotkey = AccountId32(n.hotkey.0);
            keys.push(uid_key.fetch_key((netuid, n.uid)).map_err(bad)?);
            keys.push(axon.fetch_key((netuid, hotkey)).map_err(bad)?);
            keys.push(owner.fetch_key((hotkey,)).map_err(bad)?);
            keys.push(alpha.fetch_key((hotkey, netuid)).map_err(bad)?);
        }
        Ok(keys)
    }

    /// The weights the chain holds from the neuron `uid`: (uid, value) pairs.
    pub async fn weights_of(&self, uid: u16) -> Result<Vec<(u16, u16)>, Error> {
        self.with_client(|client| async move {
            let at = client
                .at_current_block()
                .await
                .map_err(|e| self.unreachable(e))?;
            at.storage()
                .fetch(
                    dynamic::storage::<(u16, u16), Vec<(u16, u16)>>(PALLET, "Weights"),
                    (self.netuid, uid),
                )
                .await
                .map_err(|e| self.read_error("Weights", e.into()))?
                .decode()
                .map_err(|e| self.read_error("Weights", e.into()))
        })
        .await
    }

    /// The axon the chain holds for `hotkey` on this subnet, with its protocol.
    pub async fn axon_of(&self, hotkey: &AccountId) -> Result<Option<(SocketAddr, u8)>, Error> {
        self.with_client(|client| async move {
            let at = client
                .at_current_block()
                .await
                .map_err(|e| self.unreachable(e))?;
            let found = at
                .storage()
                .try_fetch(
                    dynamic::storage::<(u16, AccountId32), Value>(PALLET, "Axons"),
                    (self.netuid, AccountId32(hotkey.0)),
                )
                .await
                .map_err(|e| self.read_error("Axons", e.into()))?;
            let Some(found) = found else {
                return Ok(None);
            };
            let info: Value = found
                .decode()
                .map_err(|e| self.read_error("Axons", e.into()))?;
            let protocol = info.at("protocol").and_then(|v| v.as_u128()).unwrap_or(0) as u8;
            Ok(axon_of(&info).map(|a| (a, protocol)))
        })
        .await
    }

    /// Signs `call` with `signer`, submits it and waits until it is in a block; a failed dispatch
    /// comes back as [`Error::Dispatch`] naming the pallet error.
    async fn submit<Call: Payload>(
        &self,
        signer: &Keypair,
        what: &'static str,
        call: Call,
    ) -> Result<u64, Error> {
        let _one = self.submitting.lock().await;
        let client = self.client().await?;
        let result = tokio::time::timeout(
            self.include_timeout,
            self.submit_with(&client, signer, what, call),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Error::NotIncluded {
                call: what,
                reason: format!("not in a block within {:?}", self.include_timeout),
            })
        });
        if matches!(result, Err(Error::Unreachable { .. })) {
            self.forget().await;
        }
        result
    }

    async fn submit_with<Call: Payload>(
        &self,
        client: &OnlineClient<Config>,
        signer: &Keypair,
        what: &'static str,
        call: Call,
    ) -> Result<u64, Error> {
        let at = client
            .at_current_block()
            .await
            .map_err(|e| self.unreachable(e))?;
        let params = subxt::config::DefaultExtrinsicParamsBuilder::<Config>::new().build();
        let mut progress = at
            .tx()
            .sign_and_submit_then_watch(&call, &HotkeySigner(signer), params)
            .await
            .map_err(|e| {
                let text = one_line(&e);
                if is_connection_error(&text) {
                    self.unreachable(text)
                } else {
                    Error::Rejected {
                        call: what,
                        reason: text,
                    }
                }
            })?;
        while let Some(status) = progress.next().await {
            let status = status.map_err(|e| self.unreachable(e))?;
            match status {
                TransactionStatus::InBestBlock(in_block)
                | TransactionStatus::InFinalizedBlock(in_block) => {
                    let hash = in_block.block_hash();
                    return match in_block.wait_for_success().await {
                        Ok(_) => client
                            .at_block(hash)
                            .await
                            .map(|at| at.block_number())
                            .map_err(|e| self.unreachable(e)),
                        Err(subxt::error::TransactionEventsError::ExtrinsicFailed(
                            subxt::error::DispatchError::Module(e),
                        )) => Err(Error::Dispatch {
                            call: what,
                            error: e.details_string(),
                        }),
                        Err(subxt::error::TransactionEventsError::ExtrinsicFailed(e)) => {
                            Err(Error::Dispatch {
                                call: what,
                                error: one_line(e),
                            })
                        }
                        Err(e) => Err(self.unreachable(e)),
                    };
                }
                TransactionStatus::Invalid { message }
                | TransactionStatus::Dropped { message }
                | TransactionStatus::Error { message } => {
                    return Err(Error::NotIncluded {
                        call: what,
                        reason: one_line(message),
                    });
                }
                _ => {}
            }
        }
        Err(Error::NotIncluded {
            call: what,
            reason: "the node stopped reporting on the transaction".to_owned(),
        })
    }
}

impl Chain for SubtensorChain {
    async fn metagraph(&self) -> Result<Metagraph, Error> {
        self.read_metagraph().await
    }

    async fn serve_axon(&self, signer: &Keypair, axon: SocketAddr) -> Result<Served, Error> {
        if self.axon_of(&signer.account()).await? == Some((axon, PROTOCOL_GRPC)) {
            return Ok(Served::Unchanged);
        }
        let (ip, ip_type): (u128, u8) = match axon.ip() {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
            IpAddr::V6(v6) => (u128::from(v6), 6),
        };
        let call = dynamic::tx(
            PALLET,
            "serve_axon",
            (
                self.netuid,
                AXON_VERSION,
                ip,
                axon.port(),
                ip_type,
                PROTOCOL_GRPC,
                0u8,
                0u8,
            ),
        );
        self.submit(signer, "serve_axon", call).await?;
        Ok(Served::Published)
    }

    async fn set_weights(&self, signer: &Keypair, weights: &ChainWeights) -> Result<u64, Error> {
        let call = dynamic::tx(
            PALLET,
            "set_weights",
            (
                self.netuid,
                weights.uids.clone(),
                weights.values.clone(),
                weights.version_key,
            ),
        );
        self.submit(signer, "set_weights", call).await
    }

    async fn commit_weights(&self, signer: &Keypair, hash: [u8; 32]) -> Result<u64, Error> {
        let call = dynamic::tx(
            PALLET,
            "commit_weights",
            (self.netuid, subxt::utils::H256(hash)),
        );
        self.submit(signer, "commit_weights", call).await
    }

    async fn reveal_weights(&self, signer: &Keypair, reveal: &Reveal) -> Result<u64, Error> {
        let call = dynamic::tx(
            PALLET,
            "reveal_weights",
            (
                self.netuid,
                reveal.uids.clone(),
                reveal.values.clone(),
                reveal.salt.clone(),
                reveal.version_key,
            ),
        );
        self.submit(signer, "reveal_weights", call).await
    }
}

/// The address an `AxonInfo` value names, or `None` for an axon that serves nothing.
fn axon_of(info: &Value) -> Option<SocketAddr> {
    let field = |name: &str| info.at(name).and_then(|v| v.as_u128());
    let ip = field("ip")?;
    let port = u16::try_from(field("port")?).ok()?;
    let ip = match field("ip_type")? {
        4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(ip).ok()?)),
        6 => IpAddr::V6(Ipv6Addr::from(ip)),
        _ => return None,
    };
    (!ip.is_unspecified() && port != 0).then_some(SocketAddr::new(ip, port))
}

/// Signs extrinsics with a node's hotkey, in the `substrate` context as every Substrate signer
/// does; subxt hands over payloads of more than 256 bytes already hashed.
struct HotkeySigner<'a>(&'a Keypair);

impl Signer<Config> for HotkeySigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.account().0)
    }

    fn sign(&self, payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(payload).0)
    }
}

/// subxt's errors can span lines; logs and messages want one.
fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an error's text says the connection, not the request, failed.
fn is_connection_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "connection",
        "disconnect",
        "restart",
        "closed",
        "transport",
        "timeout",
        "timed out",
        "broken pipe",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}
