//! The `engram-server` binary: `engram-server [config-file] [--name value ...]`, like
//! redis-server. With no arguments: one node, port 6379, data in `./data`.

use tikv_jemallocator::Jemalloc;

#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!(
            "engram-server v={} (redis compatibility {})",
            engram_server::ENGRAM_VERSION,
            engram_server::REDIS_VERSION
        );
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // On a full disk the log line about it cannot be written either; by default the
        // subscriber then reports that on stderr with eprintln!, which panics when stderr
        // is the same full disk, killing whichever thread logged (the log writer).
        .log_internal_errors(false)
        .init();
    let config = match engram_server::config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("*** FATAL CONFIG ERROR: {e}");
            std::process::exit(1);
        }
    };
    // `io-threads` (Redis's knob for I/O threads, default 1) is the number of threads that
    // run connections. The log's writer and snapshots have threads of their own, so on a
    // small machine one connection thread leaves a core for them: on 2 cores, 1 thread
    // gave 1.0-1.2x the pipelined-off throughput of 2 and twice the durable -P 16 rate.
    let io_threads = config.get_i64("io-threads").clamp(1, 128) as usize;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let server = match engram_server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot start: {e}");
                std::process::exit(1);
            }
        };
        let shared = server.shared.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("received a stop signal, shutting down");
            shared.request_shutdown();
        });
        server.wait().await;
        tracing::info!("engram-server stopped");
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
