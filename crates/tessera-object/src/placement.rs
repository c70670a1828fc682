//! Where the pieces of one segment go: the miners nearest each piece id by XOR distance (the
//! Kademlia metric), never two pieces of a segment on one miner, avoiding miners that share an IP
//! subnet where there are enough others, and skipping miners of low reputation.

use std::collections::HashSet;
use std::net::IpAddr;

use tessera_core::AccountId;

use crate::Error;

/// A miner pieces may go to.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub hotkey: AccountId,
    pub ip: IpAddr,
    /// The placing validator's reputation of this miner, in [0, 1].
    pub reputation: f64,
}

/// XOR distance between a piece id and a hotkey, compared as big-endian 256-bit numbers.
pub fn xor_distance(piece: &[u8; 32], hotkey: &AccountId) -> [u8; 32] {
    let mut d = [0u8; 32];
    for (i, b) in d.iter_mut().enumerate() {
        *b = piece[i] ^ hotkey.0[i];
    }
    d
}

/// The subnet two miners share if they are likely one operator: /24 for IPv4, /48 for IPv6.
fn subnet(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets()[..3].to_vec(),
        IpAddr::V6(v6) => v6.octets()[..6].to_vec(),
    }
}

/// One miner per piece of a segment, in piece order. Each piece takes the nearest eligible miner
/// not already holding a piece of this segment, preferring one whose subnet holds none either;
/// a subnet is reused only when no unused subnet has an eligible miner left.
pub fn place(
    pieces: &[[u8; 32]],
    candidates: &[Candidate],
    min_reputation: f64,
) -> Result<Vec<AccountId>, Error> {
    let eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.reputation >= min_reputation)
        .collect();
    let distinct: HashSet<&AccountId> = eligible.iter().map(|c| &c.hotkey).collect();
    if distinct.len() < pieces.len() {
        return Err(Error::TooFewMiners {
            need: pieces.len(),
            have: distinct.len(),
        });
    }
    let mut used: HashSet<AccountId> = HashSet::new();
    let mut used_subnets: HashSet<Vec<u8>> = HashSet::new();
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let nearest = |fresh_subnet: bool| {
            eligible
                .iter()
                .filter(|c| !used.contains(&c.hotkey))
                .filter(|c| !fresh_subnet || !used_subnets.contains(&subnet(&c.ip)))
                .min_by_key(|c| xor_distance(piece, &c.hotkey))
                .copied()
        };
        let Some(chosen) = nearest(true).or_else(|| nearest(false)) else {
            return Err(Error::TooFewMiners {
                need: pieces.len(),
                have: used.len(),
            });
        };
        used.insert(chosen.hotkey);
        used_subnets.insert(subnet(&chosen.ip));
        out.push(chosen.hotkey);
    }
    Ok(out)
}
