//! Networking: the listener (accept, connection limit, shutdown) and the per-connection
//! task (read, parse, dispatch, ordered replies).

pub mod connection;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::state::Shared;

/// Accepts connections until shutdown is requested.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (mut socket, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
        let max = shared.config.maxclients.load(Ordering::Relaxed) as usize;
        if shared.clients.open_connections() >= max {
            shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
            let _ = socket.write_all(b"-ERR max number of clients reached\r\n").await;
            continue;
        }
        let _ = socket.set_nodelay(true);
        let shared = shared.clone();
        // Counted from accept to the end of the task, so a closed client frees its place
        // for the very next accept (the registry entry comes and goes inside the task).
        shared.clients.connection_opened();
        tokio::spawn(async move {
            connection::run(socket, addr, shared.clone()).await;
            shared.clients.connection_closed();
        });
    }
    tracing::info!("listener stopped");
}
