//! `haul gateway serve`: the embedded S3 gateway in the foreground, over HTTP or, with
//! `--tls-cert` and `--tls-key`, HTTPS.

use anyhow::Result;
use haul_gateway::{Gateway, GatewayConfig, TlsFiles};

use crate::args::GatewayServeArgs;

pub(crate) async fn serve(a: &GatewayServeArgs) -> Result<()> {
    let mut cfg = GatewayConfig::new(a.root.clone(), a.access_key.clone(), a.secret_key.clone());
    cfg.listen = a.listen;
    // clap makes each of the two flags require the other.
    if let (Some(cert_pem), Some(key_pem)) = (&a.tls_cert, &a.tls_key) {
        cfg.tls = Some(TlsFiles {
            cert_pem: cert_pem.clone(),
            key_pem: key_pem.clone(),
        });
    }
    let gw = Gateway::start(cfg).await?;
    // The first stdout line is the contract with scripts and tests.
    println!("endpoint={}", gw.endpoint_url());
    eprintln!(
        "haul gateway: serving {} at {} (access key {}); Ctrl-C stops",
        a.root.display(),
        gw.endpoint_url(),
        a.access_key
    );
    // main cancels the token on SIGINT or SIGTERM.
    engine::cancel::token().cancelled().await;
    gw.shutdown().await;
    Ok(())
}
