//! The weights a validator set, and their TOML file format: checking, writing and parsing with
//! line-numbered errors.
//!
//! `LocalChain` keeps one file per validator beside its metagraph file; it looks like this, and
//! any other key is rejected so that a typo cannot silently drop a field:
//!
//! ```toml
//! validator = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
//! netuid = 1
//! set_at_ms = 1700000000000
//!
//! [[weights]]
//! uid = 3
//! weight = 0.75
//!
//! [[weights]]
//! uid = 5
//! weight = 0.25
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use tessera_core::AccountId;
use toml::Spanned;

use crate::metagraph::{line_at, toml_float};
use crate::{Error, SubnetParams};

/// How far the sum of a non-empty set of weights may be from 1. Normalising in f64 leaves an
/// error of a few ulps per weight; a set this far off was not normalised at all.
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

/// The weights one validator last set on one subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsRecord {
    pub validator: AccountId,
    pub netuid: u16,
    /// When they were set, in unix milliseconds.
    pub set_at_ms: u64,
    /// (uid, weight) in the order they were set; each weight finite and not negative, no uid
    /// twice, and the weights sum to 1 unless there are none.
    pub weights: Vec<(u16, f64)>,
}

impl WeightsRecord {
    /// Writes the record in the file format [`WeightsRecord::from_toml`] reads.
    ///
    /// Written by hand, as the metagraph is, so that the layout is fixed and writing cannot fail.
    /// A record that breaks the rules on `weights` is written as it is and refused when read.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "validator = \"{}\"\nnetuid = {}\nset_at_ms = {}\n",
            self.validator, self.netuid, self.set_at_ms
        );
        for (uid, weight) in &self.weights {
            // Writing to a String cannot fail, so the fmt::Result carries nothing.
            let _ = write!(
                out,
                "\n[[weights]]\nuid = {uid}\nweight = {}\n",
                toml_float(*weight)
            );
        }
        out
    }

    /// Parses a weights file's `text` and checks that it holds valid weights of `validator` on
    /// subnet `netuid`.
    ///
    /// `path` is only used in error messages, each of which is one line naming the file and line.
    pub fn from_toml(
        text: &str,
        path: &Path,
        validator: &AccountId,
        netuid: u16,
    ) -> Result<Self, Error> {
        let error = |offset: usize, reason: String| Error::WeightsInvalid {
            path: path.to_owned(),
            line: line_at(text, offset),
            reason,
        };
        let raw: RawWeights = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |span| span.start);
            let message = e.message().lines().collect::<Vec<_>>().join("; ");
            error(offset, message)
        })?;

        let found = AccountId::from_ss58(raw.validator.get_ref())
            .map_err(|e| error(raw.validator.span().start, format!("bad validator: {e}")))?;
        if found != *validator {
            return Err(error(
                raw.validator.span().start,
                format!("validator {found} is not the requested validator {validator}"),
            ));
        }
        if *raw.netuid.get_ref() != netuid {
            return Err(error(
                raw.netuid.span().start,
                format!(
                    "netuid {} does not match the requested netuid {netuid}",
                    raw.netuid.get_ref()
                ),
            ));
        }

        let weights: Vec<(u16, f64)> = raw
            .weights
            .iter()
            .map(|w| (*w.uid.get_ref(), *w.weight.get_ref()))
            .collect();
        if let Err(bad) = check_weights(&weights) {
            // Point at the value at fault, or at the first weight when it is the sum.
            let offset = match bad.at {
                At::Sum => raw.weights.first().map(|w| w.uid.span().start),
                At::Uid(i) => raw.weights.get(i).map(|w| w.uid.span().start),
                At::Weight(i) => raw.weights.get(i).map(|w| w.weight.span().start),
            };
            let offset = offset.unwrap_or(0);
            return Err(error(offset, bad.reason));
        }

        Ok(Self {
            validator: found,
            netuid,
            set_at_ms: raw.set_at_ms,
            weights,
        })
    }
}

/// Why a set of weights is refused.
pub(crate) struct BadWeights {
    pub(crate) at: At,
    pub(crate) reason: String,
}

/// What is at fault in a refused set: the sum, or the uid or weight of the entry at an index.
pub(crate) enum At {
    Sum,
    Uid(usize),
    Weight(usize),
}

/// Refuses weights that are not finite, are negative, name a uid twice, or (when there are any)
/// do not sum to 1: the chain takes weights as shares of the validator's vote.
pub(crate) fn check_weights(weights: &[(u16, f64)]) -> Result<(), BadWeights> {
    let mut seen = HashSet::new();
    for (i, &(uid, weight)) in weights.iter().enumerate() {
        let bad = |at: At, reason: String| BadWeights { at, reason };
        if !weight.is_finite() {
            return Err(bad(
                At::Weight(i),
                format!(
                    "weight {} of uid {uid} is not a finite number",
                    toml_float(weight)
                ),
            ));
        }
        if weight < 0.0 {
            return Err(bad(
                At::Weight(i),
                format!("negative weight {} for uid {uid}", toml_float(weight)),
            ));
        }
        if !seen.insert(uid) {
            return Err(bad(
                At::Uid(i),
                format!("uid {uid} is given more than once"),
            ));
        }
    }
    let sum: f64 = weights.iter().map(|(_, w)| w).sum();
    if !weights.is_empty() && (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        return Err(BadWeights {
            at: At::Sum,
            reason: format!("weights sum to {}, not 1", toml_float(sum)),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeights {
    validator: Spanned<String>,
    netuid: Spanned<u16>,
    set_at_ms: u64,
    // No weights at all is a valid set, and `to_toml` writes it without any table.
    #[serde(default)]
    weights: Vec<RawWeight>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeight {
    uid: Spanned<u16>,
    weight: Spanned<f64>,
}

/// Weights as the chain takes them: uids and their `u16` values, with the subnet's version key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainWeights {
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

impl ChainWeights {
    /// The shares these values stand for: each value over their sum.
    pub fn shares(&self) -> Vec<(u16, f64)> {
        let sum: f64 = self.values.iter().map(|&v| f64::from(v)).sum();
        self.uids
            .iter()
            .zip(&self.values)
            .map(|(&uid, &v)| (uid, if sum > 0.0 { f64::from(v) / sum } else { 0.0 }))
            .collect()
    }
}

/// Turns a validator's shares (uid, weight) into what the chain accepts, as Bittensor's SDK does
/// before `set_weights` (`process_weights_for_netuid`, then `convert_weights_and_uids_for_emit`):
///
/// - with no non-zero weight, or a subnet of fewer than `min_allowed_weights` neurons, every uid
///   of the subnet gets the same weight;
/// - with fewer non-zero weights than `min_allowed_weights`, every uid gets 1e-5 besides, so that
///   enough uids carry weight;
/// - no uid gets more than `max_weight_limit / 65535` of the total: larger shares are cut and the
///   rest renormalised;
/// - the weights are scaled so the largest is `u16::MAX`, rounded half to even, and zeros dropped.
///
/// `n_neurons` is the subnet's size. Negative or non-finite weights count as zero.
pub fn for_chain(shares: &[(u16, f64)], n_neurons: u16, params: &SubnetParams) -> ChainWeights {
    let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
    let nonzero: Vec<(u16, f64)> = shares
        .iter()
        .map(|&(u, w)| (u, clean(w)))
        .filter(|&(_, w)| w > 0.0)
        .collect();
    let limit = f64::from(params.max_weight_limit) / f64::from(u16::MAX);
    let n = n_neurons;
    let (uids, weights): (Vec<u16>, Vec<f64>) =
        if nonzero.is_empty() || n < params.min_allowed_weights {
            (0..n).map(|u| (u, 1.0 / f64::from(n.max(1)))).unzip()
        } else if nonzero.len() < usize::from(params.min_allowed_weights) {
            let mut all = vec![1e-5; usize::from(n)];
            for &(u, w) in &nonzero {
                if let Some(slot) = all.get_mut(usize::from(u)) {
                    *slot += w;
                }
            }
            let all = normalize_max_weight(&all, limit);
            (0..n).zip(all).unzip()
        } else {
            let (u, w): (Vec<u16>, Vec<f64>) = nonzero.into_iter().unzip();
            let w = normalize_max_weight(&w, limit);
            (u, w)
        };
    let max = weights.iter().copied().fold(0.0, f64::max);
    let mut out = ChainWeights {
        uids: Vec::new(),
        values: Vec::new(),
        version_key: params.weights_version_key,
    };
    if max <= 0.0 {
        return out;
    }
    for (uid, w) in uids.into_iter().zip(weights) {
        let v = (w / max * f64::from(u16::MAX)).round_ties_even();
        if v >= 1.0 {
            out.uids.push(uid);
            out.values.push(v.min(f64::from(u16::MAX)) as u16);
        }
    }
    out
}

/// Normalises `x` to sum 1 with no entry above `limit`, cutting the largest entries to one
/// common cutoff as Bittensor's `normalize_max_weight` does.
fn normalize_max_weight(x: &[f64], limit: f64) -> Vec<f64> {
    let n = x.len();
    let sum: f64 = x.iter().sum();
    if n == 0 {
        return Vec::new();
    }
    if sum <= 0.0 || n as f64 * limit <= 1.0 {
        return vec![1.0 / n as f64; n];
    }
    let mut est: Vec<f64> = x.iter().map(|v| v / sum).collect();
    est.sort_by(f64::total_cmp);
    if est[n - 1] <= limit {
        return x.iter().map(|v| v / sum).collect();
    }
    let mut cumsum = Vec::with_capacity(n);
    let mut acc = 0.0;
    for &e in &est {
        acc += e;
        cumsum.push(acc);
    }
    let n_values = est
        .iter()
        .enumerate()
        .filter(|&(i, &e)| e / ((n - i - 1) as f64 * e + cumsum[i] + 1e-7) < limit)
        .count()
        .max(1);
    let cutoff_scale =
        (limit * cumsum[n_values - 1] - 1e-7) / (1.0 - limit * (n - n_values) as f64);
    let cutoff = cutoff_scale * sum;
    let clipped: Vec<f64> = x.iter().map(|&v| v.min(cutoff)).collect();
    let total: f64 = clipped.iter().sum();
    clipped.iter().map(|v| v / total).collect()
}

/// What a commit of weights binds, to be revealed later: the salt is random per commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub salt: Vec<u16>,
    pub version_key: u64,
}

impl Reveal {
    /// The hash the runtime recomputes on reveal: BLAKE2b-256 of the SCALE encoding of
    /// `(hotkey, netuid, uids, values, salt, version_key)`.
    pub fn commit_hash(&self, hotkey: &AccountId, netuid: u16) -> [u8; 32] {
        use blake2::Digest;
        use subxt::ext::codec::Encode;
        let encoded = (
            hotkey.0,
            netuid,
            &self.uids,
            &self.values,
            &self.salt,
            self.version_key,
        )
            .encode();
        blake2::Blake2b256::digest(&encoded).into()
    }
}
