//! Tonic glue shared by Tessera's nodes: signing requests and responses in gRPC metadata,
//! checking them on arrival, and the standard health and reflection services.
//!
//! What is signed is fixed by `tessera_core::auth`; this crate only moves the fields in and out of
//! metadata and turns refusals into `tonic::Status` codes. Only node crates depend on it: the
//! protocol's domain types never see tonic.

mod auth;
mod serve;

pub use auth::{
    Caller, Error, Gate, Refusal, chunk_signed, sign_metadata, sign_request, sign_response,
    sign_response_body, signed, verify_response, verify_response_body,
};
pub use serve::{Standard, remap_oversize, standard_services};
pub use tonic_health::ServingStatus;

/// Metadata keys of the signed-request scheme (docs/protocol.md).
pub mod keys {
    pub const HOTKEY: &str = "tessera-hotkey";
    pub const NONCE: &str = "tessera-nonce";
    pub const TIMESTAMP: &str = "tessera-timestamp";
    pub const SIGNATURE: &str = "tessera-signature";
}

/// HTTP/2 flow-control windows for connections that carry chunks: a stream may have 4 MiB in
/// flight and a connection 16 MiB, instead of HTTP/2's 64 KiB, which would stall every
/// megabyte-sized message on window updates.
pub const STREAM_WINDOW: u32 = 4 << 20;
pub const CONNECTION_WINDOW: u32 = 16 << 20;

/// The largest HTTP/2 frame a node accepts, announced to its peers: 1 MiB rather than the
/// protocol's default of 16 KiB, so that a chunk crosses as one DATA frame instead of 64, each
/// of which costs both ends a header, a flow-control update and a wake-up.
pub const MAX_FRAME: u32 = 1 << 20;

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Binds a node's gRPC listener on `ip:port` (port 0 picks one) and returns it with the address
/// it got; an error names the address it could not take.
pub async fn bind(
    ip: &str,
    port: u16,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), (String, std::io::Error)> {
    let addr = format!("{ip}:{port}");
    let socket: std::net::SocketAddr = addr.parse().map_err(|e: std::net::AddrParseError| {
        (
            addr.clone(),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        )
    })?;
    let listener = tokio::net::TcpListener::bind(socket)
        .await
        .map_err(|e| (addr.clone(), e))?;
    let bound = listener.local_addr().map_err(|e| (addr, e))?;
    Ok((listener, bound))
}
