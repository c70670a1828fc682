//! The one error type of the gateway, and its one mapping each to gRPC statuses and to HTTP.

use axum::http::StatusCode;
use tessera_proto::tonic::Status;

/// Why a client's call failed. The first group is the client's to fix or to retry; the rest
/// are the gateway's own failures, which a client sees only as an incident id.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request that can never succeed as sent.
    #[error("{0}")]
    BadRequest(String),

    /// No such object, or not the caller's.
    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Exists(String),

    /// A body shorter or longer than it said, or one that broke off.
    #[error("{0}")]
    Incomplete(String),

    /// A body whose MD5 is not the one its sender gave.
    #[error("{0}")]
    BadDigest(String),

    /// A body whose chunk signatures do not check (S3's signed streaming uploads).
    #[error("{0}")]
    BadSignature(String),

    /// An object larger than one request may carry.
    #[error("{0}")]
    TooLarge(String),

    /// The client's view of the gateway's coding is out of date.
    #[error("{0}")]
    Mismatch(String),

    /// An object the S3 face holds for one of its entries or uploads, which the object API
    /// must leave alone.
    #[error("{0}")]
    HeldByS3(String),

    /// Miners have no free slots left for a piece.
    #[error("{0}")]
    NoCapacity(String),

    /// The client would keep more than its quota.
    #[error("{0}")]
    Quota(String),

    /// Too few miners answer to store or fetch an object now; trying later may succeed.
    #[error("{0}")]
    Unavailable(String),

    /// An object's coding refused the bytes (too few pieces, a wrong size).
    #[error(transparent)]
    Object(#[from] tessera_object::Error),

    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),

    #[error(transparent)]
    Core(#[from] tessera_core::Error),

    /// A task of the gateway's own died or a record vanished: a bug or a crash, never the
    /// client's doing.
    #[error("{0}")]
    Internal(String),
}

/// A miner's failure to do what the gateway asked, as it is recorded against the miner.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// The call did not get a valid answer: unreachable, refused, too slow, or an answer that
    /// its signature does not cover. Nobody can prove the miner wrong, so it counts as a failed
    /// fetch or store only.
    #[error("{0}")]
    Failed(String),

    /// The miner signed bytes that are not what it holds for us: a provable lie.
    #[error("{0}")]
    Lied(String),
}

/// A fresh id for an internal error: logged with the details, and all a client is told.
fn incident_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// What a client is told of an error: the message itself, or for the gateway's own failures
/// an incident id (the details, file paths among them, are for the operator's log).
fn client_message(e: &Error, face: &str) -> (String, Option<String>) {
    match e {
        Error::Storage(_) | Error::Core(_) | Error::Internal(_) => {
            let id = incident_id();
            tracing::error!(error = %e, request_id = %id, "{face} call failed");
            (
                format!("internal error; the operator's log has it as request {id}"),
                Some(id),
            )
        }
        _ => (e.to_string(), None),
    }
}

impl From<&Error> for Status {
    /// The one mapping from the gateway's errors to gRPC status codes.
    fn from(e: &Error) -> Status {
        let (m, _) = client_message(e, "gateway");
        match e {
            Error::BadRequest(_) | Error::Incomplete(_) | Error::BadDigest(_) => {
                Status::invalid_argument(m)
            }
            Error::BadSignature(_) => Status::unauthenticated(m),
            Error::TooLarge(_) => Status::out_of_range(m),
            Error::NotFound(_) => Status::not_found(m),
            Error::Exists(_) => Status::already_exists(m),
            Error::Mismatch(_) | Error::HeldByS3(_) => Status::failed_precondition(m),
            Error::NoCapacity(_) | Error::Quota(_) => Status::resource_exhausted(m),
            Error::Unavailable(_) => Status::unavailable(m),
            Error::Object(tessera_object::Error::TooFewMiners { .. }) => Status::unavailable(m),
            Error::Object(_) => Status::invalid_argument(m),
            Error::Storage(_) | Error::Core(_) | Error::Internal(_) => Status::internal(m),
        }
    }
}

/// The one mapping from the gateway's errors to HTTP: the status, the body line, and for the
/// gateway's own failures the incident id (sent as `x-request-id`).
pub(crate) fn http_status(e: &Error) -> (StatusCode, String, Option<String>) {
    let (m, id) = client_message(e, "http");
    let code = match e {
        Error::BadRequest(_) | Error::Incomplete(_) | Error::BadDigest(_) | Error::Object(_) => {
            StatusCode::BAD_REQUEST
        }
        Error::BadSignature(_) => StatusCode::FORBIDDEN,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Exists(_) | Error::HeldByS3(_) => StatusCode::CONFLICT,
        Error::Mismatch(_) => StatusCode::PRECONDITION_FAILED,
        Error::NoCapacity(_) => StatusCode::INSUFFICIENT_STORAGE,
        Error::Quota(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Storage(_) | Error::Core(_) | Error::Internal(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    (code, m, id)
}

/// The one mapping from the gateway's errors to S3's: the code (which sets the HTTP status),
/// the message, and for the gateway's own failures the incident id as the request id. Errors
/// that only the S3 face can have (no such bucket, a part out of order) are made there directly.
pub(crate) fn s3_error(e: &Error) -> s3s::S3Error {
    use s3s::S3ErrorCode as C;
    let (m, id) = client_message(e, "s3");
    let code = match e {
        // HeldByS3 comes only from the object API; S3's own deletes never meet it.
        Error::BadRequest(_) | Error::Mismatch(_) | Error::Exists(_) | Error::HeldByS3(_) => {
            C::InvalidRequest
        }
        Error::NotFound(_) => C::NoSuchKey,
        Error::Incomplete(_) => C::IncompleteBody,
        Error::BadDigest(_) => C::BadDigest,
        Error::BadSignature(_) => C::SignatureDoesNotMatch,
        Error::TooLarge(_) => C::EntityTooLarge,
        // Not one of AWS's codes (AWS has no quotas): a client shows it as sent.
        Error::Quota(_) => C::Custom("QuotaExceeded".into()),
        // Both retryable for S3 clients, which back off and try again.
        Error::NoCapacity(_) | Error::Unavailable(_) => C::ServiceUnavailable,
        Error::Object(tessera_object::Error::TooFewMiners { .. }) => C::ServiceUnavailable,
        Error::Object(_) => C::InvalidRequest,
        Error::Storage(_) | Error::Core(_) | Error::Internal(_) => C::InternalError,
    };
    let quota = matches!(e, Error::Quota(_));
    let mut err = s3s::S3Error::with_message(code, m);
    if quota {
        err.set_status_code(StatusCode::FORBIDDEN);
    }
    if let Some(id) = id {
        err.set_request_id(id);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_internal_ones_show_only_an_id() {
        let check = |e: Error, grpc: tessera_proto::tonic::Code, http: StatusCode| {
            let s = Status::from(&e);
            let (code, body, id) = http_status(&e);
            assert_eq!(s.code(), grpc, "{e}");
            assert_eq!(code, http, "{e}");
            if let Error::Internal(detail) = &e {
                assert!(!s.message().contains(detail.as_str()), "{}", s.message());
                assert!(!body.contains(detail.as_str()), "{body}");
                assert!(s.message().contains("request ") && id.is_some());
            } else {
                assert_eq!(s.message(), e.to_string());
                assert!(id.is_none());
            }
        };
        use tessera_proto::tonic::Code;
        check(
            Error::BadRequest("x".into()),
            Code::InvalidArgument,
            StatusCode::BAD_REQUEST,
        );
        check(
            Error::NotFound("object 00 not found".into()),
            Code::NotFound,
            StatusCode::NOT_FOUND,
        );
        check(
            Error::Exists("x".into()),
            Code::AlreadyExists,
            StatusCode::CONFLICT,
        );
        check(
            Error::Mismatch("x".into()),
            Code::FailedPrecondition,
            StatusCode::PRECONDITION_FAILED,
        );
        check(
            Error::HeldByS3("x".into()),
            Code::FailedPrecondition,
            StatusCode::CONFLICT,
        );
        check(
            Error::NoCapacity("x".into()),
            Code::ResourceExhausted,
            StatusCode::INSUFFICIENT_STORAGE,
        );
        check(
            Error::Quota("x".into()),
            Code::ResourceExhausted,
            StatusCode::PAYLOAD_TOO_LARGE,
        );
        check(
            Error::Unavailable("x".into()),
            Code::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
        );
        check(
            Error::Internal("/var/lib/tessera/db/validator.sqlite: disk I/O error".into()),
            Code::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
        );
        check(
            Error::Incomplete("x".into()),
            Code::InvalidArgument,
            StatusCode::BAD_REQUEST,
        );
        check(
            Error::BadDigest("x".into()),
            Code::InvalidArgument,
            StatusCode::BAD_REQUEST,
        );
        check(
            Error::BadSignature("x".into()),
            Code::Unauthenticated,
            StatusCode::FORBIDDEN,
        );
        check(
            Error::TooLarge("x".into()),
            Code::OutOfRange,
            StatusCode::PAYLOAD_TOO_LARGE,
        );
    }

    #[test]
    fn each_error_has_its_s3_code_and_status() {
        use s3s::S3ErrorCode as C;
        let check = |e: Error, code: C, status: StatusCode| {
            let s3 = s3_error(&e);
            assert_eq!(*s3.code(), code, "{e}");
            let got = s3.status_code().or_else(|| s3.code().status_code());
            assert_eq!(got, Some(status), "{e}");
            if let Error::Internal(detail) = &e {
                let message = s3.message().unwrap_or_default();
                assert!(!message.contains(detail.as_str()), "{message}");
                assert!(s3.request_id().is_some_and(|id| message.contains(id)));
            } else {
                assert_eq!(s3.message(), Some(e.to_string().as_str()));
            }
        };
        let bad = StatusCode::BAD_REQUEST;
        check(Error::BadRequest("x".into()), C::InvalidRequest, bad);
        check(
            Error::NotFound("x".into()),
            C::NoSuchKey,
            StatusCode::NOT_FOUND,
        );
        check(Error::HeldByS3("x".into()), C::InvalidRequest, bad);
        check(Error::Incomplete("x".into()), C::IncompleteBody, bad);
        check(Error::BadDigest("x".into()), C::BadDigest, bad);
        check(
            Error::BadSignature("x".into()),
            C::SignatureDoesNotMatch,
            StatusCode::FORBIDDEN,
        );
        check(Error::TooLarge("x".into()), C::EntityTooLarge, bad);
        check(
            Error::Quota("x".into()),
            C::Custom("QuotaExceeded".into()),
            StatusCode::FORBIDDEN,
        );
        check(
            Error::Unavailable("x".into()),
            C::ServiceUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
        );
        check(
            Error::NoCapacity("x".into()),
            C::ServiceUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
        );
        check(
            Error::Internal("/var/lib/tessera/db/validator.sqlite: disk I/O error".into()),
            C::InternalError,
            StatusCode::INTERNAL_SERVER_ERROR,
        );
    }
}
