//! One gateway's dispatcher: per event, one read of the row and one access check for all
//! the subscribers it may concern, then the row goes to the queues of those who may read it.

use std::collections::HashMap;
use std::sync::Arc;

use entity::{conversation, goal, message, profile, progress_metric, task};
use sea_orm::sea_query::Condition;
use sea_orm::sea_query::IntoIden;
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
            fan_out::<message::Entity>(
                db,
                registry,
                (id, message::Column::Id),
                access::readable_messages,
                |filter, row| *filter == Filter::MessagesOf(row.conversation_id),
                Delivery::Message,
            )
            .await
        }
        Topic::Conversation => {
            fan_out::<conversation::Entity>(
                db,
                registry,
                (id, conversation::Column::Id),
                access::readable_conversations,
                |filter, _| *filter == Filter::Conversations,
                Delivery::Conversation,
            )
            .await
        }
        Topic::Task => {
            fan_out::<task::Entity>(
                db,
                registry,
                (id, task::Column::Id),
                access::own_tasks,
                |filter, row| {
                    matches!(filter, Filter::Tasks(None)) || *filter == Filter::Tasks(Some(row.id))
                },
                Delivery::Task,
            )
            .await
        }
        Topic::Goal => {
            fan_out::<goal::Entity>(
                db,
                registry,
                (id, goal::Column::Id),
                access::own_goals,
                |filter, _| *filter == Filter::Goals,
                Delivery::Goal,
            )
            .await
        }
        Topic::Progress => {
            fan_out::<progress_metric::Entity>(
                db,
                registry,
                (id, progress_metric::Column::Id),
                access::own_progress_metrics,
                |filter, _| *filter == Filter::Progress,
                Delivery::Progress,
            )
            .await
        }
        Topic::Profile => {
            fan_out::<profile::Entity>(
                db,
                registry,
                (id, profile::Column::Id),
                access::own_profile,
                |filter, _| *filter == Filter::Profile,
                Delivery::Profile,
            )
            .await
        }
    }
}

/// Reads the row once (as the service role sees it, through the `access` module like
/// every read), finds the subscribers whose filter `accepts` it, asks `access` which of
/// them may read it under `readable`, and queues it for those.
async fn fan_out<E>(
    db: &DatabaseConnection,
    registry: &Registry,
    (id, id_column): (Uuid, E::Column),
    readable: fn(&Viewer) -> Condition,
    accepts: impl Fn(&Filter, &E::Model) -> bool,
    wrap: fn(Arc<E::Model>) -> Delivery,
) -> AppResult<()>
where
    E: EntityTrait,
    E::PrimaryKey: PrimaryKeyTrait<ValueType = Uuid>,
    E::Column: IntoIden + Copy,
{
    let Some(row) = E::find_by_id(id)
        .filter(readable(&Viewer::Service))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let candidates = registry.candidates(|filter| accepts(filter, &row));
    let allowed = allowed(&candidates, |viewers| {
        access::readers::<E, _>(db, id_column, id, viewers, readable)
    })
    .await?;
    let delivery = wrap(Arc::new(row));
    for candidate in allowed {
        registry.deliver(candidate.id, delivery.clone());
    }
    Ok(())
}

/// Who may be told: one access check per distinct viewer (a user's many connections share
/// one), asked of the `access` module for all of them at once.
async fn allowed<F, Fut>(candidates: &[Candidate], check: F) -> AppResult<Vec<&Candidate>>
where
    F: FnOnce(Vec<Viewer>) -> Fut,
    Fut: std::future::Future<Output = AppResult<Vec<bool>>>,
{
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut index: HashMap<access::ViewerKey, usize> = HashMap::new();
    let mut viewers = Vec::new();
    let positions: Vec<usize> = candidates
        .iter()
        .map(|c| {
            *index
                .entry(access::ViewerKey::of(&c.viewer))
                .or_insert_with(|| {
                    viewers.push(c.viewer.clone());
                    viewers.len() - 1
                })
        })
        .collect();
    let may_read = check(viewers).await?;
    Ok(candidates
        .iter()
        .zip(positions)
        .filter(|(_, at)| may_read.get(*at).copied().unwrap_or(false))
        .map(|(c, _)| c)
        .collect())
}
