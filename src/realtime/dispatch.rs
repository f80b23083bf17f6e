//! One gateway's dispatcher: per event, one read of the row and one question to the
//! `access` module (who may read it), whatever the number of subscribers; then the row
//! goes to the queues of the subscribers who may read it.
//!
//! A deletion's event carries the readers its transaction captured (the row is gone): the
//! deletion goes to the subscribers among them, and nobody else learns its id. A deleted
//! conversation ends the message subscriptions on it; an access change (a chat unfiled, a
//! member gone) asks `access` again, per conversation, and ends those of subscribers who
//! may no longer read it.

use std::sync::Arc;

use entity::{conversation, goal, message, profile, progress_metric, task};
use sea_orm::sea_query::Condition;
use sea_orm::{DatabaseConnection, EntityTrait, PrimaryKeyTrait, QueryFilter};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::registry::{Candidate, Deleted, Delivery, Filter, Registry};
use super::{Batch, Event, Topic};
use crate::access;
use crate::auth::Viewer;
use crate::error::AppResult;

pub async fn run(
    db: DatabaseConnection,
    registry: Arc<Registry>,
    mut events: mpsc::Receiver<Batch>,
    dispatched: watch::Sender<i64>,
) {
    while let Some(batch) = events.recv().await {
        for event in &batch.events {
            if !registry.wants(event.topic) {
                continue;
            }
            if let Err(err) = dispatch(&db, &registry, event).await {
                let err: async_graphql::Error = err.into();
                tracing::warn!(?event, error = %err.message, "an event could not be delivered");
            }
        }
        if let Some(id) = batch.outbox_id {
            dispatched.send_replace(id);
        }
    }
}

async fn dispatch(db: &DatabaseConnection, registry: &Registry, event: &Event) -> AppResult<()> {
    let id = event.id;
    match event.topic {
        Topic::Message => {
            let Some(row) = read::<message::Entity>(db, id, access::readable_messages).await?
            else {
                return Ok(());
            };
            let conversation = row.conversation_id;
            let candidates = registry.candidates(|f| *f == Filter::MessagesOf(conversation));
            if !candidates.is_empty() {
                let readers = access::conversation_readers(db, conversation).await?;
                send(
                    registry,
                    &candidates,
                    &readers,
                    Delivery::Message(Arc::new(row)),
                );
            }
        }
        Topic::Conversation => {
            let candidates = registry.candidates(|f| *f == Filter::Conversations);
            if candidates.is_empty() {
                return Ok(());
            }
            let Some(row) =
                read::<conversation::Entity>(db, id, access::readable_conversations).await?
            else {
                return Ok(());
            };
            // `conversationUpdated` shows what `viewer.conversations` lists: own chats.
            let readers = access::own_conversation_listers(&row);
            send(
                registry,
                &candidates,
                &readers,
                Delivery::Conversation(Arc::new(row)),
            );
        }
        Topic::Task => {
            let candidates = registry
                .candidates(|f| matches!(f, Filter::Tasks(None)) || *f == Filter::Tasks(Some(id)));
            owned_row::<task::Entity>(
                db,
                registry,
                candidates,
                id,
                access::readable_tasks,
                |t| t.user_id,
                Delivery::Task,
            )
            .await?;
        }
        Topic::Goal => {
            let candidates = registry.candidates(|f| *f == Filter::Goals);
            owned_row::<goal::Entity>(
                db,
                registry,
                candidates,
                id,
                access::readable_goals,
                |g| g.user_id,
                Delivery::Goal,
            )
            .await?;
        }
        Topic::Progress => {
            let candidates = registry.candidates(|f| *f == Filter::Progress);
            owned_row::<progress_metric::Entity>(
                db,
                registry,
                candidates,
                id,
                access::readable_progress_metrics,
                |p| p.user_id,
                Delivery::Progress,
            )
            .await?;
        }
        Topic::Profile => {
            let candidates = registry.candidates(|f| *f == Filter::Profile);
            owned_row::<profile::Entity>(
                db,
                registry,
                candidates,
                id,
                access::readable_profiles,
                |p| p.id,
                Delivery::Profile,
            )
            .await?;
        }
        Topic::MessageDeleted => {
            let Some(conversation) = event.parent else {
                return Ok(());
            };
            let candidates =
                registry.candidates(|f| *f == Filter::MessageDeletionsOf(conversation));
            deleted(registry, &candidates, event, Deleted::Message(id));
        }
        Topic::ConversationDeleted => {
            let candidates = registry.candidates(|f| *f == Filter::ConversationDeletions);
            deleted(registry, &candidates, event, Deleted::Conversation(id));
            // Gone for everyone: whoever subscribed to its messages is done.
            for candidate in registry.candidates(|f| f.conversation() == Some(id)) {
                registry.close(candidate.id);
            }
        }
        Topic::TaskDeleted => {
            let candidates = registry.candidates(|f| *f == Filter::TaskDeletions);
            deleted(registry, &candidates, event, Deleted::Task(id));
            for candidate in registry.candidates(|f| *f == Filter::Tasks(Some(id))) {
                registry.close(candidate.id);
            }
        }
        Topic::GoalDeleted => {
            let candidates = registry.candidates(|f| *f == Filter::GoalDeletions);
            deleted(registry, &candidates, event, Deleted::Goal(id));
        }
        Topic::ConversationAccess => {
            let candidates = registry.candidates(|f| f.conversation() == Some(id));
            end_unreadable(db, registry, candidates).await?;
        }
        Topic::UserAccess => {
            let candidates: Vec<Candidate> = registry
                .candidates(|f| f.conversation().is_some())
                .into_iter()
                .filter(|c| matches!(&c.viewer, Viewer::User(user) if user.id == id))
                .collect();
            end_unreadable(db, registry, candidates).await?;
        }
    }
    Ok(())
}

/// Queues a deletion for the candidates among the readers its event captured.
fn deleted(registry: &Registry, candidates: &[Candidate], event: &Event, what: Deleted) {
    if candidates.is_empty() {
        return;
    }
    let readers = access::Readers::captured(&event.readers);
    send(registry, candidates, &readers, Delivery::Deleted(what));
}

/// Ends the conversation subscriptions among `candidates` whose subscriber may no longer
/// read the conversation: one question to `access` per conversation.
async fn end_unreadable(
    db: &DatabaseConnection,
    registry: &Registry,
    candidates: Vec<Candidate>,
) -> AppResult<()> {
    let mut by_conversation: std::collections::BTreeMap<Uuid, Vec<Candidate>> = Default::default();
    for candidate in candidates {
        if let Some(conversation) = candidate.filter.conversation() {
            by_conversation
                .entry(conversation)
                .or_default()
                .push(candidate);
        }
    }
    for (conversation, candidates) in by_conversation {
        let readers = access::conversation_readers(db, conversation).await?;
        for candidate in candidates {
            if !readers.may_read(&candidate.viewer) {
                registry.close(candidate.id);
            }
        }
    }
    Ok(())
}

/// The row as the dispatcher sees it: the service role's view, through the `access` module
/// like every read.
async fn read<E>(
    db: &DatabaseConnection,
    id: Uuid,
    readable: fn(&Viewer) -> Condition,
) -> AppResult<Option<E::Model>>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    Ok(E::find_by_id(id)
        .filter(readable(&Viewer::Service))
        .one(db)
        .await?)
}

/// A row keyed by its user (tasks, goals, progress, profile): read once, then queued for
/// the candidates `access::user_row_readers` admits.
async fn owned_row<E>(
    db: &DatabaseConnection,
    registry: &Registry,
    candidates: Vec<Candidate>,
    id: Uuid,
    readable: fn(&Viewer) -> Condition,
    owner: fn(&E::Model) -> Uuid,
    wrap: fn(Arc<E::Model>) -> Delivery,
) -> AppResult<()>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
{
    if candidates.is_empty() {
        return Ok(());
    }
    let Some(row) = read::<E>(db, id, readable).await? else {
        return Ok(());
    };
    let readers = access::user_row_readers(owner(&row));
    send(registry, &candidates, &readers, wrap(Arc::new(row)));
    Ok(())
}

/// Queues the row for the candidates the `access` module's readers admit.
fn send(
    registry: &Registry,
    candidates: &[Candidate],
    readers: &access::Readers,
    delivery: Delivery,
) {
    for candidate in candidates {
        if readers.may_read(&candidate.viewer) {
            registry.deliver(candidate.id, delivery.clone());
        }
    }
}
