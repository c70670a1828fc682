//! The metagraph of a subnet and its TOML file format: parsing with line-numbered errors, and writing.
//!
//! The file looks like this; `coldkey`, `axon` and `last_update` may be left out, everything else
//! is required and any other key is rejected so that a typo cannot silently drop a field:
//!
//! ```toml
//! netuid = 1
//!
//! [[neurons]]
//! uid = 0
//! hotkey = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
//! coldkey = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
//! stake = 1000.0
//! validator_permit = true
//! axon = "127.0.0.1:7101"
//! ```

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use tessera_core::AccountId;
use toml::Spanned;

use crate::Error;

/// The neurons registered on one subnet, as the chain (or the local file standing in for it) says.
#[derive(Debug, Clone, PartialEq)]
pub struct Metagraph {
    pub netuid: u16,
    /// The block the metagraph was read at; 0 for a local file, which has no blocks.
    pub block: u64,
    pub neurons: Vec<Neuron>,
    /// The subnet's hyperparameters that govern setting weights.
    pub params: SubnetParams,
}

/// What the chain lets a validator do with its weights, as the subnet's hyperparameters say.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetParams {
    /// Blocks per epoch, less one (Subtensor runs an epoch every `tempo + 1` blocks).
    pub tempo: u16,
    /// Blocks a neuron must wait between two weight settings (or commits).
    pub weights_rate_limit: u64,
    /// Fewest non-zero weights a setting may carry.
    pub min_allowed_weights: u16,
    /// The largest share one uid may get, out of `u16::MAX`.
    pub max_weight_limit: u16,
    /// The version key every setting must carry.
    pub weights_version_key: u64,
    /// Weights go through commit and reveal instead of being set directly.
    pub commit_reveal: bool,
    /// Epochs between a commit and the epoch in which it must be revealed.
    pub reveal_period_epochs: u64,
    /// The runtime offers timelocked (drand) commits, which replace plain commit and reveal
    /// when `commit_reveal` is on; Tessera does not support them.
    pub timelocked: bool,
}

impl Default for SubnetParams {
    /// No limits: what a local metagraph file, which has no hyperparameters, stands for.
    fn default() -> Self {
        Self {
            tempo: 360,
            weights_rate_limit: 0,
            min_allowed_weights: 0,
            max_weight_limit: u16::MAX,
            weights_version_key: 0,
            commit_reveal: false,
            reveal_period_epochs: 1,
            timelocked: false,
        }
    }
}

/// One registered neuron.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: AccountId,
    pub coldkey: Option<AccountId>,
    /// Stake in TAO; finite and not negative.
    pub stake: f64,
    pub validator_permit: bool,
    /// Where the neuron serves, or `None` if it serves nothing.
    ///
    /// This is an IP address and a port, never a host name: the chain's axon info stores exactly
    /// that, and resolving names here would make reading the metagraph depend on DNS. The address
    /// must be one that others can dial, so an unspecified IP such as `0.0.0.0` or port 0 is
    /// rejected when parsing.
    pub axon: Option<SocketAddr>,
    /// The block of the neuron's last weight setting (or of its registration); 0 when unknown.
    pub last_update: u64,
}

impl Neuron {
    /// The one rule for who counts as a validator, for partitions, admission and challenges: a
    /// validator permit and at least `min_stake`. On a small subnet every neuron holds a permit,
    /// so stake is what tells validators from miners there.
    pub fn is_validator(&self, min_stake: f64) -> bool {
        self.validator_permit && self.stake >= min_stake
    }
}

impl Metagraph {
    /// A metagraph of `neurons` with no block and no limits, as a local file describes one.
    pub fn new(netuid: u16, neurons: Vec<Neuron>) -> Self {
        Self {
            netuid,
            block: 0,
            neurons,
            params: SubnetParams::default(),
        }
    }

    /// The neurons that count as validators (see [`Neuron::is_validator`]), in uid order.
    pub fn validators(&self, min_stake: f64) -> impl Iterator<Item = &Neuron> {
        self.neurons
            .iter()
            .filter(move |n| n.is_validator(min_stake))
    }

    /// The neuron registered under `hotkey`, or the error that tells its operator to register
    /// it; `chain` says where the metagraph came from.
    pub fn require(&self, hotkey: &AccountId, chain: &str) -> Result<&Neuron, Error> {
        self.neuron(hotkey).ok_or_else(|| Error::NotRegistered {
            hotkey: hotkey.to_ss58(),
            netuid: self.netuid,
            chain: chain.to_owned(),
        })
    }

    /// The neuron registered under `hotkey`, if any.
    pub fn neuron(&self, hotkey: &AccountId) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.hotkey == *hotkey)
    }

    /// Parses a metagraph file's `text` and checks it describes subnet `netuid`.
    ///
    /// `path` is only used in error messages, each of which is one line naming the file and line.
    pub fn from_toml(text: &str, path: &Path, netuid: u16) -> Result<Self, Error> {
        let file = File { path, text };

        let raw: RawMetagraph = toml::from_str(text).map_err(|e| {
            // Errors about the whole document (such as a missing `netuid`) carry no span or one
            // starting at the top, so line 1 is the honest answer for them.
            let offset = e.span().map_or(0, |span| span.start);
            // The message is meant to be one line already; joining guards the one-line promise.
            let message = e.message().lines().collect::<Vec<_>>().join("; ");
            file.error(offset, message)
        })?;

        if *raw.netuid.get_ref() != netuid {
            return Err(file.error(
                raw.netuid.span().start,
                format!(
                    "netuid {} does not match the requested netuid {netuid}",
                    raw.netuid.get_ref()
                ),
            ));
        }

        // First line of each uid and hotkey, so that a duplicate can point back at the original.
        let mut uids: HashMap<u16, usize> = HashMap::new();
        let mut hotkeys: HashMap<AccountId, usize> = HashMap::new();
        let mut neurons = Vec::with_capacity(raw.neurons.len());
        for raw_neuron in raw.neurons {
            let uid = *raw_neuron.uid.get_ref();
            let uid_offset = raw_neuron.uid.span().start;
            match uids.entry(uid) {
                Entry::Occupied(first) => {
                    return Err(file.error(
                        uid_offset,
                        format!("duplicate uid {uid} (first at line {})", first.get()),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert(line_at(text, uid_offset));
                }
            }

            let hotkey = parse_account(&file, &raw_neuron.hotkey, "hotkey")?;
            let hotkey_offset = raw_neuron.hotkey.span().start;
            match hotkeys.entry(hotkey) {
                Entry::Occupied(first) => {
                    return Err(file.error(
                        hotkey_offset,
                        format!("duplicate hotkey {hotkey} (first at line {})", first.get()),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert(line_at(text, hotkey_offset));
                }
            }

            let coldkey = match &raw_neuron.coldkey {
                Some(raw_coldkey) => Some(parse_account(&file, raw_coldkey, "coldkey")?),
                None => None,
            };

            let stake = *raw_neuron.stake.get_ref();
            if !stake.is_finite() {
                return Err(file.error(
                    raw_neuron.stake.span().start,
                    format!("stake {} is not a finite number", toml_float(stake)),
                ));
            }
            if stake < 0.0 {
                return Err(file.error(
                    raw_neuron.stake.span().start,
                    format!("negative stake {}", toml_float(stake)),
                ));
            }

            let axon = match &raw_neuron.axon {
                Some(raw_axon) => Some(parse_axon(&file, raw_axon)?),
                None => None,
            };

            neurons.push(Neuron {
                uid,
                hotkey,
                coldkey,
                stake,
                validator_permit: raw_neuron.validator_permit,
                axon,
                last_update: raw_neuron.last_update,
            });
        }

        Ok(Self::new(netuid, neurons))
    }

    /// Writes the metagraph in the file format [`Metagraph::from_toml`] reads.
    ///
    /// Written by hand rather than through serde so that the layout is fixed (key order, a blank
    /// line between neurons) and so that writing cannot fail: every value is a number, a boolean,
    /// an SS58 address or a socket address, none of which needs escaping inside TOML quotes.
    pub fn to_toml(&self) -> String {
        let mut out = format!("netuid = {}\n", self.netuid);
        for n in &self.neurons {
            // Writing to a String cannot fail, so the fmt::Result carries nothing.
            let _ = write!(
                out,
                "\n[[neurons]]\nuid = {}\nhotkey = \"{}\"\n",
                n.uid, n.hotkey
            );
            if let Some(coldkey) = &n.coldkey {
                let _ = writeln!(out, "coldkey = \"{coldkey}\"");
            }
            let _ = writeln!(out, "stake = {}", toml_float(n.stake));
            let _ = writeln!(out, "validator_permit = {}", n.validator_permit);
            if let Some(axon) = &n.axon {
                let _ = writeln!(out, "axon = \"{axon}\"");
            }
            if n.last_update != 0 {
                let _ = writeln!(out, "last_update = {}", n.last_update);
            }
        }
        out
    }
}

/// The file as written, with positions kept so that later checks can name a line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetagraph {
    netuid: Spanned<u16>,
    // A subnet with no registered neurons yet is valid, and `to_toml` writes it without any.
    #[serde(default)]
    neurons: Vec<RawNeuron>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeuron {
    uid: Spanned<u16>,
    hotkey: Spanned<String>,
    coldkey: Option<Spanned<String>>,
    stake: Spanned<f64>,
    validator_permit: bool,
    axon: Option<Spanned<String>>,
    #[serde(default)]
    last_update: u64,
}

/// The file being parsed: its name for messages and its text for turning offsets into lines.
struct File<'a> {
    path: &'a Path,
    text: &'a str,
}

impl File<'_> {
    fn error(&self, offset: usize, reason: String) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            line: line_at(self.text, offset),
            reason,
        }
    }
}

fn parse_account(file: &File<'_>, value: &Spanned<String>, what: &str) -> Result<AccountId, Error> {
    AccountId::from_ss58(value.get_ref())
        .map_err(|e| file.error(value.span().start, format!("bad {what}: {e}")))
}

fn parse_axon(file: &File<'_>, value: &Spanned<String>) -> Result<SocketAddr, Error> {
    let text = value.get_ref();
    let bad = |why: &str| {
        file.error(
            value.span().start,
            format!("bad axon address '{text}': {why}"),
        )
    };
    let addr: SocketAddr = text.parse().map_err(|_| {
        bad("expected ip:port such as 127.0.0.1:7101 (host names are not resolved)")
    })?;
    if addr.ip().is_unspecified() {
        return Err(bad("an unspecified ip cannot be dialled"));
    }
    if addr.port() == 0 {
        return Err(bad("port 0 cannot be dialled"));
    }
    Ok(addr)
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A float as a TOML literal.
///
/// Rust's `Debug` form is the shortest text that reads back to the same value and is valid TOML
/// for finite numbers (`1000.0`, `1e20`, `1.5e-7`); TOML spells the non-finite ones differently.
/// Those never come out of `from_toml`, but the fields are public, so they are written in a form
/// that reads back to a clear "not a finite number" error rather than a syntax error. Error
/// messages use this form too, so that they quote the stake the way the file spells it.
pub(crate) fn toml_float(value: f64) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{value:?}")
    }
}
