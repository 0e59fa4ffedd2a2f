//! HTTPS end to end: `haul gateway serve --tls-cert --tls-key` with a certificate from a
//! throwaway CA made here (rcgen), and the `haul` client trusting it through `--ca-bundle` or
//! `AWS_CA_BUNDLE`, refusing it without, and skipping the check with `--no-verify-ssl`.
//!
//! Each case starts its own HTTPS gateway as a child process and stops it (kill, wait) when
//! the case ends, passed or failed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::gateway::{self, Gateway};
use crate::haul::{self, Haul, unique_bucket};

pub(crate) const STANDALONE: &[crate::cases::Standalone] = &[
    (
        "issue_2_tls_ca_bundle_multipart_round_trip",
        ca_bundle_round_trip,
    ),
    ("issue_2_tls_untrusted_certificate", untrusted_certificate),
    ("issue_2_tls_no_verify_ssl_warns", no_verify_ssl),
    ("issue_2_tls_aws_ca_bundle_env", aws_ca_bundle_env),
];

const MIB: usize = 1024 * 1024;

/// The hint `engine::Error::hint` gives for a TLS failure (engine/src/error.rs).
const UNTRUSTED_HINT: &str = "the certificate is not trusted: pass --ca-bundle FILE";

/// A CA and a server certificate it signed for the IP address 127.0.0.1, as PEM files in a
/// temporary directory: `ca.pem`, `cert.pem`, `key.pem`.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Result<Pki> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "haul e2e throwaway CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        // An IP literal becomes an iPAddress subject alternative name, which is what a client
        // connecting to https://127.0.0.1:PORT checks.
        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let dir = tempfile::tempdir()?;
        fs_err::write(dir.path().join("ca.pem"), ca_cert.pem())?;
        fs_err::write(dir.path().join("cert.pem"), server_cert.pem())?;
        fs_err::write(dir.path().join("key.pem"), server_key.serialize_pem())?;
        Ok(Pki { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }
}

/// An HTTPS gateway with a fresh PKI. Dropping the [`Gateway`] kills and reaps the child.
fn start() -> Result<(Gateway, Pki)> {
    let pki = Pki::new()?;
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    let args: [&OsStr; 4] = [
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
    ];
    let gw = gateway::spawn_s3s(&haul::binary()?, "s3s-tls", &args)?;
    ensure!(
        gw.endpoint.starts_with("https://127.0.0.1:"),
        "an HTTPS gateway announced {}",
        gw.endpoint
    );
    Ok((gw, pki))
}

/// Runs `case` against a fresh HTTPS gateway, then stops the gateway; a failure carries the
/// gateway's log tail.
fn with_gateway(case: impl FnOnce(&Gateway, &Pki) -> Result<()>) -> Result<()> {
    let (gw, pki) = start()?;
    let result =
        case(&gw, &pki).map_err(|e| anyhow::anyhow!("{e:#}\ngateway log {}", gw.log_tail()));
    // Our own child, by its handle: `Drop` kills it and waits for it.
    drop(gw);
    result
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) % 251) as u8).collect()
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("temporary path is not UTF-8")
}

/// `haul --ca-bundle ca.pem mb/cp/ls/cp`: a 6 MiB object up as a two-part multipart upload
/// and back as two ranged GETs, over HTTPS, byte-identical.
fn ca_bundle_round_trip() -> Result<()> {
    with_gateway(|gw, pki| {
        let ca = pki.ca();
        let ca = path_str(&ca)?;
        let b = unique_bucket("tls");
        let bucket = format!("s3://{b}");
        Haul::new(gw, &["--ca-bundle", ca, "mb", &bucket])?.ok()?;

        let dir = tempfile::tempdir()?;
        let src = dir.path().join("six.bin");
        let want = data(6 * MIB);
        fs_err::write(&src, &want)?;
        let key = format!("{bucket}/base/six.bin");
        let parts = ["--part-size", "5MiB", "--multipart-threshold", "5MiB"];
        let mut up = vec!["--ca-bundle", ca, "-vv", "cp"];
        up.extend_from_slice(&parts);
        up.extend_from_slice(&[path_str(&src)?, &key]);
        let out = Haul::new(gw, &up)?.output()?;
        let log = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success(),
            "upload failed ({}):\n{log}",
            out.status
        );
        ensure!(
            log.contains("UploadPart") && log.contains("CompleteMultipartUpload"),
            "the 6 MiB upload was not multipart:\n{log}"
        );

        let listing = Haul::new(
            gw,
            &["--ca-bundle", ca, "ls", "--recursive", "--json", &bucket],
        )?
        .ok()?;
        let listed = String::from_utf8(listing)?
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v.get("key").and_then(|k| k.as_str()) == Some("base/six.bin"))
            .with_context(|| format!("ls does not list base/six.bin in {bucket}"))?;
        ensure!(
            listed.get("size").and_then(serde_json::Value::as_u64) == Some(want.len() as u64),
            "listed size differs: {listed}"
        );

        let back = dir.path().join("back.bin");
        let mut down = vec!["--ca-bundle", ca, "cp"];
        down.extend_from_slice(&parts);
        down.extend_from_slice(&[&key, path_str(&back)?]);
        Haul::new(gw, &down)?.ok()?;
        let got = fs_err::read(&back)?;
        ensure!(got.len() == want.len(), "got {} B back", got.len());
        ensure!(got == want, "content differs after the HTTPS round trip");

        Haul::new(gw, &["--ca-bundle", ca, "rb", "--force", &bucket])?.ok()?;
        Ok(())
    })
}

/// Without the CA, and with an unrelated CA, the certificate is refused: exit code 5, the
/// certificate named as the cause, and the --ca-bundle hint.
fn untrusted_certificate() -> Result<()> {
    with_gateway(|gw, _pki| {
        let stranger = Pki::new()?;
        let wrong_ca = stranger.ca();
        for extra in [&[][..], &["--ca-bundle", path_str(&wrong_ca)?][..]] {
            let mut args = extra.to_vec();
            args.push("ls");
            let err = Haul::new(gw, &args)?
                .fails_with(5)
                .with_context(|| format!("haul {args:?}"))?;
            ensure!(
                err.contains("certificate"),
                "haul {args:?}: the error does not name the certificate:\n{err}"
            );
            ensure!(
                err.contains(UNTRUSTED_HINT),
                "haul {args:?}: no hint to pass --ca-bundle:\n{err}"
            );
            // A certificate will not become trusted by waiting: it fails at once, unretried.
            ensure!(
                !err.contains("retrying"),
                "haul {args:?}: a TLS failure was retried:\n{err}"
            );
            ensure!(
                err.contains(gw.endpoint.trim_start_matches("https://")),
                "haul {args:?}: the error names no endpoint:\n{err}"
            );
        }
        Ok(())
    })
}

/// `--no-verify-ssl` talks to the gateway without the CA and says loudly that nothing is
/// checked.
fn no_verify_ssl() -> Result<()> {
    with_gateway(|gw, _pki| {
        let b = unique_bucket("tls-noverify");
        let bucket = format!("s3://{b}");
        let key = format!("{bucket}/note.txt");
        let want = b"verified by nobody".to_vec();
        for args in [
            vec!["--no-verify-ssl", "mb", &bucket],
            vec!["--no-verify-ssl", "cp", "-", &key],
            vec!["--no-verify-ssl", "cp", &key, "-"],
            vec!["--no-verify-ssl", "rb", "--force", &bucket],
        ] {
            let out = Haul::new(gw, &args)?.stdin(want.clone()).output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                out.status.success(),
                "haul {args:?} failed ({}):\n{stderr}",
                out.status
            );
            ensure!(
                stderr.contains("TLS certificate verification is OFF"),
                "haul {args:?}: no warning that verification is off:\n{stderr}"
            );
            if args.last() == Some(&"-") {
                ensure!(
                    out.stdout == want,
                    "downloaded {:?}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
        Ok(())
    })
}

/// `AWS_CA_BUNDLE` trusts the CA as `--ca-bundle` does.
fn aws_ca_bundle_env() -> Result<()> {
    with_gateway(|gw, pki| {
        let b = unique_bucket("tls-env");
        let bucket = format!("s3://{b}");
        let key = format!("{bucket}/from-env.bin");
        let want = data(100_000);
        let ca = pki.ca();
        let run = |args: &[&str]| Haul::new(gw, args).map(|h| h.env("AWS_CA_BUNDLE", &ca));
        run(&["mb", &bucket])?.ok()?;
        run(&["cp", "-", &key])?.stdin(want.clone()).ok()?;
        let listed = String::from_utf8(run(&["ls", &bucket])?.ok()?)?;
        ensure!(
            listed.contains("from-env.bin"),
            "ls lacks the object:\n{listed}"
        );
        let got = run(&["cp", &key, "-"])?.ok()?;
        ensure!(got == want, "content differs ({} B back)", got.len());
        run(&["rb", "--force", &bucket])?.ok()?;

        // The variable is what made the difference: the same command without it is refused.
        let err = Haul::new(gw, &["ls"])?.fails_with(5)?;
        ensure!(err.contains(UNTRUSTED_HINT), "no --ca-bundle hint:\n{err}");
        Ok(())
    })
}
