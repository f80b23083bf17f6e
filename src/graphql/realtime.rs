//! The [realtime] section: subscription fields. Each checks at subscribe time that the
//! viewer may subscribe (a conversation or task they cannot read does not exist for them),
//! then hands the hub a filter; the hub's dispatcher decides per event, through the `access`
//! module, whether this viewer may read the row now.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::{Context, Result, Subscription};
use futures::{Stream, StreamExt};
use uuid::Uuid;

use crate::access;
use crate::error::AppError;
use crate::graphql::tasks::Task;
use crate::graphql::types::{Conversation, Message, Profile};
use crate::graphql::wellness::{Goal, ProgressMetric};
use crate::graphql::RequestCtx;
use crate::realtime::{Delivery, Filter, Realtime};

/// The subscriptions one WebSocket connection may hold at once.
#[derive(Clone)]
pub struct ConnectionSlots {
    used: Arc<AtomicUsize>,
    max: usize,
}

impl ConnectionSlots {
    pub fn new(max: usize) -> Self {
        ConnectionSlots {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    fn reserve(&self) -> Result<SlotGuard, AppError> {
        let taken = self.used.fetch_add(1, Ordering::SeqCst);
        if taken >= self.max {
            self.used.fetch_sub(1, Ordering::SeqCst);
            crate::metrics::record_rate_limited(
                crate::metrics::RateLimitReason::SubscriptionsPerConnection,
            );
            return Err(AppError::RateLimited(format!(
                "at most {} subscriptions per connection",
                self.max
            )));
        }
        Ok(SlotGuard(self.used.clone()))
    }
}

/// Frees its slot when the subscription's stream is dropped.
struct SlotGuard(Arc<AtomicUsize>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
pub struct RealtimeSubscription;

/// Registers the subscription and turns its deliveries into `T`.
async fn subscribe<T: Send + 'static>(
    ctx: &Context<'_>,
    filter: Filter,
    pick: fn(Delivery) -> Option<T>,
) -> Result<impl Stream<Item = Result<T>> + use<T>> {
    let rc = ctx.data::<RequestCtx>()?;
    let (Ok(hub), Ok(slots)) = (ctx.data::<Realtime>(), ctx.data::<ConnectionSlots>()) else {
        return Err(
            AppError::bad_input("subscriptions need a WebSocket connection to /graphql").into(),
        );
    };
    if !hub.enabled() {
        return Err(AppError::bad_input("realtime is off on this server").into());
    }
    let slot = slots.reserve()?;
    let subscription = hub.subscribe(rc.viewer.clone(), filter).await;
    Ok(subscription
        .filter_map(move |delivery| {
            let _held = &slot;
            std::future::ready(match delivery {
                Ok(delivery) => pick(delivery).map(Ok),
                Err(err) => Some(Err(err.into())),
            })
        })
        .boxed())
}

#[Subscription(name = "Subscription")]
impl RealtimeSubscription {
    /// New and changed messages of a conversation the viewer may read.
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        conversation_id: Uuid,
    ) -> Result<impl Stream<Item = Result<Message>>> {
        let rc = ctx.data::<RequestCtx>()?;
        crate::domain::conversations::find_readable(&rc.db, &rc.viewer, conversation_id)
            .await?
            .ok_or_else(|| AppError::not_found("conversation"))?;
        subscribe(ctx, Filter::MessagesOf(conversation_id), |d| match d {
            Delivery::Message(m) => Some(Message((*m).clone())),
            _ => None,
        })
        .await
    }

    /// The viewer's conversations as they are created or change (title, status, counters).
    // Exactly the rows `viewer.conversations` lists: their own, not teammates' chats they
    // may read, none for the service role (the dispatcher asks `access`).
    async fn conversation_updated(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Conversation>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::Conversations, |d| match d {
            Delivery::Conversation(m) => Some(Conversation((*m).clone())),
            _ => None,
        })
        .await
    }

    /// The viewer's tasks (or one task) as status, progress or logs change.
    async fn task_updated(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
    ) -> Result<impl Stream<Item = Result<Task>>> {
        let rc = ctx.data::<RequestCtx>()?;
        access::require_signed_in(&rc.viewer)?;
        if let Some(id) = id {
            crate::domain::tasks::find_readable(&rc.db, &rc.viewer, id)
                .await?
                .ok_or_else(|| AppError::not_found("task"))?;
        }
        subscribe(ctx, Filter::Tasks(id), |d| match d {
            Delivery::Task(m) => Some(Task((*m).clone())),
            _ => None,
        })
        .await
    }

    async fn goal_updated(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<Goal>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::Goals, |d| match d {
            Delivery::Goal(m) => Some(Goal((*m).clone())),
            _ => None,
        })
        .await
    }

    async fn progress_updated(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<ProgressMetric>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::Progress, |d| match d {
            Delivery::Progress(m) => Some(ProgressMetric((*m).clone())),
            _ => None,
        })
        .await
    }

    async fn profile_updated(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<Profile>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::Profile, |d| match d {
            Delivery::Profile(m) => Some(Profile((*m).clone())),
            _ => None,
        })
        .await
    }
}
