//! Who may read and change which rows: the single source of ownership conditions.
//!
//! For each resource this module gives the row condition "readable by this viewer" and
//! "editable by this viewer", as sea-query `Condition`s over table-qualified columns, so
//! selects, updates and deletes reuse the same predicate. Every query of user data in the
//! gateway is scoped by one of these functions; nothing else writes an ownership
//! predicate. A row outside the readable condition does not exist for the viewer: callers
//! answer `null`, leave it out of lists, or fail with `NOT_FOUND`. A row that is readable
//! but outside the editable condition is `FORBIDDEN`.

use entity::enums::ProjectStatus;
use entity::{
    conversation, credit_account, credit_transaction, goal, journal_entry, message, profile,
    progress_metric, project, settings,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

/// A condition no row satisfies.
fn nothing() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

/// A condition every row satisfies.
fn everything() -> Condition {
    Condition::all()
}

fn col<E: EntityTrait, C: ColumnTrait>(entity: E, column: C) -> Expr {
    Expr::col((entity, column))
}

/// The user behind the viewer, or `UNAUTHENTICATED` for the anonymous and `FORBIDDEN`
/// for the service role, which creates no user-owned rows.
pub fn require_user(viewer: &Viewer) -> AppResult<Uuid> {
    match viewer {
        Viewer::User(user) => Ok(user.id),
        Viewer::Anonymous => Err(AppError::user_required()),
        Viewer::Service => Err(AppError::Forbidden(
            "the service role creates no user-owned rows; act as a user".to_owned(),
        )),
    }
}

/// The viewer must be signed in (a user or the service role).
pub fn require_signed_in(viewer: &Viewer) -> AppResult<()> {
    match viewer {
        Viewer::Anonymous => Err(AppError::user_required()),
        _ => Ok(()),
    }
}

/// Only the service role may go on: `FORBIDDEN` for users and the anonymous alike.
pub fn require_service(viewer: &Viewer) -> AppResult<()> {
    match viewer {
        Viewer::Service => Ok(()),
        _ => Err(AppError::Forbidden(
            "only the service role may do this".to_owned(),
        )),
    }
}

/// Rows of a table keyed by a user id that belong to the viewer (profile, settings and
/// every other per-user table).
fn own_rows(viewer: &Viewer, owner: Expr) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::User(user) => Condition::all().add(owner.eq(user.id)),
        Viewer::Anonymous => nothing(),
    }
}

pub fn own_profile(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(profile::Entity, profile::Column::Id))
}

pub fn own_settings(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(settings::Entity, settings::Column::UserId))
}

/// Public profiles the viewer may see: their own, and the owners of projects they can read.
pub fn readable_public_profiles(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => Condition::any().add(own_profile(viewer)).add(
            col(profile::Entity, profile::Column::Id).in_subquery(
                Query::select()
                    .column((project::Entity, project::Column::OwnerId))
                    .from(project::Entity)
                    .cond_where(readable_projects(viewer))
                    .to_owned(),
            ),
        ),
    }
}

/// Public projects that anyone may read: public and not deleted.
fn public_projects() -> Condition {
    Condition::all()
        .add(col(project::Entity, project::Column::IsPublic).eq(true))
        .add(col(project::Entity, project::Column::Status).ne(ProjectStatus::Deleted))
}

/// Projects the viewer may read: their own, their teams', and public ones.
pub fn readable_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => public_projects(),
        Viewer::User(user) => Condition::any()
            .add(col(project::Entity, project::Column::OwnerId).eq(user.id))
            .add(public_projects()),
    }
}

/// Projects that are the viewer's own (or their teams'): what `viewer.projects` lists.
pub fn member_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => nothing(),
        Viewer::User(user) => {
            Condition::all().add(col(project::Entity, project::Column::OwnerId).eq(user.id))
        }
    }
}

/// Projects whose fields, chats and files the viewer may change.
pub fn editable_projects(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        Viewer::Anonymous => nothing(),
        Viewer::User(user) => {
            Condition::all().add(col(project::Entity, project::Column::OwnerId).eq(user.id))
        }
    }
}

/// Projects the viewer may delete, restore or delete permanently.
pub fn deletable_projects(viewer: &Viewer) -> Condition {
    editable_projects(viewer)
}

/// How the viewer may use a project they can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ProjectAccess {
    Owner,
    Editor,
    Viewer,
}

/// The viewer's access to a project already known to be readable.
pub fn project_access(viewer: &Viewer, project: &project::Model) -> ProjectAccess {
    match viewer {
        Viewer::Service => ProjectAccess::Owner,
        Viewer::User(user) if user.id == project.owner_id => ProjectAccess::Owner,
        _ => ProjectAccess::Viewer,
    }
}

/// Conversations the viewer may read: their own.
pub fn readable_conversations(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(conversation::Entity, conversation::Column::OwnerId),
    )
}

/// Conversations the viewer may change: their own.
pub fn editable_conversations(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(conversation::Entity, conversation::Column::OwnerId),
    )
}

/// The viewer's own conversations: what `viewer.conversations` lists.
pub fn own_conversations(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(user) => Condition::all()
            .add(col(conversation::Entity, conversation::Column::OwnerId).eq(user.id)),
        _ => nothing(),
    }
}

/// Messages of the conversations `conversations` selects.
fn messages_of(viewer: &Viewer, conversations: Condition) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => Condition::all().add(
            col(message::Entity, message::Column::ConversationId).in_subquery(
                Query::select()
                    .column((conversation::Entity, conversation::Column::Id))
                    .from(conversation::Entity)
                    .cond_where(conversations)
                    .to_owned(),
            ),
        ),
    }
}

/// Messages the viewer may read: those of readable conversations.
pub fn readable_messages(viewer: &Viewer) -> Condition {
    messages_of(viewer, readable_conversations(viewer))
}

/// Messages the viewer may change: those of conversations they may change.
pub fn editable_messages(viewer: &Viewer) -> Condition {
    messages_of(viewer, editable_conversations(viewer))
}

/// The viewer's messages: those of their own conversations (what statistics count).
pub fn own_messages(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::User(_) => messages_of(viewer, own_conversations(viewer)),
        _ => nothing(),
    }
}

/// Goals the viewer may read and change: their own.
pub fn own_goals(viewer: &Viewer) -> Condition {
    own_rows(viewer, col(goal::Entity, goal::Column::UserId))
}

/// Journal entries the viewer may read and change: their own.
pub fn own_journal_entries(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(journal_entry::Entity, journal_entry::Column::UserId),
    )
}

/// Progress metrics the viewer may read and change: their own.
pub fn own_progress_metrics(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(progress_metric::Entity, progress_metric::Column::UserId),
    )
}

/// Credit accounts the viewer may read: their own. Balances change only through the
/// credits operations (spend own; grants by the service role).
pub fn own_credit_accounts(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(credit_account::Entity, credit_account::Column::UserId),
    )
}

/// Ledger rows the viewer may read: their own.
pub fn own_credit_transactions(viewer: &Viewer) -> Condition {
    own_rows(
        viewer,
        col(
            credit_transaction::Entity,
            credit_transaction::Column::UserId,
        ),
    )
}

/// Waitlist entries the viewer may read: all for the service role, none for others.
pub fn readable_waitlist_entries(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => everything(),
        _ => nothing(),
    }
}
