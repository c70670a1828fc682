//! The standard services every node serves beside its own (`grpc.health.v1` and server
//! reflection), and the one status code tonic gets wrong for us.

use tessera_proto::tonic::codegen::http;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};

/// The health reporter, the health service and the reflection service of a node.
pub type Standard<H, R> = (HealthReporter, HealthServer<H>, ServerReflectionServer<R>);

/// The health and reflection services for a node. Reflection describes every Tessera service
/// from the descriptor set compiled with the protocol, so `grpcurl` needs no `.proto` files.
pub fn standard_services() -> Standard<impl Health, impl ServerReflection> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tessera_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        // The descriptor sets are compiled into the binary; failing to parse them is a build
        // defect that every test run would show, not a runtime condition.
        .expect("compiled-in descriptor sets parse");
    (reporter, health, reflection)
}

/// Tonic refuses a request body over the size limit with `OUT_OF_RANGE`; the gRPC status-code
/// table says an incoming message larger than the configured maximum is `RESOURCE_EXHAUSTED`,
/// which is what clients in other languages expect. Used in a response-mapping layer.
/// Returns whether it changed the response, so the caller can count refusals.
pub fn remap_oversize<B>(response: &mut http::Response<B>) -> bool {
    let headers = response.headers_mut();
    let out_of_range = headers.get("grpc-status").is_some_and(|v| v == "11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if out_of_range && too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    out_of_range && too_large
}
