//! The Postgres side of the bus: one `LISTEN` connection per gateway, outside the pool,
//! re-established after it is lost (a restarted server, `pg_terminate_backend`). Whether
//! it is listening right now is kept in a flag that `/readyz` reads.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{mpsc, watch};

use super::{Event, CHANNEL, LISTENER_APPLICATION_NAME};

/// Starts listening in the background. The returned receiver turns `true` once the first
/// attempt is over (listening, or failed and retrying in the background); `connected` is
/// true while the `LISTEN` is in place.
pub fn start(
    url: String,
    events: mpsc::Sender<Vec<Event>>,
    stop: watch::Receiver<()>,
    connected: Arc<AtomicBool>,
) -> watch::Receiver<bool> {
    let (ready_tx, ready_rx) = watch::channel(false);
    tokio::spawn(listen(url, events, stop, ready_tx, connected));
    ready_rx
}

async fn connect(url: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?.application_name(LISTENER_APPLICATION_NAME);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn listen(
    url: String,
    events: mpsc::Sender<Vec<Event>>,
    mut stop: watch::Receiver<()>,
    ready: watch::Sender<bool>,
    connected: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt = tokio::select! {
            attempt = connect(&url) => attempt,
            _ = stop.changed() => return,
        };
        let mut listener = match attempt {
            Ok(listener) => {
                tracing::info!("listening for realtime events");
                connected.store(true, Ordering::SeqCst);
                backoff = Duration::from_millis(100);
                listener
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for realtime events; retrying");
                ready.send_replace(true);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        ready.send_replace(true);
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = stop.changed() => return,
            };
            match received {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<Vec<Event>>(notification.payload()) {
                        Ok(batch) => {
                            // Waits while the dispatcher is behind (Postgres keeps
                            // the notifications meanwhile).
                            if events.send(batch).await.is_err() {
                                return;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "ignored a malformed realtime notification")
                        }
                    }
                }
                Ok(None) | Err(_) => {
                    // Lost: start over with a fresh connection (and a fresh LISTEN).
                    connected.store(false, Ordering::SeqCst);
                    tracing::warn!("the realtime LISTEN connection was lost; reconnecting");
                    break;
                }
            }
        }
    }
}
