//! HTTPS: the rustls server configuration built from a PEM certificate chain and key.
//!
//! Only the listener changes with TLS: each accepted TCP connection is handshaken by
//! tokio-rustls before hyper serves HTTP/1.1 on it (`server.rs`); s3s sees the same requests
//! either way. The ring provider is named explicitly, as in the engine's client, so nothing
//! depends on a process-wide default provider.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{GatewayError, TlsFiles};

/// The acceptor for `files`: the certificate chain (leaf first, as in any PEM bundle a web
/// server takes) and its private key (PKCS#8, PKCS#1 or SEC1). TLS 1.2 and 1.3, ALPN
/// `http/1.1`, no client certificates.
pub(crate) async fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, GatewayError> {
    let certs = load_certs(&files.cert_pem).await?;
    let key = load_key(&files.key_pem).await?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| GatewayError::TlsConfig {
            cert_pem: files.cert_pem.clone(),
            key_pem: files.key_pem.clone(),
            source,
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let fail = |source| GatewayError::TlsFile {
        what: "certificate",
        path: path.to_owned(),
        source,
    };
    let pem = tokio::fs::read(path).await.map_err(fail)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    if certs.is_empty() {
        return Err(fail(io::Error::new(
            io::ErrorKind::InvalidData,
            "no PEM certificate found",
        )));
    }
    Ok(certs)
}

async fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, GatewayError> {
    let fail = |source| GatewayError::TlsFile {
        what: "private key",
        path: path.to_owned(),
        source,
    };
    let pem = tokio::fs::read(path).await.map_err(fail)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(fail)?
        .ok_or_else(|| {
            fail(io::Error::new(
                io::ErrorKind::InvalidData,
                "no PEM private key found",
            ))
        })
}
