//! One gateway's dispatcher: per event, one read of the row and one question to the
//! `access` module (who may read it), whatever the number of subscribers; then the row
//! goes to the queues of the subscribers who may read it.

use std::sync::Arc;

use entity::{conversation, goal, message, profile, progress_metric, task};
use sea_orm::sea_query::Condition;
use sea_orm::{DatabaseConnection, EntityTrait, PrimaryKeyTrait, QueryFilter};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::registry::{Candidate, Delivery, Filter, Registry};
use super::{Event, Topic};
use crate::access;
use crate::auth::Viewer;
use crate::error::AppResult;

pub async fn run(
    db: DatabaseConnection,
    registry: Arc<Registry>,
    mut events: mpsc::UnboundedReceiver<Vec<Event>>,
) {
    while let Some(batch) = events.recv().await {
        for event in batch {
            if !registry.wants(event.topic) {
                continue;
            }
            if let Err(err) = dispatch(&db, &registry, event).await {
                let err: async_graphql::Error = err.into();
                tracing::warn!(?event, error = %err.message, "an event could not be delivered");
            }
        }
    }
}

async fn dispatch(db: &DatabaseConnection, registry: &Registry, event: Event) -> AppResult<()> {
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
            let readers = access::conversation_readers(db, id).await?;
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
            if candidates.is_empty() {
                return Ok(());
            }
            let Some(row) = read::<task::Entity>(db, id, access::own_tasks).await? else {
                return Ok(());
            };
            let readers = access::own_row_readers(row.user_id);
            send(
                registry,
                &candidates,
                &readers,
                Delivery::Task(Arc::new(row)),
            );
        }
        Topic::Goal => {
            let candidates = registry.candidates(|f| *f == Filter::Goals);
            let Some(row) = read::<goal::Entity>(db, id, access::own_goals).await? else {
                return Ok(());
            };
            let readers = access::own_row_readers(row.user_id);
            send(
                registry,
                &candidates,
                &readers,
                Delivery::Goal(Arc::new(row)),
            );
        }
        Topic::Progress => {
            let candidates = registry.candidates(|f| *f == Filter::Progress);
            let Some(row) =
                read::<progress_metric::Entity>(db, id, access::own_progress_metrics).await?
            else {
                return Ok(());
            };
            let readers = access::own_row_readers(row.user_id);
            send(
                registry,
                &candidates,
                &readers,
                Delivery::Progress(Arc::new(row)),
            );
        }
        Topic::Profile => {
            let candidates = registry.candidates(|f| *f == Filter::Profile);
            let Some(row) = read::<profile::Entity>(db, id, access::own_profile).await? else {
                return Ok(());
            };
            let readers = access::own_row_readers(row.id);
            send(
                registry,
                &candidates,
                &readers,
                Delivery::Profile(Arc::new(row)),
            );
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
