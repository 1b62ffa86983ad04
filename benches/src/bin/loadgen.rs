//! `loadgen`: the WebSocket load generator of API v1, over loopback.
//!
//! It starts the support-portal server (or attaches to a running one), creates `--sessions`
//! support sessions over REST with development-login tokens, opens `--connections` WebSocket
//! clients spread over them, and has every client send `--rate` messages per second. It
//! reports delivered messages per second, the send-to-delivery latency (p50, p99, p99.9; the
//! time from a client writing `send` to the other participant reading the `message_created`
//! event), the send-to-ack latency, errors, and the server's memory (RSS before and after the
//! connections were opened, and the peak) and CPU time.
//!
//! Participants: with `--connections` = 2 × `--sessions` (the default), each session is a
//! customer and an agent (the session is escalated and auto-assigned, so the AI never answers:
//! "agent mode"); with `--connections` = `--sessions`, each session is one customer alone and
//! its own `message_created` is the delivery (start the server with `--ai none`, as the
//! generator does when it starts it). `--rate 0` opens idle connections to measure memory.
//!
//! ```sh
//! cargo build --release -p support-portal -p chat-benches --bin loadgen
//! target/release/loadgen --sessions 1000 --connections 2000 --rate 1 --duration 30
//! target/release/loadgen --sessions 5000 --connections 10000 --rate 0
//! ```

#[path = "../load_client.rs"]
mod client;
#[path = "../load_server.rs"]
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, watch};

use client::{ClientPlan, Phase, Stats};
use server::Server;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Time given to late deliveries of measured messages after the window closes.
const DRAIN: Duration = Duration::from_secs(3);
/// Time the server is left alone after the connections are open, before its RSS is read.
const SETTLE: Duration = Duration::from_secs(3);

/// WebSocket load generator for the chat engine's API v1.
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Opts {
    /// WebSocket clients: twice --sessions (customer + agent per session) or equal to it
    /// (one customer per session).
    #[arg(long, default_value_t = 2000)]
    connections: usize,
    /// Sessions the clients are spread over.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Messages per second each client sends; 0 opens idle connections (memory only).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds of sending before the measurement starts.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Content bytes per message.
    #[arg(long, default_value_t = 64)]
    message_bytes: usize,
    /// The support-portal binary to start (default: next to this binary).
    #[arg(long, conflicts_with = "addr")]
    server_bin: Option<PathBuf>,
    /// A running server to load instead of starting one (needs --server-pid for its memory).
    #[arg(long, requires = "server_pid")]
    addr: Option<SocketAddr>,
    /// Pid of the running server at --addr.
    #[arg(long, requires = "addr")]
    server_pid: Option<u32>,
    /// WebSocket handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// REST calls in flight at once during the setup.
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// Worker threads of the generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> std::process::ExitCode {
    let opts = Opts::parse();
    // Each client holds a socket: raise the soft open-file limit to the hard one.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if (limit as usize) < opts.connections + 64 => eprintln!(
            "loadgen: warning: the open-file limit is {limit}, below {} connections",
            opts.connections
        ),
        Ok(_) => {}
        Err(err) => eprintln!("loadgen: warning: cannot raise the open-file limit: {err}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadgen: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadgen: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(opts: Opts) -> Result<(), BoxError> {
    let with_agents =
        match (opts.connections, opts.sessions) {
            (_, 0) => return Err("--sessions must be at least 1".into()),
            (c, s) if c == 2 * s => true,
            (c, s) if c == s => false,
            _ => return Err(
                "--connections must be --sessions (customers alone) or twice it (customer + agent)"
                    .into(),
            ),
        };
    if !opts.rate.is_finite() || opts.rate < 0.0 {
        return Err("--rate must be 0 or more".into());
    }
    let server = match (opts.addr, opts.server_pid) {
        (Some(addr), Some(pid)) => Server::attach(addr, pid).await?,
        _ => {
            let bin = opts
                .server_bin
                .clone()
                .unwrap_or_else(server::default_server_bin);
            Server::start(&bin).await?
        }
    };
    let result = drive(&opts, &server, with_agents).await;
    server.stop().await;
    result
}

async fn drive(opts: &Opts, server: &Server, with_agents: bool) -> Result<(), BoxError> {
    let mode = if with_agents {
        "customer + agent per session (agent mode)"
    } else {
        "one customer per session"
    };
    println!(
        "loadgen: {} connections over {} sessions, {mode}, {} msg/s per client, server {} (pid {})",
        opts.connections, opts.sessions, opts.rate, server.addr, server.pid
    );

    let setup_started = Instant::now();
    let plans = server::set_up(
        server.addr,
        opts.sessions,
        with_agents,
        opts.setup_concurrency,
    )
    .await?;
    println!(
        "setup: {} sessions in {:.1} s",
        plans.len(),
        setup_started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(SETTLE).await;
    let rss_before = server.rss()?;

    let stats = Arc::new(Stats::new()?);
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let handshakes = Arc::new(Semaphore::new(opts.connect_concurrency.max(1)));
    let period = (opts.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / opts.rate));
    let padding = "x".repeat(opts.message_bytes.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    let connect_started = Instant::now();
    let mut index = 0;
    for plan in &plans {
        for participant in &plan.participants {
            let client = ClientPlan {
                index,
                url: format!("ws://{}/api/v1/ws?token={}", server.addr, participant.token),
                session_id: plan.id.clone(),
                period,
                padding: padding.clone(),
                alone: !with_agents,
            };
            index += 1;
            tasks.spawn(client::run(
                client,
                Arc::clone(&stats),
                Arc::clone(&handshakes),
                phase_rx.clone(),
            ));
        }
    }
    let total = index as u64;
    while stats.connected.load(Ordering::Relaxed) + stats.connect_failed.load(Ordering::Relaxed)
        < total
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connected = stats.connected.load(Ordering::Relaxed);
    println!(
        "connect: {connected} joined, {} failed in {:.1} s",
        stats.connect_failed.load(Ordering::Relaxed),
        connect_started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(SETTLE).await;
    let rss_connected = server.rss()?;
    let per_connection =
        (rss_connected.saturating_sub(rss_before)) as f64 / connected.max(1) as f64;
    println!(
        "server RSS: {} before the connections, {} with {connected} open: {:.1} KiB per connection",
        mib(rss_before),
        mib(rss_connected),
        per_connection / 1024.0
    );

    // Send: warm up, then measure a window; sample the server's memory meanwhile.
    let _ = phase_tx.send(Phase::Warmup);
    tokio::time::sleep(Duration::from_secs(opts.warmup)).await;
    let server_cpu_start = server::cpu_time(Some(server.pid))?;
    let own_cpu_start = server::cpu_time(None)?;
    stats
        .window_start_us
        .store(stats.now_us().max(1), Ordering::Relaxed);
    let _ = phase_tx.send(Phase::Measure);
    let window_started = Instant::now();
    let mut rss_max = rss_connected;
    while window_started.elapsed() < Duration::from_secs(opts.duration) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_max = rss_max.max(server.rss()?);
    }
    stats.window_end_us.store(stats.now_us(), Ordering::Relaxed);
    let window = window_started.elapsed();
    let load_average = server::load_average();
    let server_cpu = server::cpu_time(Some(server.pid))? - server_cpu_start;
    let own_cpu = server::cpu_time(None)? - own_cpu_start;
    let _ = phase_tx.send(Phase::Drain);
    tokio::time::sleep(DRAIN).await;
    let rss_after = server.rss()?;
    let peak = server.peak_rss().unwrap_or(rss_max);
    let _ = phase_tx.send(Phase::Stop);
    while tasks.join_next().await.is_some() {}

    let report = Report {
        opts,
        mode,
        connected,
        window,
        rss_before,
        rss_connected,
        rss_after,
        peak,
        per_connection,
        server_cpu,
        own_cpu,
        load_average,
        stats: &stats,
        delivery: stats.delivery()?,
        ack: stats.ack()?,
        participants: if with_agents { 2 } else { 1 },
    };
    report.print();
    Ok(())
}

struct Report<'a> {
    opts: &'a Opts,
    mode: &'a str,
    connected: u64,
    window: Duration,
    rss_before: u64,
    rss_connected: u64,
    rss_after: u64,
    peak: u64,
    per_connection: f64,
    server_cpu: Duration,
    own_cpu: Duration,
    load_average: String,
    stats: &'a Stats,
    delivery: Histogram<u64>,
    ack: Histogram<u64>,
    participants: u64,
}

impl Report<'_> {
    fn print(&self) {
        let secs = self.window.as_secs_f64();
        let sent = self.stats.sent_in_window.load(Ordering::Relaxed);
        let delivered = self.stats.delivered_in_window.load(Ordering::Relaxed);
        let acked = self.stats.acked_in_window.load(Ordering::Relaxed);
        // Each message is due to every other participant (or to its sender when alone).
        let expected = sent * (self.participants - 1).max(1);
        let errors = self
            .stats
            .errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        println!(
            "window: {secs:.1} s; sent {sent}, acked {acked}, delivered {delivered} of {expected} ({:.0} delivered msg/s)",
            delivered as f64 / secs
        );
        if self.opts.rate > 0.0 {
            println!(
                "send -> delivery: p50 {} p99 {} p99.9 {} max {}",
                ms(self.delivery.value_at_quantile(0.5)),
                ms(self.delivery.value_at_quantile(0.99)),
                ms(self.delivery.value_at_quantile(0.999)),
                ms(self.delivery.max())
            );
            println!(
                "send -> ack:      p50 {} p99 {} p99.9 {} max {}",
                ms(self.ack.value_at_quantile(0.5)),
                ms(self.ack.value_at_quantile(0.99)),
                ms(self.ack.value_at_quantile(0.999)),
                ms(self.ack.max())
            );
        }
        println!(
            "server: RSS {} after the run, peak {}; CPU {:.0}% of one core; generator CPU {:.0}%; machine load average {}",
            mib(self.rss_after),
            mib(self.peak),
            100.0 * self.server_cpu.as_secs_f64() / secs,
            100.0 * self.own_cpu.as_secs_f64() / secs,
            self.load_average
        );
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        let failed = self.stats.connect_failed.load(Ordering::Relaxed);
        if errors.is_empty() && dropped == 0 && failed == 0 {
            println!("errors: none");
        } else {
            println!("errors: {failed} failed connections, {dropped} dropped connections");
            for (what, count) in &errors {
                println!("  {count} x {what}");
            }
        }
        let error_count: u64 = errors.values().sum();
        println!();
        println!(
            "| connections | sessions | participants | rate/client | delivered msg/s | p50 | p99 | p99.9 | missing | errors | server RSS before / with connections | per connection | server CPU |"
        );
        println!(
            "| {} | {} | {} | {} msg/s | {:.0} | {} | {} | {} | {} | {} | {} / {} | {:.1} KiB | {:.0}% |",
            self.connected,
            self.opts.sessions,
            self.mode,
            self.opts.rate,
            delivered as f64 / secs,
            if self.opts.rate > 0.0 {
                ms(self.delivery.value_at_quantile(0.5))
            } else {
                "-".into()
            },
            if self.opts.rate > 0.0 {
                ms(self.delivery.value_at_quantile(0.99))
            } else {
                "-".into()
            },
            if self.opts.rate > 0.0 {
                ms(self.delivery.value_at_quantile(0.999))
            } else {
                "-".into()
            },
            expected.saturating_sub(delivered),
            error_count,
            mib(self.rss_before),
            mib(self.rss_connected),
            self.per_connection / 1024.0,
            100.0 * self.server_cpu.as_secs_f64() / secs,
        );
    }
}

fn ms(micros: u64) -> String {
    format!("{:.2} ms", micros as f64 / 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
