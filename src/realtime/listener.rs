//! The Postgres side of the bus: one `LISTEN` connection per gateway, outside the pool,
//! re-established after it is lost (a restarted server, `pg_terminate_backend`). Whether
//! it is listening right now is kept in a flag that `/readyz` reads.
//!
//! A notification is only a wake-up: the events themselves are rows of the
//! `realtime_events` outbox, written by the committing transaction with ids in commit
//! order. The listener remembers the last id it handed to the dispatcher and, when woken
//! and after every reconnect, reads the rows after it (in order, on the `LISTEN`
//! connection itself, outside the pool), so an
//! event committed while the connection was down is delivered once it is back, exactly
//! once and in order. A gateway starts after the newest row (no history is replayed).
//! Rows older than the retention window are deleted (by every gateway, on the same
//! connection); a gateway that stays disconnected
//! longer than that misses what was pruned.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::{mpsc, watch};

use super::{Batch, Event, CHANNEL, LISTENER_APPLICATION_NAME};

/// Outbox rows read per statement while catching up.
const CATCH_UP_BATCH: i64 = 500;

/// Starts listening in the background. The returned receiver turns `true` once the first
/// attempt is over (listening, or failed and retrying in the background); `connected` is
/// true while the `LISTEN` is in place.
pub fn start(
    url: String,
    db: DatabaseConnection,
    retention: Duration,
    events: mpsc::Sender<Batch>,
    stop: watch::Receiver<()>,
    connected: Arc<AtomicBool>,
) -> watch::Receiver<bool> {
    let (ready_tx, ready_rx) = watch::channel(false);
    tokio::spawn(listen(
        url, db, retention, events, stop, ready_tx, connected,
    ));
    ready_rx
}

/// Connects the `LISTEN` connection with the pool's `search_path` (confab's schema), so the
/// outbox it reads is the one the pool writes.
async fn connect(url: &str, schema: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name(LISTENER_APPLICATION_NAME)
        .options([("search_path", schema)]);
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

/// The schema the pool's connections resolve confab's tables in.
async fn current_schema(db: &DatabaseConnection) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_schema() AS schema",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no current schema".into()))?;
    row.try_get("", "schema")
}

/// The newest outbox id (0 when empty).
pub(super) async fn newest_id(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COALESCE(MAX(id), 0) AS id FROM realtime_events",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "id")?,
        None => 0,
    })
}

/// Hands every outbox batch after `last` to the dispatcher, in id order, moving `last`
/// along. Returns false when the dispatcher is gone. The rows are read on the `LISTEN`
/// connection itself: no pool connection is taken, and a lost connection shows here too.
async fn catch_up(
    listener: &mut PgListener,
    last: &mut i64,
    events: &mpsc::Sender<Batch>,
) -> Result<bool, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::Row;
    loop {
        let rows = sea_orm::sqlx::query(
            "SELECT id, events FROM realtime_events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(*last)
        .bind(CATCH_UP_BATCH)
        .fetch_all(&mut *listener)
        .await?;
        let full = rows.len() == usize::try_from(CATCH_UP_BATCH).unwrap_or(usize::MAX);
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let text: String = row.try_get("events")?;
            *last = id;
            match serde_json::from_str::<Vec<Event>>(&text) {
                // Waits while the dispatcher is behind.
                Ok(batch) => {
                    let batch = Batch {
                        outbox_id: Some(id),
                        events: batch,
                    };
                    if events.send(batch).await.is_err() {
                        return Ok(false);
                    }
                }
                Err(err) => tracing::warn!(error = %err, id, "ignored a malformed outbox row"),
            }
        }
        if !full {
            return Ok(true);
        }
    }
}

enum CatchUp {
    Done,
    /// The hub is stopping or the dispatcher is gone.
    Stopped,
    /// The outbox could not be read (logged): reconnect and try again.
    Failed,
}

/// [`catch_up`], unless the hub stops first.
async fn catch_up_unless_stopped(
    listener: &mut PgListener,
    seen: &mut i64,
    events: &mpsc::Sender<Batch>,
    stop: &mut watch::Receiver<()>,
) -> CatchUp {
    let caught_up = tokio::select! {
        caught_up = catch_up(listener, seen, events) => caught_up,
        _ = stop.changed() => return CatchUp::Stopped,
    };
    match caught_up {
        Ok(true) => CatchUp::Done,
        Ok(false) => CatchUp::Stopped,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the realtime outbox; reconnecting");
            CatchUp::Failed
        }
    }
}

async fn listen(
    url: String,
    db: DatabaseConnection,
    retention: Duration,
    events: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<()>,
    ready: watch::Sender<bool>,
    connected: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut prune_every = tokio::time::interval(
        (retention / 2).clamp(Duration::from_millis(100), Duration::from_secs(60)),
    );
    prune_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last outbox id handed to the dispatcher; read before the first LISTEN, so that
    // whatever commits from then on is delivered.
    let mut last: Option<i64> = None;
    // The schema the pool's connections use, read once.
    let mut schema: Option<String> = None;
    loop {
        let attempt = tokio::select! {
            attempt = async {
                if last.is_none() {
                    last = Some(newest_id(&db).await.map_err(|e| e.to_string())?);
                }
                if schema.is_none() {
                    schema = Some(current_schema(&db).await.map_err(|e| e.to_string())?);
                }
                let schema = schema.as_deref().unwrap_or("public");
                connect(&url, schema).await.map_err(|e| e.to_string())
            } => attempt,
            _ = stop.changed() => return,
        };
        let mut listener = match attempt {
            Ok(listener) => listener,
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
        let mut seen = last.unwrap_or(0);
        // Listening again: first what was committed while we were not.
        let caught_up = catch_up_unless_stopped(&mut listener, &mut seen, &events, &mut stop).await;
        last = Some(seen);
        match caught_up {
            CatchUp::Done => {}
            CatchUp::Stopped => return,
            CatchUp::Failed => {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        tracing::info!("listening for realtime events");
        connected.store(true, Ordering::SeqCst);
        backoff = Duration::from_millis(100);
        ready.send_replace(true);
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = prune_every.tick() => {
                    prune(&mut listener, retention).await;
                    continue;
                }
                _ = stop.changed() => return,
            };
            match received {
                Ok(Some(notification)) => {
                    // A wake-up naming the new id: nothing to read if we have it already.
                    if notification
                        .payload()
                        .parse::<i64>()
                        .is_ok_and(|id| id <= seen)
                    {
                        continue;
                    }
                    let caught_up =
                        catch_up_unless_stopped(&mut listener, &mut seen, &events, &mut stop).await;
                    last = Some(seen);
                    match caught_up {
                        CatchUp::Done => {}
                        CatchUp::Stopped => return,
                        CatchUp::Failed => {
                            connected.store(false, Ordering::SeqCst);
                            break;
                        }
                    }
                }
                Ok(None) | Err(_) => {
                    // Lost: start over with a fresh connection (and a fresh LISTEN), then
                    // catch up from `last`.
                    connected.store(false, Ordering::SeqCst);
                    tracing::warn!("the realtime LISTEN connection was lost; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Deletes outbox rows older than `retention` (every half retention, at most every
/// minute, on the `LISTEN` connection). Every gateway prunes; the deletes are idempotent.
/// A failure is logged; a lost connection shows at the next receive.
async fn prune(listener: &mut PgListener, retention: Duration) {
    let deleted = sea_orm::sqlx::query(
        "DELETE FROM realtime_events WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind(retention.as_secs_f64())
    .execute(&mut *listener)
    .await;
    if let Err(err) = deleted {
        tracing::warn!(error = %err, "cannot prune the realtime outbox");
    }
}
