//! `haul`: parse, call the engine, print. No business logic lives here (STYLE.md §11).
// Doc comments on the clap types are the `--help` text, where URLs read best bare.
#![allow(rustdoc::bare_urls)]

mod args;
mod commands;
mod output;

use std::process::ExitCode;

use crate::output::exit_code;

fn main() -> ExitCode {
    let cli = args::parse();
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("haul")
        // File reads and writes run here; each thread may hold its own allocator arena, so the
        // pool is bounded (chosen: 64, above the parallel writes of the default concurrency).
        .max_blocking_threads(64)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::error_line(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let command = commands::run(cli);
        tokio::pin!(command);
        tokio::select! {
            res = &mut command => return res,
            () = interrupted() => {}
        }
        // First signal: cancel, and let the command abort its multipart uploads and remove
        // its temporary files. A second signal, or 30 s, ends the wait.
        output::error_line(
            "interrupted: stopping transfers and aborting multipart uploads (again to force)",
        );
        engine::cancel::token().cancel();
        tokio::select! {
            _ = &mut command => {}
            () = interrupted() => {}
            () = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
        }
        Err(engine::Error::Interrupted.into())
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

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
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
