//! The gateway's settings, the `[data]` table of the validator's config.

use serde::{Deserialize, Serialize};
use tessera_node::ByteSize;

/// How the gateway stores clients' objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Pieces needed to rebuild a segment.
    pub k: u16,
    /// Pieces stored per segment, each on a different miner.
    pub n: u16,
    /// A segment is repaired once its healthy pieces fall to this many; 0 means k + (n − k) / 2.
    pub repair_threshold: u16,
    /// TTL of an object whose put names none.
    pub default_ttl_secs: u64,
    /// The longest TTL a put may ask for.
    pub max_ttl_secs: u64,
    /// A piece fetch slower than this is hedged with a request for a spare piece.
    pub hedge_ms: u64,
    /// Plaintext bytes one client hotkey may keep stored at once (live objects and puts in
    /// flight); 0 means no limit.
    pub quota_per_client: ByteSize,
    /// Address of the HTTP gateway and web page; unset (the default) serves none.
    pub http: Option<String>,
}

impl DataConfig {
    /// The healthy-piece count at or below which a segment is repaired.
    pub fn repair_at(&self) -> u16 {
        if self.repair_threshold == 0 {
            self.k + (self.n - self.k) / 2
        } else {
            self.repair_threshold
        }
    }
}

/// The S3 face, the `[s3]` table of the validator's config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Address to serve S3 on, such as 127.0.0.1:9000; unset (the default) serves none.
    pub addr: Option<String>,
    /// The domain of virtual-host-style requests: a request to `<bucket>.<domain>` is for that
    /// bucket; any other host is path-style (`/<bucket>/<key>`).
    pub domain: String,
    /// The region the face answers GetBucketLocation with.
    pub region: String,
    /// A PEM certificate chain to serve S3 over TLS with (with `tls_key`); unset is plain HTTP.
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            addr: None,
            domain: "localhost".into(),
            region: "us-east-1".into(),
            tls_cert: None,
            tls_key: None,
        }
    }
}
