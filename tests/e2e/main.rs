//! haul's end-to-end suite: the real `haul` binary against every real gateway on loopback.
//!
//! The harness starts the gateways once (Ceph RGW through `scripts/gateway.sh`, haul's
//! embedded s3s-fs gateway as a child process), runs every case against every gateway as a
//! separate test named `GATEWAY::case`, then stops the gateways. Filters work as with libtest
//! (`cargo test -p haul-e2e -- s3s::cp`). A failing test prints the gateway's log tail.

mod backup;
mod bench;
mod cases;
mod faults;
mod gateway;
mod haul;
mod hostile;
mod listing;
mod manifest;
mod progress;
mod shard;
mod tar;
mod tls;

use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    if args.list {
        // Listing needs no gateway.
        let trials = trials_for(&[]);
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let bin = match haul::binary() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("e2e: cannot find or build haul: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let gateways = match gateway::start_all(&bin) {
        Ok(g) => g.into_iter().map(Arc::new).collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("e2e: cannot start the gateways: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let conclusion = libtest_mimic::run(&args, trials_for(&gateways));
    eprintln!(
        "e2e: suite took {:.1} s against {}",
        started.elapsed().as_secs_f64(),
        gateways
            .iter()
            .map(|g| g.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    drop(gateways);
    conclusion.exit_code()
}

fn trials_for(gateways: &[Arc<gateway::Gateway>]) -> Vec<Trial> {
    let mut trials = Vec::new();
    for (name, run) in cases::STANDALONE
        .iter()
        .chain(tar::STANDALONE)
        .chain(listing::STANDALONE)
        .chain(hostile::STANDALONE)
    {
        trials.push(Trial::test(format!("local::{name}"), move || {
            run().map_err(|e| Failed::from(format!("{e:#}")))
        }));
    }
    for (name, run) in tls::STANDALONE {
        trials.push(Trial::test(format!("tls::{name}"), move || {
            run().map_err(|e| Failed::from(format!("{e:#}")))
        }));
    }
    // Cluster to cluster: every ordered pair of distinct gateways.
    for a in gateways {
        for b in gateways {
            if a.name == b.name {
                continue;
            }
            let (a, b) = (Arc::clone(a), Arc::clone(b));
            let name = format!(
                "{}-to-{}::issue_3_sync_between_two_gateways",
                a.name, b.name
            );
            trials.push(Trial::test(name, move || {
                cases::sync_between_two_gateways(&a, &b).map_err(|e| Failed::from(format!("{e:#}")))
            }));
        }
    }
    for gw in gateways {
        trials.extend(faults::trials(gw));
        for case in cases::ALL
            .iter()
            .chain(progress::ALL)
            .chain(manifest::ALL)
            .chain(tar::ALL)
            .chain(bench::ALL)
            .chain(backup::ALL)
            .chain(shard::ALL)
            .chain(listing::ALL)
        {
            let gw = Arc::clone(gw);
            let name = format!("{}::{}", gw.name, case.name);
            // A case that needs what only some gateways do is shown as ignored elsewhere.
            let unsupported = case.only.is_some_and(|only| only != gw.name);
            trials.push(
                Trial::test(name, move || {
                    (case.run)(&gw)
                        .map_err(|e| Failed::from(format!("{e:#}\ngateway log {}", gw.log_tail())))
                })
                .with_ignored_flag(unsupported),
            );
        }
    }
    trials
}
