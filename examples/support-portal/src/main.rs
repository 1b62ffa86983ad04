//! `support-portal`: the runnable demo server. `cargo run --release -p support-portal`, then
//! open the printed address. See the crate README for the flags and environment variables.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use chat_core::ingest::documents::worker;
use clap::Parser;
use support_portal::app::{self, EXTRACT_WORKER_ARG, Portal};
use support_portal::seed::SeedOutcome;
use support_portal::{Args, ai};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // The document extraction worker is this same binary in another mode (see app.rs).
    if std::env::args().nth(1).as_deref() == Some(EXTRACT_WORKER_ARG) {
        return worker::run_worker();
    }
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("support-portal: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("support-portal: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ai = ai::choose(args.ai, |name| std::env::var(name).ok())?;
    let Portal {
        router,
        shutdown,
        store,
        seed,
        ..
    } = app::build(&args, &ai).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", args.listen))?;
    let addr = listener.local_addr()?;

    println!("Tasklane support portal (demo)");
    println!("  database:  {}", args.db.display());
    match seed {
        Some(SeedOutcome::Seeded { articles, faq }) => {
            println!("  knowledge: seeded {articles} articles and {faq} FAQ entries")
        }
        Some(SeedOutcome::AlreadyPresent) => println!("  knowledge: already in the database"),
        None => println!("  knowledge: not seeded (--no-seed)"),
    }
    println!("  AI:        {}", ai.describe());
    if args.dev_auth {
        println!(
            "  login:     development login on (POST /api/v1/dev/login); do not expose this server"
        );
    } else {
        println!(
            "  login:     HS256 JWTs with audience {:?}",
            args.jwt_audience
        );
    }
    println!();
    println!("  Open http://{}/ (customer)", browsable(addr));
    println!(
        "   and http://{}/#agent (agent) in a second tab.",
        browsable(addr)
    );
    println!("  Ctrl-C stops the server.");

    shutdown.serve(listener, router, ctrl_c()).await?;
    store.close().await?;
    println!("support-portal: stopped");
    Ok(())
}

/// Resolves on Ctrl-C, and on SIGTERM where there is one (containers, systemd).
async fn ctrl_c() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    println!("support-portal: shutting down (clients are told to reconnect)");
}

/// The address a browser on this machine can open (`0.0.0.0` is not one).
fn browsable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// Each WebSocket holds a file descriptor; raise the soft limit to the hard one so thousands
/// of clients fit (the usual soft limit is 1,024).
fn raise_open_file_limit() {
    #[cfg(unix)]
    if let Err(err) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %err, "cannot raise the open-file limit");
    }
}
