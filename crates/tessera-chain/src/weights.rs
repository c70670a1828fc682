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

use crate::Error;
use crate::metagraph::{line_at, toml_float};

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
