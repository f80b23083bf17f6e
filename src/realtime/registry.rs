//! The subscribers of one gateway and their bounded queues.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use entity::{conversation, goal, message, profile, progress_metric, task};
use futures::Stream;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Topic;
use crate::auth::Viewer;
use crate::error::AppError;
use crate::metrics::RateLimitReason;

/// Which events a subscription wants (before access is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Messages of one conversation.
    MessagesOf(Uuid),
    Conversations,
    /// Every task, or one.
    Tasks(Option<Uuid>),
    Goals,
    Progress,
    Profile,
    /// Deletions of one conversation's messages.
    MessageDeletionsOf(Uuid),
    ConversationDeletions,
    TaskDeletions,
    GoalDeletions,
}

impl Filter {
    /// The topic of the rows this subscription delivers.
    pub fn topic(&self) -> Topic {
        match self {
            Filter::MessagesOf(_) => Topic::Message,
            Filter::Conversations => Topic::Conversation,
            Filter::Tasks(_) => Topic::Task,
            Filter::Goals => Topic::Goal,
            Filter::Progress => Topic::Progress,
            Filter::Profile => Topic::Profile,
            Filter::MessageDeletionsOf(_) => Topic::MessageDeleted,
            Filter::ConversationDeletions => Topic::ConversationDeleted,
            Filter::TaskDeletions => Topic::TaskDeleted,
            Filter::GoalDeletions => Topic::GoalDeleted,
        }
    }

    /// The conversation a subscription is tied to: it ends when that conversation is
    /// deleted or the subscriber may no longer read it.
    pub fn conversation(&self) -> Option<Uuid> {
        match self {
            Filter::MessagesOf(c) | Filter::MessageDeletionsOf(c) => Some(*c),
            _ => None,
        }
    }

    /// Whether events of `topic` concern this subscription: its own rows, and the
    /// deletions and access changes that end it.
    pub fn listens_to(&self, topic: Topic) -> bool {
        topic == self.topic()
            || match topic {
                Topic::ConversationDeleted | Topic::ConversationAccess | Topic::UserAccess => {
                    self.conversation().is_some()
                }
                Topic::TaskDeleted => matches!(self, Filter::Tasks(Some(_))),
                _ => false,
            }
    }
}

/// A row that was deleted, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Message(Uuid),
    Conversation(Uuid),
    Task(Uuid),
    Goal(Uuid),
}

/// A row queued for a subscriber; shared by every subscriber it goes to.
#[derive(Debug, Clone)]
pub enum Delivery {
    Message(Arc<message::Model>),
    Conversation(Arc<conversation::Model>),
    Task(Arc<task::Model>),
    Goal(Arc<goal::Model>),
    Progress(Arc<progress_metric::Model>),
    Profile(Arc<profile::Model>),
    Deleted(Deleted),
}

impl Delivery {
    /// About how many bytes this row holds: its size plus its texts and JSON values. What a
    /// subscriber's queue is bounded by, beside the count of events.
    pub fn approx_bytes(&self) -> usize {
        fn text(t: &Option<String>) -> usize {
            t.as_ref().map_or(0, String::len)
        }
        match self {
            Delivery::Message(m) => {
                std::mem::size_of_val(&**m)
                    + m.content.len()
                    + json_bytes(&m.metadata)
                    + m.feedback.as_ref().map_or(0, json_bytes)
                    + text(&m.audio_url)
            }
            Delivery::Conversation(c) => {
                std::mem::size_of_val(&**c)
                    + text(&c.title)
                    + text(&c.model)
                    + json_bytes(&c.metadata)
            }
            Delivery::Task(t) => {
                std::mem::size_of_val(&**t)
                    + t.prompt.len()
                    + text(&t.repo_url)
                    + t.selected_agent.len()
                    + text(&t.selected_model)
                    + text(&t.sandbox_url)
                    + text(&t.branch_name)
            }
            Delivery::Goal(g) => {
                std::mem::size_of_val(&**g)
                    + g.title.len()
                    + text(&g.description)
                    + text(&g.category)
                    + json_bytes(&g.metadata)
            }
            Delivery::Progress(p) => {
                std::mem::size_of_val(&**p) + p.metric_type.len() + json_bytes(&p.metadata)
            }
            Delivery::Profile(p) => {
                std::mem::size_of_val(&**p)
                    + text(&p.email)
                    + text(&p.display_name)
                    + text(&p.full_name)
                    + text(&p.avatar_url)
                    + json_bytes(&p.onboarding)
            }
            Delivery::Deleted(d) => std::mem::size_of_val(d),
        }
    }
}

/// About how many bytes a JSON value holds: its texts and keys, plus a value's size per node.
fn json_bytes(value: &serde_json::Value) -> usize {
    let node = std::mem::size_of::<serde_json::Value>();
    match value {
        serde_json::Value::String(s) => node + s.len(),
        serde_json::Value::Array(items) => node + items.iter().map(json_bytes).sum::<usize>(),
        serde_json::Value::Object(map) => {
            node + map
                .iter()
                .map(|(k, v)| k.len() + json_bytes(v))
                .sum::<usize>()
        }
        _ => node,
    }
}

/// How much one subscriber may have queued: events, and their bytes.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub events: usize,
    pub bytes: usize,
}

struct Entry {
    viewer: Viewer,
    filter: Filter,
    queue: mpsc::Sender<(Delivery, usize)>,
    /// Bytes queued and not yet taken (shared with the [`Subscription`]).
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
    overflowed: Arc<AtomicBool>,
}

/// A subscriber the dispatcher found for an event.
pub struct Candidate {
    pub id: u64,
    pub viewer: Viewer,
    pub filter: Filter,
}

#[derive(Default)]
pub struct Registry {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl Registry {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn add(
        self: &Arc<Self>,
        viewer: Viewer,
        filter: Filter,
        limits: QueueLimits,
    ) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (queue, receiver) = mpsc::channel(limits.events.max(1));
        let overflowed = Arc::new(AtomicBool::new(false));
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        crate::metrics::record_subscriptions(1);
        self.entries().insert(
            id,
            Entry {
                viewer,
                filter,
                queue,
                queued_bytes: queued_bytes.clone(),
                max_bytes: limits.bytes,
                overflowed: overflowed.clone(),
            },
        );
        Subscription {
            id,
            receiver,
            queued_bytes,
            overflowed,
            registry: Arc::downgrade(self),
            finished: false,
        }
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Events queued for the subscribers and not yet taken by their connections: one walk
    /// over the subscribers (read when `/metrics` is scraped).
    pub fn queued_events(&self) -> u64 {
        self.entries()
            .values()
            .map(|e| (e.queue.max_capacity() - e.queue.capacity()) as u64)
            .sum()
    }

    /// Whether any subscription listens to `topic` (the dispatcher reads nothing
    /// otherwise).
    pub fn wants(&self, topic: Topic) -> bool {
        self.entries().values().any(|e| e.filter.listens_to(topic))
    }

    /// The subscribers whose filter takes this row.
    pub fn candidates(&self, accepts: impl Fn(&Filter) -> bool) -> Vec<Candidate> {
        self.entries()
            .iter()
            .filter(|(_, e)| accepts(&e.filter))
            .map(|(id, e)| Candidate {
                id: *id,
                viewer: e.viewer.clone(),
                filter: e.filter,
            })
            .collect()
    }

    /// Queues `delivery` for subscriber `id`. A queue full in events or in bytes drops the
    /// subscriber: its stream ends with a `RATE_LIMITED` error instead of growing without
    /// bound.
    pub fn deliver(&self, id: u64, delivery: Delivery) {
        let mut entries = self.entries();
        let Some(entry) = entries.get(&id) else {
            return;
        };
        let bytes = delivery.approx_bytes();
        let queued = entry.queued_bytes.load(Ordering::SeqCst);
        let sent = if queued.saturating_add(bytes) > entry.max_bytes {
            Err(mpsc::error::TrySendError::Full((delivery, bytes)))
        } else {
            entry.queue.try_send((delivery, bytes))
        };
        match sent {
            Ok(()) => {
                entry.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                entry.overflowed.store(true, Ordering::SeqCst);
                entries.remove(&id);
                crate::metrics::record_rate_limited(RateLimitReason::SubscriberQueue);
                tracing::warn!(subscriber = id, "dropped a subscriber whose queue is full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                entries.remove(&id);
            }
        }
    }

    /// Ends subscriber `id`: its stream yields what is already queued, then ends, and its
    /// client gets `complete` for the operation.
    pub fn close(&self, id: u64) {
        self.remove(id);
    }

    fn remove(&self, id: u64) {
        self.entries().remove(&id);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        crate::metrics::record_subscriptions(-1);
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(self.id);
        }
    }
}

/// The events of one subscription, in the order the dispatcher queued them. Dropping it
/// unregisters the subscriber.
pub struct Subscription {
    id: u64,
    receiver: mpsc::Receiver<(Delivery, usize)>,
    queued_bytes: Arc<AtomicUsize>,
    overflowed: Arc<AtomicBool>,
    registry: Weak<Registry>,
    finished: bool,
}

impl Stream for Subscription {
    type Item = Result<Delivery, AppError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some((delivery, bytes))) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
                Poll::Ready(Some(Ok(delivery)))
            }
            Poll::Ready(None) => {
                self.finished = true;
                if self.overflowed.load(Ordering::SeqCst) {
                    Poll::Ready(Some(Err(AppError::RateLimited(
                        "the subscription fell too far behind and was dropped; subscribe again"
                            .to_owned(),
                    ))))
                } else {
                    Poll::Ready(None)
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;
    use futures::StreamExt;

    fn profile(name: &str) -> Delivery {
        let now = chrono::Utc::now();
        Delivery::Profile(Arc::new(profile::Model {
            id: Uuid::new_v4(),
            email: None,
            display_name: Some(name.to_owned()),
            full_name: None,
            avatar_url: None,
            onboarding_completed: false,
            onboarding: serde_json::json!({}),
            created_at: now,
            updated_at: now,
        }))
    }

    /// The tests that overflow a queue, one at a time: one of them counts the refusals.
    static OVERFLOWS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    fn events(events: usize) -> QueueLimits {
        QueueLimits {
            events,
            bytes: usize::MAX,
        }
    }

    /// A subscriber whose queue holds 1,000 events but 3 KB: events of 1 KB each fill it
    /// at the third; taking one makes room for one more.
    #[tokio::test]
    async fn queues_are_bounded_in_bytes_too() {
        let _alone = OVERFLOWS.lock().await;
        let registry = Arc::new(Registry::default());
        let big = profile(&"x".repeat(1000));
        let size = big.approx_bytes();
        assert!((1000..1500).contains(&size), "{size}");
        let mut sub = registry.add(
            Viewer::Service,
            Filter::Profile,
            QueueLimits {
                events: 1000,
                bytes: 3 * size,
            },
        );
        let id = registry.candidates(|_| true)[0].id;
        for _ in 0..3 {
            registry.deliver(id, profile(&"x".repeat(1000)));
        }
        assert!(sub.next().await.unwrap().is_ok());
        registry.deliver(id, profile(&"x".repeat(1000)));
        assert_eq!(registry.len(), 1, "room was made by taking one");
        registry.deliver(id, profile(&"x".repeat(1000)));
        assert_eq!(registry.len(), 0, "over its bytes: dropped");
        for _ in 0..3 {
            assert!(sub.next().await.unwrap().is_ok());
        }
        let err = sub.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::RateLimited);
        assert!(sub.next().await.is_none());
    }

    fn name(delivery: &Delivery) -> String {
        match delivery {
            Delivery::Profile(p) => p.display_name.clone().unwrap_or_default(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_dropped_with_an_error() {
        let _alone = OVERFLOWS.lock().await;
        let refused = crate::metrics::rate_limited(RateLimitReason::SubscriberQueue);
        let registry = Arc::new(Registry::default());
        let mut slow = registry.add(Viewer::Service, Filter::Profile, events(2));
        let mut keeping_up = registry.add(Viewer::Service, Filter::Profile, events(2));
        let ids: Vec<u64> = registry
            .candidates(|f| *f == Filter::Profile)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids.len(), 2);
        for event in ["one", "two", "three"] {
            for id in &ids {
                registry.deliver(*id, profile(event));
            }
            // Only one of them reads as it goes.
            let got = keeping_up.next().await.unwrap().unwrap();
            assert_eq!(name(&got), event);
        }
        // Counted once, with its reason (the other unit test that overflows waits).
        assert_eq!(
            crate::metrics::rate_limited(RateLimitReason::SubscriberQueue),
            refused + 1
        );
        // The slow one got the two that fit, then the error, then the end.
        assert_eq!(name(&slow.next().await.unwrap().unwrap()), "one");
        assert_eq!(name(&slow.next().await.unwrap().unwrap()), "two");
        let err = slow.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::RateLimited);
        assert!(slow.next().await.is_none());
        assert_eq!(registry.len(), 1, "the slow subscriber is unregistered");
        drop(keeping_up);
        assert_eq!(registry.len(), 0);
    }

    #[tokio::test]
    async fn queued_events_count_what_subscribers_have_not_taken() {
        let registry = Arc::new(Registry::default());
        let mut first = registry.add(Viewer::Service, Filter::Profile, events(4));
        let _second = registry.add(Viewer::Service, Filter::Profile, events(4));
        assert_eq!(registry.queued_events(), 0);
        for event in ["one", "two"] {
            for candidate in registry.candidates(|f| *f == Filter::Profile) {
                registry.deliver(candidate.id, profile(event));
            }
        }
        assert_eq!(registry.queued_events(), 4);
        assert_eq!(name(&first.next().await.unwrap().unwrap()), "one");
        assert_eq!(registry.queued_events(), 3);
        drop(first);
        assert_eq!(
            registry.queued_events(),
            2,
            "a gone subscriber's queue is gone"
        );
    }

    #[tokio::test]
    async fn a_closed_subscriber_gets_what_was_queued_then_ends_without_an_error() {
        let registry = Arc::new(Registry::default());
        let mut sub = registry.add(Viewer::Service, Filter::MessagesOf(Uuid::nil()), events(4));
        let id = registry.candidates(|_| true)[0].id;
        registry.deliver(id, profile("queued"));
        registry.close(id);
        assert_eq!(registry.len(), 0);
        assert_eq!(name(&sub.next().await.unwrap().unwrap()), "queued");
        assert!(sub.next().await.is_none());
    }

    #[test]
    fn conversation_subscriptions_listen_to_what_ends_them() {
        let chat = Filter::MessagesOf(Uuid::nil());
        let deletions = Filter::MessageDeletionsOf(Uuid::nil());
        for topic in [
            Topic::ConversationDeleted,
            Topic::ConversationAccess,
            Topic::UserAccess,
        ] {
            assert!(chat.listens_to(topic), "{topic:?}");
            assert!(deletions.listens_to(topic), "{topic:?}");
            assert!(!Filter::Conversations.listens_to(topic), "{topic:?}");
        }
        assert!(chat.listens_to(Topic::Message));
        assert!(!chat.listens_to(Topic::MessageDeleted));
        assert!(deletions.listens_to(Topic::MessageDeleted));
        assert!(Filter::Tasks(Some(Uuid::nil())).listens_to(Topic::TaskDeleted));
        assert!(!Filter::Tasks(None).listens_to(Topic::TaskDeleted));
        assert!(Filter::ConversationDeletions.listens_to(Topic::ConversationDeleted));
        assert!(!Filter::ConversationDeletions.listens_to(Topic::Conversation));
    }

    #[test]
    fn filters_name_their_topic() {
        assert_eq!(Filter::MessagesOf(Uuid::nil()).topic(), Topic::Message);
        assert_eq!(Filter::Tasks(None).topic(), Topic::Task);
        let registry = Arc::new(Registry::default());
        let _sub = registry.add(Viewer::Anonymous, Filter::Goals, events(1));
        assert!(registry.wants(Topic::Goal));
        assert!(!registry.wants(Topic::Message));
    }
}
