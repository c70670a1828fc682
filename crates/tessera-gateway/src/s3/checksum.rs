//! S3's additional checksums (`x-amz-checksum-crc32` and its kin) on uploads: the value comes
//! in a header, or in a trailer after the body when the client streams (`x-amz-trailer`, which
//! aws-cli and boto3 send over TLS). Either way the body is hashed as it streams in and a
//! mismatch is `BadDigest` before the last segment goes, so nothing is stored.

use axum::http::HeaderMap;
use base64::Engine as _;
use s3s::S3Result;
use s3s::TrailingHeaders;
use s3s::checksum::ChecksumHasher;
use s3s::s3_error;
use std::sync::Arc;

use crate::Error;
use crate::plain::BodyCheck;

/// The algorithms S3 names, by the suffix of their `x-amz-checksum-` header.
const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// Reads a trailer's value by name once the body is read.
pub(super) type Trailers = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The trailers s3s keeps for an aws-chunked body.
pub(super) fn trailers(handle: Option<TrailingHeaders>) -> Option<Trailers> {
    let handle = handle?;
    Some(Arc::new(move |name: &str| {
        handle
            .read(|h| h.get(name).map(|v| v.to_str().unwrap_or("").to_owned()))
            .flatten()
    }))
}

/// Where the client's value is.
enum Expected {
    Header(Vec<u8>),
    Trailer(Trailers),
}

/// One checksum a request asked to be checked.
struct Check {
    algorithm: &'static str,
    hasher: ChecksumHasher,
    expected: Expected,
}

/// The checksum `headers` ask for, if any: a value in an `x-amz-checksum-*` header, or a
/// trailer of that name announced by `x-amz-trailer` (whose value `trailers` has once the body
/// is read). More than one, or a value that is not base64, is refused before any body is read.
pub(super) fn requested(
    headers: &HeaderMap,
    trailers: Option<&Trailers>,
) -> S3Result<Option<Box<dyn BodyCheck>>> {
    let mut found: Option<Check> = None;
    for algorithm in ALGORITHMS {
        let name = format!("x-amz-checksum-{algorithm}");
        let expected = if let Some(value) = headers.get(&name) {
            let value = value.to_str().unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| s3_error!(InvalidRequest, "{name} {value:?} is not base64"))?;
            Expected::Header(bytes)
        } else if announced(headers, &name) {
            let Some(trailers) = trailers else {
                return Err(s3_error!(
                    InvalidRequest,
                    "x-amz-trailer names {name}, but the body is not aws-chunked"
                ));
            };
            Expected::Trailer(trailers.clone())
        } else {
            continue;
        };
        if found.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "more than one x-amz-checksum algorithm in one request"
            ));
        }
        let mut hasher = ChecksumHasher::default();
        match algorithm {
            "crc32" => hasher.crc32 = Some(Default::default()),
            "crc32c" => hasher.crc32c = Some(Default::default()),
            "crc64nvme" => hasher.crc64nvme = Some(Default::default()),
            "sha1" => hasher.sha1 = Some(Default::default()),
            _ => hasher.sha256 = Some(Default::default()),
        }
        found = Some(Check {
            algorithm,
            hasher,
            expected,
        });
    }
    Ok(found.map(|c| Box::new(c) as Box<dyn BodyCheck>))
}

/// Whether `x-amz-trailer` names the header `name`.
fn announced(headers: &HeaderMap, name: &str) -> bool {
    headers.get_all("x-amz-trailer").iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(name))
    })
}

impl BodyCheck for Check {
    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    fn finish(self: Box<Self>) -> Result<(), Error> {
        let name = format!("x-amz-checksum-{}", self.algorithm);
        let expected = match self.expected {
            Expected::Header(bytes) => bytes,
            Expected::Trailer(trailers) => {
                let value = trailers(&name).ok_or_else(|| {
                    Error::Incomplete(format!("the body ended without its {name} trailer"))
                })?;
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|_| {
                        Error::BadDigest(format!("trailer {name} {value:?} is not base64"))
                    })?
            }
        };
        let sums = self.hasher.finalize();
        let got = [
            sums.checksum_crc32,
            sums.checksum_crc32c,
            sums.checksum_crc64nvme,
            sums.checksum_sha1,
            sums.checksum_sha256,
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_default();
        // Both in s3s's canonical base64, however the client padded or spaced its value.
        let want = base64::engine::general_purpose::STANDARD.encode(&expected);
        if got == want {
            Ok(())
        } else {
            Err(Error::BadDigest(format!(
                "the body's {} is {got}, not the {want} its {name} says",
                self.algorithm.to_uppercase(),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `body` against the request `headers` (and `trailer`, given as the trailers
    /// handle's contents once the body is read): `Ok` when it matches, else the error's text.
    fn check(
        headers: &[(&str, &str)],
        trailer: Option<(&str, &str)>,
        body: &[u8],
    ) -> Result<bool, String> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let sent = Arc::new(std::sync::Mutex::new(None::<(String, String)>));
        let seen = sent.clone();
        let trailers: Trailers = Arc::new(move |name: &str| {
            let sent = seen.lock().unwrap();
            sent.as_ref()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        });
        let check = requested(&map, Some(&trailers)).map_err(|e| format!("{e:?}"))?;
        let Some(mut check) = check else {
            return Ok(false);
        };
        check.update(&body[..body.len() / 2]);
        check.update(&body[body.len() / 2..]);
        *sent.lock().unwrap() = trailer.map(|(k, v)| (k.to_owned(), v.to_owned()));
        check.finish().map(|()| true).map_err(|e| e.to_string())
    }

    #[test]
    fn checksums_in_headers_and_trailers() {
        let body = b"hello, tessera";
        // The CRC32 of `body`, big-endian and base64 as S3 writes it (from Python's zlib).
        let crc32 = "WWxUMg==";
        assert_eq!(
            check(&[("x-amz-checksum-crc32", crc32)], None, body),
            Ok(true)
        );
        assert_eq!(
            check(&[], None, body),
            Ok(false),
            "none asked, none checked"
        );
        let wrong = check(&[("x-amz-checksum-crc32", "AAAAAA==")], None, body).unwrap_err();
        assert!(wrong.contains("CRC32 is WWxUMg=="), "{wrong}");
        let trailer = [("x-amz-trailer", "x-amz-checksum-crc32")];
        assert_eq!(
            check(&trailer, Some(("x-amz-checksum-crc32", crc32)), body),
            Ok(true)
        );
        let late = check(&trailer, Some(("x-amz-checksum-crc32", "AAAAAA==")), body).unwrap_err();
        assert!(late.contains("not the AAAAAA=="), "{late}");
        let absent = check(&trailer, None, body).unwrap_err();
        assert!(
            absent.contains("without its x-amz-checksum-crc32 trailer"),
            "{absent}"
        );
        let bad = check(&[("x-amz-checksum-sha256", "not base64!")], None, body).unwrap_err();
        assert!(bad.contains("not base64"), "{bad}");
        let two = check(
            &[
                ("x-amz-checksum-crc32", crc32),
                ("x-amz-checksum-sha1", crc32),
            ],
            None,
            body,
        )
        .unwrap_err();
        assert!(two.contains("more than one"), "{two}");
    }
}
