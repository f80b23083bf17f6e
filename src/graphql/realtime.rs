//! The [realtime] section: subscription fields. Each checks at subscribe time that the
//! viewer may subscribe (a conversation or task they cannot read does not exist for them),
//! then hands the hub a filter; the hub's dispatcher decides per event, through the `access`
//! module, whether this viewer may read the row now. The `*Deleted` fields deliver a
//! [`DeletedNode`] to whoever could read the row just before it was deleted; a
//! subscription tied to one conversation (or one task) ends, with `complete`, when that
//! row is deleted or the viewer may no longer read it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::{Context, Result, SimpleObject, Subscription, ID};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use uuid::Uuid;

use crate::access;
use crate::error::AppError;
use crate::graphql::node_id::NodeId;
use crate::graphql::tasks::Task;
use crate::graphql::types::{Conversation, Message, Profile};
use crate::graphql::wellness::{Goal, ProgressMetric};
use crate::graphql::RequestCtx;
use crate::realtime::{Deleted, Delivery, Filter, Realtime};

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

/// A row that was deleted: what a client needs to drop it from its view and its cache.
/// Delivered only to subscribers who could read the row just before it was deleted.
#[derive(SimpleObject)]
pub struct DeletedNode {
    /// The deleted row's id.
    id: Uuid,
    /// The deleted row's `nodeId`, as its type's `nodeId` field gave it.
    node_id: ID,
    /// The deleted row's GraphQL type: `Message`, `Conversation`, `Task` or `Goal`.
    typename: String,
}

impl From<Deleted> for DeletedNode {
    fn from(deleted: Deleted) -> Self {
        let (node, typename) = match deleted {
            Deleted::Message(id) => (NodeId::Message(id), "Message"),
            Deleted::Conversation(id) => (NodeId::Conversation(id), "Conversation"),
            Deleted::Task(id) => (NodeId::Task(id), "Task"),
            Deleted::Goal(id) => (NodeId::Goal(id), "Goal"),
        };
        let id = match deleted {
            Deleted::Message(id)
            | Deleted::Conversation(id)
            | Deleted::Task(id)
            | Deleted::Goal(id) => id,
        };
        DeletedNode {
            id,
            node_id: node.encode(),
            typename: typename.to_owned(),
        }
    }
}

/// The deletion a subscription delivers, if this delivery is one.
fn deletion(delivery: Delivery) -> Option<DeletedNode> {
    match delivery {
        Delivery::Deleted(deleted) => Some(deleted.into()),
        _ => None,
    }
}

/// A subscription tied to one conversation the viewer must be able to read: checked
/// before registering (`NOT_FOUND`), and once more after, because a revocation committed
/// in between was dispatched before this subscriber existed and could not end it. If the
/// conversation became unreadable meanwhile, the subscription ends at once with
/// `complete`, as it would have a moment later.
async fn subscribe_to_conversation<T: Send + 'static>(
    ctx: &Context<'_>,
    conversation_id: Uuid,
    filter: Filter,
    pick: fn(Delivery) -> Option<T>,
) -> Result<BoxStream<'static, Result<T>>> {
    let rc = ctx.data::<RequestCtx>()?;
    let readable = || async {
        crate::domain::conversations::find_readable(&rc.db, &rc.viewer, conversation_id)
            .await
            .map(|found| found.is_some())
    };
    if !readable().await? {
        return Err(AppError::not_found("conversation").into());
    }
    let stream = subscribe(ctx, filter, pick).await?;
    if !readable().await? {
        return Ok(futures::stream::empty().boxed());
    }
    Ok(stream.boxed())
}

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
    /// New and changed messages of a conversation the viewer may read. Ends (`complete`)
    /// when the conversation is deleted or the viewer may no longer read it (unfiled from
    /// the team project they read it through, they left or were removed from the team, the
    /// team or their account was deleted). Deleted messages: `messageDeleted`.
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        conversation_id: Uuid,
    ) -> Result<impl Stream<Item = Result<Message>>> {
        subscribe_to_conversation(
            ctx,
            conversation_id,
            Filter::MessagesOf(conversation_id),
            |d| match d {
                Delivery::Message(m) => Some(Message((*m).clone())),
                _ => None,
            },
        )
        .await
    }

    /// Messages of a conversation the viewer may read as they are deleted: each
    /// deletion's id, nodeId and typename (`Message`). Ends (`complete`) when the
    /// conversation is deleted or the viewer may no longer read it, like `messageAdded`.
    /// A conversation the viewer cannot read: `NOT_FOUND`. Cost: two reads of the
    /// conversation at subscribe time; none per deletion (its readers were captured when
    /// it was deleted). Limit: one of the connection's `--max-subscriptions-per-connection`.
    async fn message_deleted(
        &self,
        ctx: &Context<'_>,
        conversation_id: Uuid,
    ) -> Result<impl Stream<Item = Result<DeletedNode>>> {
        subscribe_to_conversation(
            ctx,
            conversation_id,
            Filter::MessageDeletionsOf(conversation_id),
            deletion,
        )
        .await
    }

    /// Conversations the viewer could read (their own, and their teams' chats) as they are
    /// deleted: each deletion's id, nodeId and typename (`Conversation`), so a chat list
    /// can drop it. Needs a signed-in viewer (`UNAUTHENTICATED`). Cost: no read per
    /// deletion (its readers were captured when it was deleted). Limit: one of the
    /// connection's `--max-subscriptions-per-connection`.
    async fn conversation_deleted(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<DeletedNode>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::ConversationDeletions, deletion).await
    }

    /// The viewer's tasks as they are deleted (one by one or by status): each deletion's
    /// id, nodeId and typename (`Task`). Needs a signed-in viewer (`UNAUTHENTICATED`).
    /// Cost: no read per deletion. Limit: one of the connection's
    /// `--max-subscriptions-per-connection`.
    async fn task_deleted(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<DeletedNode>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::TaskDeletions, deletion).await
    }

    /// The viewer's goals as they are deleted: each deletion's id, nodeId and typename
    /// (`Goal`). Needs a signed-in viewer (`UNAUTHENTICATED`). Cost: no read per deletion.
    /// Limit: one of the connection's `--max-subscriptions-per-connection`.
    async fn goal_deleted(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<DeletedNode>>> {
        access::require_signed_in(&ctx.data::<RequestCtx>()?.viewer)?;
        subscribe(ctx, Filter::GoalDeletions, deletion).await
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

    /// The viewer's tasks (or one task) as status, progress or logs change. With an `id`,
    /// ends (`complete`) when that task is deleted. Deleted tasks: `taskDeleted`.
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
