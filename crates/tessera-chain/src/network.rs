//! Choosing where the subnet lives, by Bittensor's conventions: `--subtensor.network`
//! (`finney`, `test`, `local` or a URL), `--subtensor.chain_endpoint` winning over it, and
//! `--metagraph.path` selecting a local metagraph file instead of any chain.

use std::path::PathBuf;

use crate::Error;

/// Mainnet's public endpoint, as Bittensor's own tools use it.
pub const FINNEY: &str = "wss://entrypoint-finney.opentensor.ai:443";
/// The public testnet's endpoint, as Bittensor's own tools use it.
pub const TEST: &str = "wss://test.finney.opentensor.ai:443";
/// A Subtensor node on this machine, where Bittensor looks for `local`.
pub const LOCAL: &str = "ws://127.0.0.1:9944";

/// Where a node learns the subnet's metagraph and sends its weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local metagraph file standing in for the chain (the devnet and most tests).
    File(PathBuf),
    /// A Subtensor node at this WebSocket URL.
    Subtensor(String),
}

impl Source {
    /// The source the settings name: the metagraph file when `metagraph_path` is set, otherwise
    /// the chain at `chain_endpoint`, or at what `network` names.
    pub fn choose(
        network: &str,
        chain_endpoint: Option<&str>,
        metagraph_path: Option<PathBuf>,
    ) -> Result<Self, Error> {
        // A bad network is refused even when a file wins: the flag says something wrong.
        let url = endpoint(network, chain_endpoint)?;
        Ok(match metagraph_path {
            Some(path) => Source::File(path),
            None => Source::Subtensor(url),
        })
    }
}

/// The WebSocket URL of `network`, or `chain_endpoint` when given: it wins, as in Bittensor.
pub fn endpoint(network: &str, chain_endpoint: Option<&str>) -> Result<String, Error> {
    if let Some(url) = chain_endpoint.filter(|u| !u.is_empty()) {
        return check_url(url, "subtensor.chain_endpoint");
    }
    match network {
        "finney" => Ok(FINNEY.to_owned()),
        "test" => Ok(TEST.to_owned()),
        "local" => Ok(LOCAL.to_owned()),
        other if other.contains("://") => check_url(other, "subtensor.network"),
        other => Err(Error::Network {
            setting: "subtensor.network",
            value: other.to_owned(),
            reason: "expected finney, test, local or a ws:// or wss:// URL".to_owned(),
        }),
    }
}

fn check_url(url: &str, setting: &'static str) -> Result<String, Error> {
    let bad = |reason: &str| Error::Network {
        setting,
        value: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| bad("the URL must start with ws:// or wss://"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') {
        return Err(bad("the URL names no host"));
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_resolve_as_in_bittensor() {
        for (network, endpoint_flag, want) in [
            ("finney", None, Ok(FINNEY)),
            ("test", None, Ok(TEST)),
            ("local", None, Ok(LOCAL)),
            ("ws://10.0.0.1:9944", None, Ok("ws://10.0.0.1:9944")),
            (
                "finney",
                Some("ws://127.0.0.2:9944"),
                Ok("ws://127.0.0.2:9944"),
            ),
            (
                "nonsense",
                Some("wss://x.example:443"),
                Ok("wss://x.example:443"),
            ),
            ("nonsense", None, Err("subtensor.network")),
            ("http://x:1", None, Err("ws:// or wss://")),
            (
                "finney",
                Some("127.0.0.1:9944"),
                Err("subtensor.chain_endpoint"),
            ),
            ("ws://", None, Err("names no host")),
        ] {
            let got = endpoint(network, endpoint_flag);
            match (got, want) {
                (Ok(url), Ok(want)) => assert_eq!(url, want, "{network} {endpoint_flag:?}"),
                (Err(e), Err(part)) => {
                    let text = e.to_string();
                    assert!(text.contains(part), "{text}");
                    assert!(!text.contains('\n'));
                }
                (got, want) => panic!("{network} {endpoint_flag:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn a_metagraph_file_wins_over_any_network() {
        let path = PathBuf::from("/tmp/m.toml");
        assert_eq!(
            Source::choose("finney", Some("ws://x:1"), Some(path.clone())).unwrap(),
            Source::File(path)
        );
        assert_eq!(
            Source::choose("local", None, None).unwrap(),
            Source::Subtensor(LOCAL.to_owned())
        );
    }
}
