//! HTTPS: the gateway with a certificate from a throwaway CA, made here with rcgen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use haul_gateway::{Gateway, GatewayConfig, GatewayError, TlsFiles};
use http::StatusCode;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::client::{Conn, object_path};
use crate::{ACCESS_KEY, SECRET_KEY, TestGateway, init_log, pattern};

/// A CA and a server certificate it signed for the IP address 127.0.0.1, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca: rustls::pki_types::CertificateDer<'static>,
}

impl Pki {
    async fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "haul gateway test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        // An IP literal becomes an iPAddress subject alternative name.
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let server_cert = params.signed_by(&server_key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        tokio::fs::write(dir.path().join("cert.pem"), server_cert.pem())
            .await
            .unwrap();
        tokio::fs::write(dir.path().join("key.pem"), server_key.serialize_pem())
            .await
            .unwrap();
        Pki {
            dir,
            ca: ca_cert.der().clone(),
        }
    }

    fn files(&self) -> TlsFiles {
        TlsFiles {
            cert_pem: self.path("cert.pem"),
            key_pem: self.path("key.pem"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A client that trusts only `roots`.
    fn connector(roots: &[rustls::pki_types::CertificateDer<'static>]) -> TlsConnector {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root.clone()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

async fn start_tls(files: TlsFiles) -> Result<TestGateway, GatewayError> {
    init_log();
    let root = tempfile::tempdir().unwrap();
    let mut cfg = GatewayConfig::new(root.path(), ACCESS_KEY, SECRET_KEY);
    cfg.tls = Some(files);
    let gateway = Gateway::start(cfg).await?;
    Ok(TestGateway { gateway, root })
}

async fn tls_conn(gw: &TestGateway, connector: &TlsConnector) -> std::io::Result<Conn> {
    let tcp = TcpStream::connect(gw.addr()).await?;
    let name = ServerName::IpAddress(gw.addr().ip().into());
    let tls = connector.connect(name, tcp).await?;
    Ok(Conn::over(tls, "https", gw.addr(), ACCESS_KEY, SECRET_KEY)
        .await
        .unwrap())
}

#[tokio::test]
async fn https_serves_s3_to_a_client_that_trusts_the_ca() {
    let pki = Pki::new().await;
    let gw = start_tls(pki.files()).await.unwrap();
    assert_eq!(
        gw.gateway.endpoint_url(),
        format!("https://{}", gw.addr()),
        "an HTTPS gateway announces an https:// endpoint"
    );

    let trusted = Pki::connector(std::slice::from_ref(&pki.ca));
    let mut conn = tls_conn(&gw, &trusted).await.unwrap();
    conn.send("PUT", "/db_wal", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    let body = pattern(300_000);
    let path = object_path("db_wal", "base/segment 1");
    conn.send("PUT", &path, &[], body.clone())
        .await
        .unwrap()
        .expect_status(StatusCode::OK);
    let got = conn.send("GET", &path, &[], "").await.unwrap();
    got.expect_status(StatusCode::OK);
    assert!(
        got.body == body,
        "object bytes differ after an HTTPS round trip"
    );

    gw.gateway.shutdown().await;
}

#[tokio::test]
async fn untrusting_and_plain_http_clients_are_refused_and_the_gateway_goes_on() {
    let pki = Pki::new().await;
    let gw = start_tls(pki.files()).await.unwrap();

    // A client with no root for this CA refuses the certificate during the handshake.
    let untrusting = Pki::connector(&[]);
    let err = tls_conn(&gw, &untrusting)
        .await
        .err()
        .expect("a client that does not trust the CA must fail the handshake");
    let rustls_err = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a rustls error: {err:?}"));
    assert!(
        matches!(
            rustls_err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{rustls_err:?}"
    );

    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let mut plain = TcpStream::connect(gw.addr()).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        gw.addr()
    );
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The gateway closes the connection (or resets it) after the failed handshake.
    let _ = plain.read_to_end(&mut answer).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer from the HTTPS gateway: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // Neither failure hurt the gateway: a trusting client is served.
    let trusted = Pki::connector(std::slice::from_ref(&pki.ca));
    let mut conn = tls_conn(&gw, &trusted).await.unwrap();
    conn.send("GET", "/", &[], "")
        .await
        .unwrap()
        .expect_status(StatusCode::OK);

    gw.gateway.shutdown().await;
}

#[tokio::test]
async fn unusable_tls_files_are_reported_with_their_path() {
    let pki = Pki::new().await;
    let other = Pki::new().await;

    let missing = TlsFiles {
        cert_pem: pki.path("missing.pem"),
        ..pki.files()
    };
    let err = start_tls(missing).await.err().expect("missing certificate");
    assert!(
        matches!(&err, GatewayError::TlsFile { what: "certificate", path, .. } if path.ends_with("missing.pem")),
        "{err:?}"
    );

    // A certificate file given as the key holds no private key.
    let no_key = TlsFiles {
        key_pem: pki.path("cert.pem"),
        ..pki.files()
    };
    let err = start_tls(no_key).await.err().expect("no key");
    assert!(
        matches!(
            &err,
            GatewayError::TlsFile {
                what: "private key",
                ..
            }
        ),
        "{err:?}"
    );

    // A key that belongs to another certificate.
    let mismatched = TlsFiles {
        key_pem: other.path("key.pem"),
        ..pki.files()
    };
    let err = start_tls(mismatched).await.err().expect("mismatched key");
    assert!(
        matches!(&err, GatewayError::TlsConfig { key_pem, .. } if key_pem == Path::new(&other.path("key.pem"))),
        "{err:?}"
    );
}
