//! The partition plan: how a miner's capacity is split across validators in proportion to stake.
//!
//! Each validator with a permit gets at least one chunk; the rest is shared in proportion to
//! (stake + 1) by the largest-remainder method, so the counts add up to exactly the capacity in
//! chunks and a larger stake never gets fewer chunks than a smaller one.

use tessera_core::AccountId;

use crate::Error;

/// One validator's share of the miner's space.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionPlan {
    pub validator: AccountId,
    pub stake: f64,
    pub n_chunks: u64,
}

/// Splits `capacity` bytes into chunks of `chunk_size` across `validators` (hotkey, stake).
///
/// The result is sorted by validator hotkey, so the same inputs always give the same plan.
pub fn plan(
    capacity: u64,
    chunk_size: u64,
    validators: &[(AccountId, f64)],
) -> Result<Vec<PartitionPlan>, Error> {
    tessera_core::merkle::segment_count(chunk_size)?;
    let total = capacity / chunk_size;
    if total == 0 {
        return Err(Error::ZeroChunks {
            capacity,
            chunk_size,
        });
    }
    if validators.is_empty() {
        return Err(Error::NoValidators);
    }
    for (validator, stake) in validators {
        if !stake.is_finite() || *stake < 0.0 {
            return Err(Error::Stake {
                validator: validator.to_string(),
                stake: *stake,
            });
        }
    }
    let m = validators.len() as u64;
    if total < m {
        return Err(Error::TooFewChunks {
            chunks: total,
            validators: validators.len(),
        });
    }

    let mut sorted: Vec<(AccountId, f64)> = validators.to_vec();
    sorted.sort_by_key(|a| a.0);
    let weights: Vec<f64> = sorted.iter().map(|(_, s)| s + 1.0).collect();

    // Validators whose proportional share is under one chunk are pinned at one, and the others
    // share what is left; repeat, since pinning shrinks everyone else's share.
    let mut pinned = vec![false; weights.len()];
    let mut quotas = vec![0.0f64; weights.len()];
    loop {
        let pool = total - pinned.iter().filter(|p| **p).count() as u64;
        let sum: f64 = (0..weights.len())
            .filter(|&i| !pinned[i])
            .map(|i| weights[i])
            .sum();
        let mut changed = false;
        for i in 0..weights.len() {
            if pinned[i] {
                quotas[i] = 1.0;
                continue;
            }
            quotas[i] = pool as f64 * weights[i] / sum;
            if quotas[i] < 1.0 {
                pinned[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // Largest remainder: floors first, then the chunks left over to the largest fractional
    // parts (ties to the earlier hotkey). Floating point may overshoot by a hair on huge
    // quotas, so trim from the smallest fractional parts first.
    let mut counts: Vec<u64> = quotas.iter().map(|q| (q.floor() as u64).max(1)).collect();
    let frac = |i: usize, counts: &[u64]| quotas[i] - counts[i] as f64;
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        frac(b, &counts)
            .total_cmp(&frac(a, &counts))
            .then(a.cmp(&b))
    });
    let mut assigned: u64 = counts.iter().sum();
    for &i in order.iter().cycle() {
        if assigned == total {
            break;
        }
        if assigned < total {
            counts[i] += 1;
            assigned += 1;
        }
    }
    for &i in order.iter().rev().cycle() {
        if assigned <= total {
            break;
        }
        if counts[i] > 1 {
            counts[i] -= 1;
            assigned -= 1;
        }
    }

    Ok(sorted
        .into_iter()
        .zip(counts)
        .map(|((validator, stake), c)| PartitionPlan {
            validator,
            stake,
            n_chunks: c,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn account(i: u8) -> AccountId {
        AccountId([i; 32])
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn examples() {
        let check = |capacity: u64, stakes: &[f64], expected: &[u64]| {
            let validators: Vec<_> = stakes
                .iter()
                .enumerate()
                .map(|(i, s)| (account(i as u8), *s))
                .collect();
            let got: Vec<u64> = plan(capacity, MIB, &validators)
                .unwrap()
                .iter()
                .map(|p| p.n_chunks)
                .collect();
            assert_eq!(got, expected, "capacity {capacity} stakes {stakes:?}");
        };
        check(10 * MIB, &[1.0], &[10]);
        // Weights 2:1: quotas 6.67 and 3.33, the spare chunk to the larger remainder.
        check(10 * MIB, &[1.0, 0.0], &[7, 3]);
        check(4 * MIB + 5, &[999.0, 0.0], &[3, 1]);
        check(100 * MIB, &[299.0, 99.0], &[75, 25]);
        check(3 * MIB, &[0.0, 0.0, 0.0], &[1, 1, 1]);
    }

    #[test]
    fn bad_inputs() {
        let one = [(account(1), 1.0)];
        assert!(matches!(
            plan(MIB - 1, MIB, &one),
            Err(Error::ZeroChunks { .. })
        ));
        assert!(matches!(plan(MIB, MIB, &[]), Err(Error::NoValidators)));
        assert!(matches!(
            plan(MIB, MIB, &[(account(1), 1.0), (account(2), 1.0)]),
            Err(Error::TooFewChunks {
                chunks: 1,
                validators: 2
            })
        ));
        assert!(matches!(
            plan(MIB, MIB, &[(account(1), -1.0)]),
            Err(Error::Stake { .. })
        ));
        assert!(matches!(
            plan(MIB, MIB, &[(account(1), f64::NAN)]),
            Err(Error::Stake { .. })
        ));
        assert!(matches!(plan(MIB, 1000, &one), Err(Error::Core(_))));
    }

    proptest! {
        #[test]
        fn plan_is_exact_fair_and_monotone(
            stakes in prop::collection::vec(0.0f64..1e7, 1..40),
            extra in 0u64..100_000,
            chunk_shift in 10u32..24,
        ) {
            let chunk_size = 1u64 << chunk_shift;
            let total = stakes.len() as u64 + extra;
            let validators: Vec<_> = stakes.iter().enumerate().map(|(i, s)| (account(i as u8), *s)).collect();
            let p = plan(total * chunk_size + chunk_size - 1, chunk_size, &validators).unwrap();
            prop_assert_eq!(p.iter().map(|x| x.n_chunks).sum::<u64>(), total);
            let weight_sum: f64 = stakes.iter().map(|s| s + 1.0).sum();
            let all_above_one = p.iter().all(|x| total as f64 * (x.stake + 1.0) / weight_sum >= 1.0);
            for x in &p {
                prop_assert!(x.n_chunks >= 1);
                let ideal = total as f64 * (x.stake + 1.0) / weight_sum;
                // Nobody gets a chunk more than its share, except the one-chunk minimum.
                prop_assert!(x.n_chunks as f64 <= ideal.max(1.0) + 1.0, "{} vs {}", x.n_chunks, ideal);
                // Without the minimum in play, the plan is the share rounded up or down.
                if all_above_one {
                    prop_assert!((x.n_chunks as f64 - ideal).abs() < 1.0 + 1e-6, "{} vs {}", x.n_chunks, ideal);
                }
            }
            for a in &p {
                for b in &p {
                    if a.stake > b.stake {
                        prop_assert!(a.n_chunks >= b.n_chunks);
                    }
                }
            }
        }
    }
}
