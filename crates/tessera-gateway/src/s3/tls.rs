//! TLS for the S3 face (`--s3.tls_cert`, `--s3.tls_key`): S3 clients send plaintext and
//! access-key signatures, which must not cross a network in the clear. Over TLS, aws-cli and
//! boto3 also stop hashing each body for its signature: they send
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, a CRC32 after the body instead.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// What an S3 TLS file is wrong by, naming the file.
fn bad(what: &str, path: &Path, why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("{what} {}: {why}", path.display()),
    )
}

/// The acceptor for a PEM certificate chain (leaf first) and its PEM private key.
pub fn acceptor(cert: &Path, key: &Path) -> std::io::Result<TlsAcceptor> {
    let read = |what: &str, path: &Path| std::fs::read(path).map_err(|e| bad(what, path, e));
    let cert_pem = read("s3.tls_cert", cert)?;
    let key_pem = read("s3.tls_key", key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            bad(
                "s3.tls_cert",
                cert,
                format!("not a PEM certificate chain: {e}"),
            )
        })?;
    if chain.is_empty() {
        return Err(bad("s3.tls_cert", cert, "holds no PEM certificate"));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad("s3.tls_key", key, format!("no PEM private key in it: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("s3.tls_cert", cert, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            bad(
                "s3.tls_key",
                key,
                format!("does not fit the certificate: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each wrong file is refused with its flag and path in one line.
    fn check(cert: &[u8], key: &[u8], want: &str) {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        match acceptor(&c, &k) {
            Ok(_) if want.is_empty() => {}
            Ok(_) => panic!("accepted; wanted an error with {want:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(!want.is_empty(), "refused: {msg}");
                assert!(msg.contains(want), "{msg:?} lacks {want:?}");
                assert!(!msg.contains('\n'), "{msg:?} is not one line");
            }
        }
    }

    #[test]
    fn certificate_files_are_checked() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        check(cert.as_bytes(), key.as_bytes(), "");
        check(b"", key.as_bytes(), "s3.tls_cert");
        check(b"hello", key.as_bytes(), "holds no PEM certificate");
        check(key.as_bytes(), key.as_bytes(), "holds no PEM certificate");
        check(cert.as_bytes(), b"", "s3.tls_key");
        check(cert.as_bytes(), cert.as_bytes(), "no PEM private key");
        check(
            cert.as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
            "does not fit the certificate",
        );
        let missing = Path::new("/nonexistent/cert.pem");
        let e = acceptor(missing, missing).err().unwrap().to_string();
        assert!(e.starts_with("s3.tls_cert /nonexistent/cert.pem: "), "{e}");
    }
}
