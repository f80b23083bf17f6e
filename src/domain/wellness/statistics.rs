//! The viewer's statistics, computed by the database in one statement of scalar
//! subqueries, each scoped by the `access` module.

use chrono::{DateTime, Utc};
use entity::enums::GoalStatus;
use entity::{conversation, goal, journal_entry, message};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, Func, Query, SelectStatement, SimpleExpr,
};
use sea_orm::ConnectionTrait;

use crate::access;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatistics {
    pub total_conversations: i64,
    pub total_messages: i64,
    pub active_goals: i64,
    pub completed_goals: i64,
    pub journal_entries: i64,
    pub last_conversation_at: Option<DateTime<Utc>>,
}

fn scalar(select: SelectStatement) -> SimpleExpr {
    Expr::SubQuery(None, Box::new(select.into()))
}

fn count<T: sea_orm::sea_query::IntoTableRef>(table: T, cond: Condition) -> SimpleExpr {
    scalar(
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(table)
            .cond_where(cond)
            .to_owned(),
    )
}

fn goals_with(viewer: &Viewer, status: GoalStatus) -> Condition {
    Condition::all()
        .add(access::readable_goals(viewer))
        .add(Expr::col((goal::Entity, goal::Column::Status)).eq(status))
}

pub async fn viewer_statistics(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
) -> AppResult<UserStatistics> {
    access::require_user(viewer)?;
    let last_conversation = scalar(
        Query::select()
            .expr(Func::max(Expr::col((
                conversation::Entity,
                conversation::Column::CreatedAt,
            ))))
            .from(conversation::Entity)
            .cond_where(access::own_conversations(viewer))
            .to_owned(),
    );
    let select = Query::select()
        .expr_as(
            count(conversation::Entity, access::own_conversations(viewer)),
            Alias::new("total_conversations"),
        )
        .expr_as(
            count(message::Entity, access::own_messages(viewer)),
            Alias::new("total_messages"),
        )
        .expr_as(
            count(goal::Entity, goals_with(viewer, GoalStatus::Active)),
            Alias::new("active_goals"),
        )
        .expr_as(
            count(goal::Entity, goals_with(viewer, GoalStatus::Completed)),
            Alias::new("completed_goals"),
        )
        .expr_as(
            count(
                journal_entry::Entity,
                access::readable_journal_entries(viewer),
            ),
            Alias::new("journal_entries"),
        )
        .expr_as(last_conversation, Alias::new("last_conversation_at"))
        .to_owned();
    let row = db
        .query_one(&select)
        .await?
        .ok_or_else(|| AppError::Internal("statistics returned no row".into()))?;
    Ok(UserStatistics {
        total_conversations: row.try_get("", "total_conversations")?,
        total_messages: row.try_get("", "total_messages")?,
        active_goals: row.try_get("", "active_goals")?,
        completed_goals: row.try_get("", "completed_goals")?,
        journal_entries: row.try_get("", "journal_entries")?,
        last_conversation_at: row.try_get("", "last_conversation_at")?,
    })
}
