//! `haul gateway serve`: the embedded S3 gateway in the foreground, over HTTP or, with
//! `--tls-cert` and `--tls-key`, HTTPS. `haul gateway fault-proxy`: the fault-injecting proxy
//! (`haul_gateway::fault`) in front of a gateway. `haul gateway synthetic`: the generated,
//! read-only bucket (`haul_gateway::synthetic`).

use anyhow::Result;
use haul_gateway::{
    FaultProxy, FaultProxyConfig, Gateway, GatewayConfig, SyntheticConfig, SyntheticGateway,
    TlsFiles,
};

use crate::args::{GatewayFaultProxyArgs, GatewayServeArgs, GatewaySyntheticArgs};

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

/// `haul gateway fault-proxy`: the fault-injecting proxy in the foreground; its counters are
/// printed to stderr when it stops.
pub(crate) async fn fault_proxy(a: &GatewayFaultProxyArgs) -> Result<()> {
    let mut cfg = FaultProxyConfig::new(a.upstream.clone(), a.listen);
    cfg.control_listen = a.control_listen;
    if let Some(mode) = &a.mode {
        cfg.mode = mode.clone();
    }
    let proxy = FaultProxy::start_with(cfg).await?;
    // The first two stdout lines are the contract with scripts and tests.
    println!("endpoint={}", proxy.endpoint_url());
    println!("control={}", proxy.control_url());
    eprintln!(
        "haul gateway fault-proxy: {} -> {}, mode {} (PUT {}/__fault/mode to change, GET {}/__fault/stats to count); Ctrl-C stops",
        proxy.endpoint_url(),
        a.upstream,
        proxy.mode(),
        proxy.control_url(),
        proxy.control_url(),
    );
    // main cancels the token on SIGINT or SIGTERM.
    engine::cancel::token().cancelled().await;
    let stats = proxy.stats();
    proxy.shutdown().await;
    eprintln!(
        "haul gateway fault-proxy: stopped; stats {}",
        stats.to_json()
    );
    Ok(())
}

/// `haul gateway synthetic`: the synthetic gateway in the foreground; its counters are
/// printed to stderr when it stops.
pub(crate) async fn synthetic(a: &GatewaySyntheticArgs) -> Result<()> {
    let mut cfg = SyntheticConfig::new(a.objects);
    cfg.bucket.clone_from(&a.bucket);
    cfg.layout = a.layout;
    cfg.size = a.size;
    cfg.listen = a.listen;
    cfg.list_delay = std::time::Duration::from_millis(a.list_delay_ms);
    cfg.hostile = a.hostile;
    let gw = SyntheticGateway::start(cfg).await?;
    // The first stdout line is the contract with scripts and tests.
    println!("endpoint={}", gw.endpoint_url());
    let hostile = a
        .hostile
        .map(|mode| format!(", HOSTILE listings ({mode})"))
        .unwrap_or_default();
    eprintln!(
        "haul gateway synthetic: bucket {} of {} {}-byte objects ({} layout) at {}, read-only, any credentials{hostile}; Ctrl-C stops",
        gw.bucket(),
        gw.objects(),
        a.size,
        a.layout,
        gw.endpoint_url(),
    );
    // main cancels the token on SIGINT or SIGTERM.
    engine::cancel::token().cancelled().await;
    let stats = gw.stats();
    gw.shutdown().await;
    eprintln!("haul gateway synthetic: stopped; {stats}");
    Ok(())
}
