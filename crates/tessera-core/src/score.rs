//! Scoring: a beta reputation with forgetting, a latency factor, proven capacity, and the
//! normalised weights they give. Pure arithmetic; docs/incentives.md explains the choices.

/// Forgetting per challenge item: the weight of an outcome halves after about 69 items, so a
/// miner's past is neither forgotten in one bad round nor remembered for ever.
pub const LAMBDA: f64 = 0.99;

/// Below this reputation a miner earns nothing until it recovers: a miner that loses a tenth of
/// what it claims is not paid for the rest.
pub const SUSPEND_BELOW: f64 = 0.9;

/// The rolling window, in challenge items, over which capacity and latency are judged.
pub const WINDOW: u32 = 20;

/// The longer window reported beside it for operators.
pub const LONG_WINDOW: u32 = 60;

/// Beta-distribution reputation: `alpha` counts (forgotten) successes, `beta` failures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reputation {
    pub alpha: f64,
    pub beta: f64,
}

impl Default for Reputation {
    /// A new miner starts trusted, as in Storj, and must fail to lose it.
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 0.0,
        }
    }
}

impl Reputation {
    /// Folds in one outcome.
    pub fn update(self, success: bool) -> Self {
        let s = if success { 1.0 } else { 0.0 };
        Self {
            alpha: LAMBDA * self.alpha + s,
            beta: LAMBDA * self.beta + (1.0 - s),
        }
    }

    /// The expected success rate, in [0, 1].
    pub fn value(self) -> f64 {
        let total = self.alpha + self.beta;
        if total > 0.0 && total.is_finite() {
            (self.alpha / total).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// 1 for an instant answer, 1/2 when the mean latency equals the slack, towards 0 beyond.
pub fn latency_factor(mean_latency_ms: f64, slack_ms: u64) -> f64 {
    let slack = slack_ms.max(1) as f64;
    if !mean_latency_ms.is_finite() || mean_latency_ms < 0.0 {
        return 0.0;
    }
    slack / (slack + mean_latency_ms)
}

/// The part of the claim the window proved: claimed bytes times the window's success rate.
pub fn proven_bytes(claimed_bytes: u64, items: u64, successes: u64) -> u64 {
    if items == 0 {
        return 0;
    }
    let rate = successes.min(items) as f64 / items as f64;
    (claimed_bytes as f64 * rate) as u64
}

/// Score = proven capacity × reputation × latency factor, or 0 while suspended.
pub fn score(proven_bytes: u64, reputation: Reputation, latency_factor: f64) -> f64 {
    let r = reputation.value();
    if r < SUSPEND_BELOW {
        return 0.0;
    }
    proven_bytes as f64 * r * latency_factor.clamp(0.0, 1.0)
}

/// The most serving can add to a score: a miner that serves every retrieval instantly earns a
/// quarter more than one that only holds its data.
pub const SERVING_BONUS: f64 = 0.25;

/// The most rare data can add: pieces of segments close to their repair threshold are worth up
/// to half as much again as filler of the same size.
pub const RARITY_BONUS: f64 = 0.5;

/// How much of the serving the validator saw lately fell to each miner is forgotten per round.
pub const SERVING_DECAY: f64 = 0.9;

/// 1 plus up to `SERVING_BONUS`: `share` is the miner's part of the bytes served lately relative
/// to the busiest miner (0 to 1), `mean_piece_ms` how long its pieces took on average, judged
/// against the time after which the gateway hedges.
pub fn serving_factor(share: f64, mean_piece_ms: f64, hedge_ms: u64) -> f64 {
    if !share.is_finite() || share <= 0.0 || !mean_piece_ms.is_finite() || mean_piece_ms < 0.0 {
        return 1.0;
    }
    let hedge = hedge_ms.max(1) as f64;
    1.0 + SERVING_BONUS * share.min(1.0) * hedge / (hedge + mean_piece_ms)
}

/// 1 plus up to `RARITY_BONUS`: `rare_bytes` of the miner's `claimed_bytes` hold pieces of
/// segments at or just above their repair threshold, whose loss would cost the network most.
pub fn rarity_factor(rare_bytes: u64, claimed_bytes: u64) -> f64 {
    if claimed_bytes == 0 {
        return 1.0;
    }
    1.0 + RARITY_BONUS * (rare_bytes.min(claimed_bytes) as f64 / claimed_bytes as f64)
}

/// Normalises scores into weights summing to 1; all zero (or none) gives no weights at all, so
/// that nobody is paid for nothing.
pub fn normalize(scores: &[(u16, f64)]) -> Vec<(u16, f64)> {
    let clean = |s: f64| if s.is_finite() && s > 0.0 { s } else { 0.0 };
    let total: f64 = scores.iter().map(|(_, s)| clean(*s)).sum();
    if total <= 0.0 {
        return Vec::new();
    }
    scores
        .iter()
        .map(|(uid, s)| (*uid, clean(*s) / total))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reputation_stays_a_probability(outcomes in proptest::collection::vec(any::<bool>(), 0..500)) {
            let mut r = Reputation::default();
            for o in outcomes {
                let before = r.value();
                r = r.update(o);
                prop_assert!((0.0..=1.0).contains(&r.value()));
                // A success never lowers it; a failure never raises it.
                if o { prop_assert!(r.value() >= before - 1e-12) } else { prop_assert!(r.value() <= before + 1e-12) }
            }
        }

        #[test]
        fn reputation_tracks_the_success_rate(p in 0.0f64..=1.0) {
            // A long periodic run with success rate p converges to about p.
            let mut r = Reputation::default();
            let mut acc = 0.0;
            for _ in 0..5000 {
                acc += p;
                let success = acc >= 1.0;
                if success { acc -= 1.0; }
                r = r.update(success);
            }
            prop_assert!((r.value() - p).abs() < 0.05, "{} vs {p}", r.value());
        }

        #[test]
        fn weights_sum_to_one_and_keep_order(scores in proptest::collection::vec(0.0f64..1e12, 1..50)) {
            let input: Vec<(u16, f64)> = scores.iter().enumerate().map(|(i, s)| (i as u16, *s)).collect();
            let w = normalize(&input);
            if scores.iter().all(|s| *s == 0.0) {
                prop_assert!(w.is_empty());
            } else {
                let sum: f64 = w.iter().map(|(_, x)| x).sum();
                prop_assert!((sum - 1.0).abs() < 1e-9);
                for (a, b) in input.iter().zip(&w) {
                    for (c, d) in input.iter().zip(&w) {
                        if a.1 > c.1 { prop_assert!(b.1 >= d.1); }
                    }
                }
            }
        }

        #[test]
        fn score_grows_with_proven_capacity(a in 0u64..1<<40, b in 0u64..1<<40, lat in 0.0f64..1000.0) {
            let r = Reputation::default();
            let f = latency_factor(lat, 250);
            if a <= b { prop_assert!(score(a, r, f) <= score(b, r, f)); }
        }
    }

    proptest! {
        #[test]
        fn data_factors_stay_in_their_bounds(share in -1.0f64..2.0, ms in 0.0f64..1e6, hedge in 0u64..10_000, rare in 0u64..1<<40, claimed in 0u64..1<<40) {
            let s = serving_factor(share, ms, hedge);
            prop_assert!((1.0..=1.0 + SERVING_BONUS).contains(&s));
            let r = rarity_factor(rare, claimed);
            prop_assert!((1.0..=1.0 + RARITY_BONUS).contains(&r));
        }

        #[test]
        fn faster_and_busier_servers_earn_more(share in 0.01f64..1.0, ms in 1.0f64..1e4) {
            prop_assert!(serving_factor(share, ms, 500) > serving_factor(share, ms * 2.0, 500));
            prop_assert!(serving_factor(share, ms, 500) > serving_factor(share / 2.0, ms, 500));
        }
    }

    /// The design's ask, in numbers: of two miners proving the same bytes with the same record,
    /// the one that served the gateway's reads quickly scores higher than the one that only
    /// held its data, a slow server earns less than a fast one, and holding pieces of weak
    /// segments pays more than holding filler.
    #[test]
    fn serving_and_rare_data_earn_more() {
        let base = score(1 << 30, Reputation::default(), latency_factor(10.0, 250));
        let holder = base * serving_factor(0.0, 0.0, 500) * rarity_factor(0, 1 << 30);
        let fast = base * serving_factor(1.0, 20.0, 500) * rarity_factor(0, 1 << 30);
        let slow = base * serving_factor(1.0, 2000.0, 500) * rarity_factor(0, 1 << 30);
        let rare = base * serving_factor(0.0, 0.0, 500) * rarity_factor(1 << 28, 1 << 30);
        assert_eq!(holder, base);
        assert!(fast > slow && slow > holder, "{fast} {slow} {holder}");
        assert!((fast / holder - 1.24).abs() < 0.01, "{}", fast / holder);
        assert!((rare / holder - 1.125).abs() < 1e-9, "{}", rare / holder);
    }

    #[test]
    fn golden_values() {
        assert_eq!(latency_factor(0.0, 250), 1.0);
        assert_eq!(latency_factor(250.0, 250), 0.5);
        assert_eq!(latency_factor(f64::NAN, 250), 0.0);
        assert_eq!(proven_bytes(1000, 20, 15), 750);
        assert_eq!(proven_bytes(1000, 0, 0), 0);
        // Twenty straight failures take a new miner from 1 to under 5%.
        let r = (0..20).fold(Reputation::default(), |r, _| r.update(false));
        assert!(r.value() < 0.05, "{}", r.value());
        assert_eq!(score(1000, r, 1.0), 0.0, "suspended");
        assert!(normalize(&[(1, f64::NAN), (2, -1.0)]).is_empty());
        assert_eq!(normalize(&[(1, 1.0), (2, 3.0)]), vec![(1, 0.25), (2, 0.75)]);
    }
}
