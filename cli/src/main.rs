//! `haul`: parse, call the engine, print. No business logic lives here (STYLE.md §11).
// Doc comments on the clap types are the `--help` text, where URLs read best bare.
#![allow(rustdoc::bare_urls)]

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::output::exit_code;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("haul")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error_line(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            res = commands::run(cli) => res,
            _ = tokio::signal::ctrl_c() => Err(engine::Error::Interrupted.into()),
        }
    });
    // Do not wait for blocking tasks of an interrupted run.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if output::is_broken_pipe(&e) {
                // `haul ls | head`: a closed stdout ends quietly, as ripgrep does.
                return ExitCode::SUCCESS;
            }
            output::report_error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Logs go to stderr. `-v` info, `-vv` debug, `-vvv` trace; RUST_LOG overrides. The embedded
/// gateway's s3s layer logs request headers at debug (the Authorization header among them),
/// so it stays at info unless RUST_LOG asks otherwise.
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},s3s=info,s3s_fs=info,hyper=warn,hyper_util=warn,rustls=warn"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
