//! The subscribers of one gateway and their bounded queues.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
}

impl Filter {
    pub fn topic(&self) -> Topic {
        match self {
            Filter::MessagesOf(_) => Topic::Message,
            Filter::Conversations => Topic::Conversation,
            Filter::Tasks(_) => Topic::Task,
            Filter::Goals => Topic::Goal,
            Filter::Progress => Topic::Progress,
            Filter::Profile => Topic::Profile,
        }
    }
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
}

struct Entry {
    viewer: Viewer,
    filter: Filter,
    queue: mpsc::Sender<Delivery>,
    overflowed: Arc<AtomicBool>,
}

/// A subscriber the dispatcher found for an event.
pub struct Candidate {
    pub id: u64,
    pub viewer: Viewer,
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

    pub fn add(self: &Arc<Self>, viewer: Viewer, filter: Filter, capacity: usize) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let overflowed = Arc::new(AtomicBool::new(false));
        crate::metrics::record_subscriptions(1);
        self.entries().insert(
            id,
            Entry {
                viewer,
                filter,
                queue,
                overflowed: overflowed.clone(),
            },
        );
        Subscription {
            id,
            receiver,
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

    /// Whether anybody subscribes to `topic` (the dispatcher reads nothing otherwise).
    pub fn wants(&self, topic: Topic) -> bool {
        self.entries().values().any(|e| e.filter.topic() == topic)
    }

    /// The subscribers whose filter takes this row.
    pub fn candidates(&self, accepts: impl Fn(&Filter) -> bool) -> Vec<Candidate> {
        self.entries()
            .iter()
            .filter(|(_, e)| accepts(&e.filter))
            .map(|(id, e)| Candidate {
                id: *id,
                viewer: e.viewer.clone(),
            })
            .collect()
    }

    /// Queues `delivery` for subscriber `id`. A full queue drops the subscriber: its
    /// stream ends with a `RATE_LIMITED` error instead of growing without bound.
    pub fn deliver(&self, id: u64, delivery: Delivery) {
        let mut entries = self.entries();
        let Some(entry) = entries.get(&id) else {
            return;
        };
        match entry.queue.try_send(delivery) {
            Ok(()) => {}
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
    receiver: mpsc::Receiver<Delivery>,
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
            Poll::Ready(Some(delivery)) => Poll::Ready(Some(Ok(delivery))),
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

    fn name(delivery: &Delivery) -> String {
        match delivery {
            Delivery::Profile(p) => p.display_name.clone().unwrap_or_default(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_dropped_with_an_error() {
        let refused = crate::metrics::rate_limited(RateLimitReason::SubscriberQueue);
        let registry = Arc::new(Registry::default());
        let mut slow = registry.add(Viewer::Service, Filter::Profile, 2);
        let mut keeping_up = registry.add(Viewer::Service, Filter::Profile, 2);
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
        // Counted once, with its reason (no other unit test overflows a queue).
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
        let mut first = registry.add(Viewer::Service, Filter::Profile, 4);
        let _second = registry.add(Viewer::Service, Filter::Profile, 4);
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

    #[test]
    fn filters_name_their_topic() {
        assert_eq!(Filter::MessagesOf(Uuid::nil()).topic(), Topic::Message);
        assert_eq!(Filter::Tasks(None).topic(), Topic::Task);
        let registry = Arc::new(Registry::default());
        let _sub = registry.add(Viewer::Anonymous, Filter::Goals, 1);
        assert!(registry.wants(Topic::Goal));
        assert!(!registry.wants(Topic::Message));
    }
}
