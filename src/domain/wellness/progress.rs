//! Progress metrics: one row per (user, metric type). Recording sets the value and
//! incrementing adds to it, both as one `INSERT ... ON CONFLICT DO UPDATE`, so the first
//! use creates the row and concurrent increments are never lost (the database adds).

use entity::progress_metric;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::realtime::{self, Event};
use crate::validate;
use crate::validate::empty_object;

const METRIC_TYPE_MAX: usize = 100;

/// The viewer's metrics (all, or the one of `metric_type`), by metric type.
pub async fn viewer_metrics(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    metric_type: Option<&str>,
) -> AppResult<Vec<progress_metric::Model>> {
    access::require_user(viewer)?;
    let mut select =
        progress_metric::Entity::find().filter(access::readable_progress_metrics(viewer));
    if let Some(t) = metric_type {
        select = select.filter(progress_metric::Column::MetricType.eq(t.trim()));
    }
    Ok(select
        .order_by_asc(progress_metric::Column::MetricType)
        .all(db)
        .await?)
}

fn check_value(what: &str, value: f64) -> AppResult<()> {
    if !value.is_finite() {
        return Err(AppError::bad_input(format!(
            "{what} must be a finite number"
        )));
    }
    Ok(())
}

/// The new row, and how a conflict with the existing one updates it.
enum Write {
    Set(Option<serde_json::Value>),
    Add,
}

async fn upsert(
    db: &DatabaseConnection,
    viewer: &Viewer,
    metric_type: &str,
    value: f64,
    write: Write,
) -> AppResult<progress_metric::Model> {
    let user = access::require_user(viewer)?;
    let metric_type = validate::required_text("metricType", metric_type, METRIC_TYPE_MAX)?;
    check_value("value", value)?;
    let now = db::now();
    let metadata = match &write {
        Write::Set(Some(m)) => m.clone(),
        _ => empty_object(),
    };
    let excluded = |c: progress_metric::Column| Expr::col((Alias::new("excluded"), c));
    let mut on_conflict = OnConflict::columns([
        progress_metric::Column::UserId,
        progress_metric::Column::MetricType,
    ]);
    match &write {
        Write::Set(metadata) => {
            on_conflict.value(
                progress_metric::Column::Value,
                excluded(progress_metric::Column::Value),
            );
            if metadata.is_some() {
                on_conflict.value(
                    progress_metric::Column::Metadata,
                    excluded(progress_metric::Column::Metadata),
                );
            }
        }
        Write::Add => {
            let current = || Expr::col((progress_metric::Entity, progress_metric::Column::Value));
            on_conflict.value(
                progress_metric::Column::Value,
                current().add(excluded(progress_metric::Column::Value)),
            );
            // Only when the sum stays finite: Postgres would fail the statement on an
            // overflowing `float8`, SQLite would store infinity. Compared without computing
            // the sum; no row updated means the sum would overflow.
            on_conflict.action_and_where(if value >= 0.0 {
                current().lte(f64::MAX - value)
            } else {
                current().gte(-f64::MAX - value)
            });
        }
    }
    on_conflict.value(
        progress_metric::Column::UpdatedAt,
        excluded(progress_metric::Column::UpdatedAt),
    );
    let txn = db::begin_write(db).await?;
    let written = progress_metric::Entity::insert(progress_metric::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user),
        metric_type: Set(metric_type.clone()),
        value: Set(value),
        metadata: Set(metadata),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(on_conflict.to_owned())
    .exec_without_returning(&txn)
    .await?;
    if written == 0 {
        // The transaction is rolled back when dropped.
        return Err(AppError::bad_input(format!(
            "adding {value:e} to `{metric_type}` would overflow: the result must be a finite number"
        )));
    }
    let saved = progress_metric::Entity::find()
        .filter(access::readable_progress_metrics(viewer))
        .filter(progress_metric::Column::UserId.eq(user))
        .filter(progress_metric::Column::MetricType.eq(metric_type))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal("a progress metric vanished in its write".into()))?;
    realtime::commit(txn, &[Event::progress(saved.id)]).await?;
    Ok(saved)
}

/// Sets the metric's value (creating it on first use); metadata, when given, replaces it.
pub async fn record_progress(
    db: &DatabaseConnection,
    viewer: &Viewer,
    metric_type: &str,
    value: f64,
    metadata: Option<serde_json::Value>,
) -> AppResult<progress_metric::Model> {
    upsert(db, viewer, metric_type, value, Write::Set(metadata)).await
}

/// Adds `by` to the metric (starting from 0 on first use), atomically.
pub async fn increment_progress(
    db: &DatabaseConnection,
    viewer: &Viewer,
    metric_type: &str,
    by: f64,
) -> AppResult<progress_metric::Model> {
    upsert(db, viewer, metric_type, by, Write::Add).await
}
