//! TLS client settings: system roots, an optional CA bundle, and verification off only on
//! explicit request.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How haul checks the gateway's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra trusted roots, PEM (`--ca-bundle`, `AWS_CA_BUNDLE`, s3cmd's `ca_certs_file`).
    pub ca_bundle: Option<PathBuf>,
    /// Skip certificate verification (`--no-verify-ssl`); the CLI warns when it is set.
    pub insecure_skip_verify: bool,
    /// Do not read the system's roots: the endpoint is plain `http://`, where they would never
    /// be used (reading them opens every file of `/etc/ssl/certs` at each start). A CA bundle,
    /// when given, is still read and checked; an `https://` URI then trusts only it.
    pub skip_system_roots: bool,
}

pub(super) fn client_config(opts: &TlsOptions) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls protocol versions: {e}"))?;
    if opts.insecure_skip_verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    // System roots: a host without any (a minimal container) still works with --ca-bundle.
    if !opts.skip_system_roots {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A malformed system certificate is skipped, as curl and every browser do.
            let _ = roots.add(cert);
        }
    }
    if let Some(path) = &opts.ca_bundle {
        let pem = fs_err::read(path).map_err(|e| e.to_string())?;
        let mut added = 0usize;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("ca bundle {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca bundle {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "ca bundle {}: no PEM certificate found",
                path.display()
            ));
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Accepts any certificate: only behind `--no-verify-ssl`, which the CLI announces loudly.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skipping the system roots for a plain-http endpoint never skips checking a CA bundle
    /// the user named: a wrong one is still an error that names it.
    #[test]
    fn a_named_bundle_is_checked_without_system_roots() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        fs_err::write(&empty, b"not a certificate\n").unwrap();
        for skip_system_roots in [false, true] {
            let opts = |ca: PathBuf| TlsOptions {
                ca_bundle: Some(ca),
                insecure_skip_verify: false,
                skip_system_roots,
            };
            let err = client_config(&opts(empty.clone())).unwrap_err();
            assert!(
                err.contains("no PEM certificate found") && err.contains("empty.pem"),
                "{err}"
            );
            let missing = dir.path().join("missing.pem");
            let err = client_config(&opts(missing)).unwrap_err();
            assert!(err.contains("missing.pem"), "{err}");
        }
        let plain = TlsOptions {
            skip_system_roots: true,
            ..TlsOptions::default()
        };
        assert!(client_config(&plain).is_ok());
    }
}
