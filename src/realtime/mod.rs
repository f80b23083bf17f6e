//! The event bus behind subscriptions.
//!
//! Write operations name the rows they changed as [`Event`]s (a topic and a row id, never
//! row contents) and hand them to [`commit`] together with their transaction:
//!
//! - on Postgres the events are appended to the `realtime_events` outbox inside the
//!   transaction (`confab_publish`, which also NOTIFYs the new id as a wake-up), so they
//!   exist when, and only when, the transaction commits, with ids in commit order; each
//!   gateway reads the outbox after the last id it has seen when woken, and after its
//!   `LISTEN` connection comes back, so nothing committed meanwhile is lost
//!   (`listener.rs`); rows older than the retention window are pruned;
//! - on SQLite (one process) they go to this instance's in-process bus right after the
//!   commit; commits and hand-overs are serialised, so the bus sees them in commit order.
//!
//! Each gateway runs one dispatcher ([`dispatch`]): per event it reads the row once and asks
//! the `access` module which of the matching subscribers may read it at that moment, then
//! queues the row for those subscribers. Nothing here decides access itself.
//!
//! A deletion cannot be read back, so its event carries the readers the deleting
//! transaction captured from `access` (user ids; the service role is implied), and goes
//! to the matching subscribers among them only. A deleted conversation, or an access change
//! (`ConversationAccess`, `UserAccess`), ends the subscriptions tied to a conversation of
//! those who may no longer read it: their streams end and their clients get `complete`.

mod dispatch;
mod listener;
mod registry;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Mutex};
use uuid::Uuid;

pub use registry::{Deleted, Delivery, Filter, Subscription};

use crate::access;
use crate::auth::Viewer;

/// The `LISTEN`/`NOTIFY` channel the gateways share (per database).
pub const CHANNEL: &str = "confab_events";

/// The `application_name` of each gateway's `LISTEN` connection.
pub const LISTENER_APPLICATION_NAME: &str = "confab-listener";

/// Committed batches of events waiting for the dispatcher; beyond this, writers (SQLite)
/// and the listener (Postgres) wait.
const DISPATCH_BACKLOG: usize = 10_000;

/// The longest a new subscription waits for the dispatcher to reach the present.
const SUBSCRIBE_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Events per outbox row. (A NOTIFY payload must stay under 8000 bytes; it carries only the
/// new outbox id now, but 100 events of about 60 bytes also kept the rows small. A
/// deletion's event grows with its readers: a row of them is larger.)
const EVENTS_PER_NOTIFICATION: usize = 100;

/// What kind of row an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    #[serde(rename = "m")]
    Message,
    #[serde(rename = "c")]
    Conversation,
    #[serde(rename = "t")]
    Task,
    #[serde(rename = "g")]
    Goal,
    #[serde(rename = "p")]
    Progress,
    #[serde(rename = "u")]
    Profile,
    /// A message was deleted (`parent`: its conversation; `readers`: captured).
    #[serde(rename = "md")]
    MessageDeleted,
    /// A conversation was deleted (`readers`: captured); its message subscriptions end.
    #[serde(rename = "cd")]
    ConversationDeleted,
    /// A task was deleted (`readers`: its owner); `taskUpdated(id)` on it ends.
    #[serde(rename = "td")]
    TaskDeleted,
    /// A goal was deleted (`readers`: its owner).
    #[serde(rename = "gd")]
    GoalDeleted,
    /// A conversation may have lost readers (unfiled from a team project, its project
    /// deleted): its message subscriptions are checked again.
    #[serde(rename = "ca")]
    ConversationAccess,
    /// A user may have lost conversations (left or removed from a team, the team or their
    /// account deleted): their message subscriptions are checked again.
    #[serde(rename = "ua")]
    UserAccess,
}

/// Committed events on their way to the dispatcher, with their outbox id on Postgres.
#[derive(Debug)]
pub(crate) struct Batch {
    pub outbox_id: Option<i64>,
    pub events: Vec<Event>,
}

/// A row that was created, changed or deleted: ids only, never row contents. A changed
/// row is read by each gateway; a deleted one cannot be, so its event carries who could
/// read it just before (captured by the deleting transaction, written with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "t")]
    pub topic: Topic,
    pub id: Uuid,
    /// A deleted message's conversation.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Uuid>,
    /// A deletion: the users who could read the row just before it was deleted (the
    /// service role, which reads every row, is implied).
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<Uuid>,
}

impl Event {
    fn of(topic: Topic, id: Uuid) -> Self {
        Event {
            topic,
            id,
            parent: None,
            readers: Vec::new(),
        }
    }
    pub fn message(id: Uuid) -> Self {
        Event::of(Topic::Message, id)
    }
    pub fn conversation(id: Uuid) -> Self {
        Event::of(Topic::Conversation, id)
    }
    pub fn task(id: Uuid) -> Self {
        Event::of(Topic::Task, id)
    }
    pub fn goal(id: Uuid) -> Self {
        Event::of(Topic::Goal, id)
    }
    pub fn progress(id: Uuid) -> Self {
        Event::of(Topic::Progress, id)
    }
    pub fn profile(id: Uuid) -> Self {
        Event::of(Topic::Profile, id)
    }
    /// Message `id` of `conversation` was deleted; `readers` could read it just before.
    pub fn message_deleted(id: Uuid, conversation: Uuid, readers: &access::Readers) -> Self {
        Event {
            parent: Some(conversation),
            readers: readers.user_ids(),
            ..Event::of(Topic::MessageDeleted, id)
        }
    }
    /// Conversation `id` was deleted; `readers` could read it just before.
    pub fn conversation_deleted(id: Uuid, readers: &access::Readers) -> Self {
        Event {
            readers: readers.user_ids(),
            ..Event::of(Topic::ConversationDeleted, id)
        }
    }
    /// Task `id` of user `owner` was deleted.
    pub fn task_deleted(id: Uuid, owner: Uuid) -> Self {
        Event {
            readers: vec![owner],
            ..Event::of(Topic::TaskDeleted, id)
        }
    }
    /// Goal `id` of user `owner` was deleted.
    pub fn goal_deleted(id: Uuid, owner: Uuid) -> Self {
        Event {
            readers: vec![owner],
            ..Event::of(Topic::GoalDeleted, id)
        }
    }
    /// Conversation `id` may have lost readers.
    pub fn conversation_access(id: Uuid) -> Self {
        Event::of(Topic::ConversationAccess, id)
    }
    /// User `id` may have lost conversations they could read.
    pub fn user_access(id: Uuid) -> Self {
        Event::of(Topic::UserAccess, id)
    }
}

tokio::task_local! {
    /// The realtime hub of the instance executing the current request: where SQLite
    /// commits hand their events (Postgres needs no hub: NOTIFY travels with the commit).
    pub static HUB: Realtime;
}

/// Commits `txn` and publishes `events`: with the commit on Postgres, right after it on
/// SQLite. A failed commit publishes nothing.
pub async fn commit(txn: DatabaseTransaction, events: &[Event]) -> Result<(), DbErr> {
    let off = HUB
        .try_with(|hub| !hub.inner.limits.enabled)
        .unwrap_or(false);
    if events.is_empty() || off {
        return txn.commit().await;
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        for chunk in events.chunks(EVENTS_PER_NOTIFICATION) {
            let payload =
                serde_json::to_string(chunk).expect("events are plain data and always serialise");
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT confab_publish($1)",
                [payload.into()],
            ))
            .await?;
        }
        return txn.commit().await;
    }
    match HUB.try_with(Realtime::clone) {
        Ok(hub) => {
            // Held across commit and hand-over, so the bus sees commits in their order.
            let _order = hub.inner.commit_order.lock().await;
            txn.commit().await?;
            // Waits while the dispatcher is behind: writers slow down, memory stays bounded.
            hub.inner
                .local
                .send(Batch {
                    outbox_id: None,
                    events: events.to_vec(),
                })
                .await
                .ok();
            Ok(())
        }
        // Outside a request (the CLI): nobody can be subscribed.
        Err(_) => txn.commit().await,
    }
}

/// Subscriber limits.
#[derive(Debug, Clone, Copy)]
pub struct RealtimeLimits {
    /// Events queued for one subscriber before it is dropped as too slow.
    pub subscriber_queue: usize,
    /// Bytes (about: rows' sizes, texts and JSON) queued for one subscriber before it is
    /// dropped as too slow.
    pub subscriber_queue_bytes: usize,
    /// How long the Postgres outbox keeps events for gateways that were disconnected.
    pub retention: std::time::Duration,
    /// Off: writes publish nothing, no `LISTEN` connection, subscriptions are refused.
    pub enabled: bool,
}

/// One gateway's realtime hub: the subscriber registry, its dispatcher and, on Postgres,
/// the `LISTEN` connection (opened at start, so that a gateway listens before its first
/// subscriber arrives).
#[derive(Clone)]
pub struct Realtime {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<registry::Registry>,
    limits: RealtimeLimits,
    /// Events for the dispatcher (SQLite commits and the Postgres listener).
    local: mpsc::Sender<Batch>,
    /// On Postgres: the last outbox id the dispatcher has handled.
    dispatched: watch::Receiver<i64>,
    commit_order: Mutex<()>,
    /// On Postgres: whether the listener has made its first attempt to LISTEN.
    listening: Option<watch::Receiver<bool>>,
    /// On Postgres: whether the `LISTEN` connection is in place now.
    listener_connected: Option<Arc<AtomicBool>>,
    db: DatabaseConnection,
    /// Dropped with the hub: stops the listener.
    _stop: watch::Sender<()>,
}

impl Realtime {
    /// A hub on `db`: its dispatcher starts now, and on Postgres its `LISTEN` connection.
    pub fn start(db: DatabaseConnection, database_url: &str, limits: RealtimeLimits) -> Self {
        let (local, events) = mpsc::channel(DISPATCH_BACKLOG);
        let registry = Arc::new(registry::Registry::default());
        let (stop_tx, stop_rx) = watch::channel(());
        let (dispatched_tx, dispatched) = watch::channel(0);
        tokio::spawn(dispatch::run(
            db.clone(),
            registry.clone(),
            events,
            dispatched_tx,
        ));
        let listener_connected = (limits.enabled
            && db.get_database_backend() == DbBackend::Postgres)
            .then(|| Arc::new(AtomicBool::new(false)));
        let listening = listener_connected.as_ref().map(|connected| {
            listener::start(
                database_url.to_owned(),
                db.clone(),
                limits.retention,
                local.clone(),
                stop_rx,
                connected.clone(),
            )
        });
        Realtime {
            inner: Arc::new(Inner {
                registry,
                limits,
                local,
                dispatched,
                db,
                commit_order: Mutex::new(()),
                listening,
                listener_connected,
                _stop: stop_tx,
            }),
        }
    }

    /// Registers a subscriber; its events arrive on the returned stream. On Postgres this
    /// first waits for the gateway's first attempt to LISTEN, then (while listening) until
    /// the dispatcher has handled every batch committed before the subscription (one read
    /// of the newest outbox id, at most [`SUBSCRIBE_SETTLE`]), so a subscription starts
    /// with the changes after it, not with those just before it.
    pub async fn subscribe(&self, viewer: Viewer, filter: Filter) -> Subscription {
        if let Some(listening) = &self.inner.listening {
            let mut listening = listening.clone();
            // An Err means the listener task is gone (the hub is shutting down).
            let _ = listening.wait_for(|ready| *ready).await;
            let connected = self
                .inner
                .listener_connected
                .as_ref()
                .is_some_and(|c| c.load(Ordering::SeqCst));
            if connected {
                if let Ok(newest) = listener::newest_id(&self.inner.db).await {
                    let mut dispatched = self.inner.dispatched.clone();
                    let _ = tokio::time::timeout(
                        SUBSCRIBE_SETTLE,
                        dispatched.wait_for(|id| *id >= newest),
                    )
                    .await;
                }
            }
        }
        self.inner.registry.add(
            viewer,
            filter,
            registry::QueueLimits {
                events: self.inner.limits.subscriber_queue,
                bytes: self.inner.limits.subscriber_queue_bytes,
            },
        )
    }

    /// Whether realtime is on (`--realtime`).
    pub fn enabled(&self) -> bool {
        self.inner.limits.enabled
    }

    /// How many subscriptions this gateway serves.
    pub fn subscriber_count(&self) -> usize {
        self.inner.registry.len()
    }

    /// Events queued for this gateway's subscribers and not yet taken by their connections.
    pub fn queued_events(&self) -> u64 {
        self.inner.registry.queued_events()
    }

    /// Whether the `LISTEN` connection is in place: None on SQLite, which has none. Right
    /// after the start this waits for the listener's first attempt (the caller bounds it).
    pub async fn listener_connected(&self) -> Option<bool> {
        let connected = self.inner.listener_connected.as_ref()?;
        if let Some(listening) = &self.inner.listening {
            let mut listening = listening.clone();
            // An Err means the listener task is gone: the flag says what it left.
            let _ = listening.wait_for(|ready| *ready).await;
        }
        Some(connected.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_full_notification_stays_under_the_postgres_payload_cap() {
        let events: Vec<Event> = (0..EVENTS_PER_NOTIFICATION)
            .map(|_| Event::conversation(Uuid::new_v4()))
            .collect();
        let payload = serde_json::to_string(&events).unwrap();
        assert!(payload.len() < 8000, "{} bytes", payload.len());
        assert_eq!(
            serde_json::to_string(&[Event::message(Uuid::nil())]).unwrap(),
            r#"[{"t":"m","id":"00000000-0000-0000-0000-000000000000"}]"#
        );
        let back: Vec<Event> = serde_json::from_str(&payload).unwrap();
        assert_eq!(back, events);
    }
}
