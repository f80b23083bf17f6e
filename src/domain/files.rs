//! [files] Project files, avatars and chat attachments: the rows that name stored objects.
//!
//! The bytes are written to the store (`crate::storage`) while the request streams in,
//! before any of these operations runs; an operation then checks the target (readable,
//! then editable), the type the content shows against the bucket's rules, the size and the
//! quota, and writes the row in one transaction. The caller removes the object when the
//! operation fails, and removes the objects of deleted rows after the commit
//! ([`gone`] says which rows are really gone); the [`sweep`] removes whatever a crash
//! left behind.

use std::collections::HashSet;

use entity::enums::ProjectStatus;
use entity::{conversation, profile, project, stored_file};
use sea_orm::sea_query::{Alias, Expr, Func, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::domain::patch::find_checked;
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::storage::{self, Bucket, Storage};

impl Keyed for stored_file::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

/// The longest file name kept, in characters.
pub const MAX_FILE_NAME: usize = 255;

/// Where an upload goes.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Project(Uuid),
    Conversation(Uuid, Bucket),
    Avatar,
}

impl Target {
    pub fn bucket(self) -> Bucket {
        match self {
            Target::Project(_) => Bucket::ProjectFiles,
            Target::Conversation(_, bucket) => bucket,
            Target::Avatar => Bucket::Avatars,
        }
    }
}

/// A file already in the store, as the request brought it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: Uuid,
    pub file_name: String,
    pub claimed_type: Option<String>,
    pub size: u64,
    pub head: Vec<u8>,
}

/// What an upload wrote: the row, and for an avatar the profile and the avatars it
/// replaced (their objects go after the commit).
#[derive(Debug)]
pub struct Stored {
    pub file: stored_file::Model,
    pub profile: Option<profile::Model>,
    pub replaced: Vec<stored_file::Model>,
}

/// Newest first, ties by id.
pub fn file_sort() -> Sort {
    Sort::new(
        "file:created",
        Expr::col((stored_file::Entity, stored_file::Column::Id)),
    )
    .then(
        Expr::col((stored_file::Entity, stored_file::Column::CreatedAt)),
        true,
        KeyKind::Timestamp,
    )
}

/// Readable files of `bucket`; the parent expression is `parent`.
fn readable_in(
    viewer: &Viewer,
    bucket: Bucket,
    parent: stored_file::Column,
) -> (SelectStatement, Expr) {
    (
        stored_file::Entity::find()
            .filter(access::readable_stored_files(viewer))
            .filter(stored_file::Column::Bucket.eq(bucket.name()))
            .into_query(),
        Expr::col((stored_file::Entity, parent)),
    )
}

/// `Project.files`: readable project files; the parent expression is the project id.
pub fn project_files_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    readable_in(viewer, Bucket::ProjectFiles, stored_file::Column::ProjectId)
}

/// `Conversation.attachments`: readable attachments (both buckets); the parent
/// expression is the conversation id.
pub fn conversation_attachments_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        stored_file::Entity::find()
            .filter(access::readable_stored_files(viewer))
            .filter(stored_file::Column::ConversationId.is_not_null())
            .into_query(),
        Expr::col((stored_file::Entity, stored_file::Column::ConversationId)),
    )
}

/// File `id` of one of `buckets`, if the viewer may read it.
pub async fn find_readable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
    buckets: &[Bucket],
) -> AppResult<Option<stored_file::Model>> {
    Ok(stored_file::Entity::find_by_id(id)
        .filter(access::readable_stored_files(viewer))
        .filter(stored_file::Column::Bucket.is_in(buckets.iter().map(|b| b.name())))
        .one(db)
        .await?)
}

/// File `id` of `bucket`, for a download whose signature was verified (private
/// buckets) or of a public bucket.
pub async fn find_downloadable(
    db: &impl ConnectionTrait,
    bucket: Bucket,
    id: Uuid,
) -> AppResult<Option<stored_file::Model>> {
    Ok(stored_file::Entity::find()
        .filter(access::signed_stored_file(id, bucket.name()))
        .one(db)
        .await?)
}

/// The bytes the viewer's files take, all buckets together.
pub async fn used_bytes(db: &impl ConnectionTrait, viewer: &Viewer) -> AppResult<i64> {
    let sum = Func::coalesce([
        Expr::from(Func::sum(Expr::col((
            stored_file::Entity,
            stored_file::Column::SizeBytes,
        )))),
        Expr::val(0i64),
    ]);
    // Postgres sums a bigint as numeric: cast back, on both backends alike.
    let select = stored_file::Entity::find()
        .select_only()
        .column_as(Expr::from(Func::cast_as(sum, Alias::new("BIGINT"))), "used")
        .filter(access::own_stored_files(viewer))
        .into_query();
    let used = match db.query_one(&select).await? {
        Some(row) => row.try_get::<i64>("", "used")?,
        None => 0,
    };
    Ok(used)
}

/// A file name as kept: the last path component, control characters removed, at most
/// [`MAX_FILE_NAME`] characters; `BAD_USER_INPUT` when nothing is left.
pub fn clean_file_name(name: &str) -> AppResult<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(AppError::bad_input("the file needs a name"));
    }
    if cleaned.chars().count() > MAX_FILE_NAME {
        return Err(AppError::bad_input(format!(
            "a file name has at most {MAX_FILE_NAME} characters"
        )));
    }
    Ok(cleaned.to_owned())
}

/// Writes the row of an upload already in the store (see the module doc).
pub async fn store_file(
    conn: &sea_orm::DatabaseConnection,
    viewer: &Viewer,
    storage: &Storage,
    target: Target,
    upload: &Upload,
) -> AppResult<Stored> {
    let user = access::require_user(viewer)?;
    let bucket = target.bucket();
    let txn = db::begin_write(conn).await?;
    let (project_id, conversation_id, encrypted) = match target {
        Target::Project(id) => {
            lock_live_project_for_editor(&txn, viewer, id, "project", "add files").await?;
            (Some(id), None, false)
        }
        Target::Conversation(id, _) => {
            let checked = find_checked::<conversation::Entity, 1>(
                &txn,
                id,
                access::readable_conversations(viewer),
                [access::editable_conversations(viewer)],
                true,
            )
            .await?
            .ok_or_else(|| AppError::not_found("conversation"))?;
            if !checked.holds[0] {
                return Err(AppError::Forbidden(
                    "only the conversation's owner may attach files".to_owned(),
                ));
            }
            (None, Some(id), checked.row.encrypted)
        }
        Target::Avatar => (None, None, false),
    };
    let file_name = clean_file_name(&upload.file_name)?;
    let rules = storage.rules(bucket);
    if upload.size > rules.max_bytes {
        return Err(AppError::bad_input(format!(
            "a file in `{}` has at most {} bytes",
            bucket.name(),
            rules.max_bytes
        )));
    }
    // An encrypted chat's attachments are ciphertext: stored as bytes, never sniffed.
    let mime = if encrypted {
        "application/octet-stream".to_owned()
    } else {
        let shown = storage::content_type(&upload.head, upload.claimed_type.as_deref(), &file_name);
        match shown {
            Some(mime) if rules.allows(&mime) => mime,
            Some(mime) => {
                return Err(AppError::bad_input(format!(
                    "the content is {mime}, which `{}` does not take",
                    bucket.name()
                )))
            }
            None => {
                return Err(AppError::bad_input(format!(
                    "the content is of no type `{}` takes",
                    bucket.name()
                )))
            }
        }
    };
    let size = i64::try_from(upload.size).unwrap_or(i64::MAX);
    if let Some(quota) = storage.quota() {
        // One uploader at a time per user: on Postgres the profile row is locked (SQLite's
        // write transaction already serialises writers).
        if txn.get_database_backend() == DbBackend::Postgres {
            profile::Entity::find()
                .filter(access::editable_profiles(viewer))
                .lock_exclusive()
                .one(&txn)
                .await?;
        }
        let used = used_bytes(&txn, viewer).await?;
        if u64::try_from(used.saturating_add(size)).unwrap_or(u64::MAX) > quota {
            return Err(AppError::QuotaExceeded(format!(
                "this upload would take your storage past its quota of {quota} bytes \
                 ({used} used)"
            )));
        }
    }
    let row = stored_file::ActiveModel {
        id: Set(upload.id),
        bucket: Set(bucket.name().to_owned()),
        owner_id: Set(user),
        project_id: Set(project_id),
        conversation_id: Set(conversation_id),
        file_name: Set(file_name),
        mime_type: Set(mime),
        size_bytes: Set(size),
        created_at: Set(db::now()),
    };
    let file = stored_file::Entity::insert(row)
        .exec_with_returning(&txn)
        .await?;
    let (profile, replaced) = if let Target::Avatar = target {
        let replaced = stored_file::Entity::find()
            .filter(access::own_stored_files(viewer))
            .filter(stored_file::Column::Bucket.eq(Bucket::Avatars.name()))
            .filter(stored_file::Column::Id.ne(file.id))
            .all(&txn)
            .await?;
        if !replaced.is_empty() {
            stored_file::Entity::delete_many()
                .filter(access::own_stored_files(viewer))
                .filter(stored_file::Column::Id.is_in(replaced.iter().map(|f| f.id)))
                .exec(&txn)
                .await?;
        }
        let url = storage.url(Bucket::Avatars, file.id, db::now().timestamp());
        profile::Entity::update_many()
            .col_expr(profile::Column::AvatarUrl, Expr::value(url))
            .col_expr(profile::Column::UpdatedAt, Expr::value(db::now()))
            .filter(access::editable_profiles(viewer))
            .exec(&txn)
            .await?;
        let profile = profile::Entity::find()
            .filter(access::editable_profiles(viewer))
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::not_found("profile"))?;
        (Some(profile), replaced)
    } else {
        (None, Vec::new())
    };
    txn.commit().await?;
    Ok(Stored {
        file,
        profile,
        replaced,
    })
}

/// Deletes file `id` of one of `buckets`: `NOT_FOUND` unless readable, `FORBIDDEN` unless
/// the viewer may change its project (project files) or conversation (attachments),
/// `CONFLICT` in a deleted project. Returns the deleted row (its object goes after this).
pub async fn delete_file(
    conn: &sea_orm::DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    buckets: &[Bucket],
) -> AppResult<stored_file::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(conn).await?;
    let file = find_readable(&txn, viewer, id, buckets)
        .await?
        .ok_or_else(|| AppError::not_found("file"))?;
    if let Some(project_id) = file.project_id {
        lock_live_project_for_editor(&txn, viewer, project_id, "file", "delete its files").await?;
    } else if let Some(conversation_id) = file.conversation_id {
        let editable = conversation::Entity::find_by_id(conversation_id)
            .filter(access::editable_conversations(viewer))
            .one(&txn)
            .await?;
        if editable.is_none() {
            return Err(AppError::Forbidden(
                "only the conversation's owner may delete its attachments".to_owned(),
            ));
        }
    } else if stored_file::Entity::find_by_id(id)
        .filter(access::own_stored_files(viewer))
        .one(&txn)
        .await?
        .is_none()
    {
        return Err(AppError::Forbidden("not your file".to_owned()));
    }
    stored_file::Entity::delete_many()
        .filter(stored_file::Column::Id.eq(id))
        .filter(access::readable_stored_files(viewer))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(file)
}

/// The files a permanent delete of project `id` may take with it (readable ones).
pub async fn files_of_project(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Vec<stored_file::Model>> {
    Ok(stored_file::Entity::find()
        .filter(access::readable_stored_files(viewer))
        .filter(stored_file::Column::ProjectId.eq(id))
        .all(db)
        .await?)
}

/// The attachments a delete of conversation `id` takes with it (readable ones).
pub async fn files_of_conversation(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Vec<stored_file::Model>> {
    Ok(stored_file::Entity::find()
        .filter(access::readable_stored_files(viewer))
        .filter(stored_file::Column::ConversationId.eq(id))
        .all(db)
        .await?)
}

/// The files deleting the viewer's account may take with it: theirs, those of the
/// projects they own or share, and the attachments of their conversations.
pub async fn files_of_account(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
) -> AppResult<Vec<stored_file::Model>> {
    use sea_orm::sea_query::{Condition, Query};
    let projects = Query::select()
        .column((project::Entity, project::Column::Id))
        .from(project::Entity)
        .cond_where(access::own_projects(viewer))
        .to_owned();
    let conversations = Query::select()
        .column((conversation::Entity, conversation::Column::Id))
        .from(conversation::Entity)
        .cond_where(access::own_conversations(viewer))
        .to_owned();
    Ok(stored_file::Entity::find()
        .filter(access::readable_stored_files(viewer))
        .filter(
            Condition::any()
                .add(access::own_stored_files(viewer))
                .add(stored_file::Column::ProjectId.in_subquery(projects))
                .add(stored_file::Column::ConversationId.in_subquery(conversations)),
        )
        .all(db)
        .await?)
}

/// Of `files`, those whose rows no longer exist (their objects may go). A maintenance
/// read of ids, for no viewer: it decides what to delete, never what anyone sees.
pub async fn gone(
    db: &impl ConnectionTrait,
    files: Vec<(Bucket, Uuid)>,
) -> AppResult<Vec<(Bucket, Uuid)>> {
    let mut gone = Vec::new();
    for chunk in files.chunks(500) {
        let present: HashSet<Uuid> = stored_file::Entity::find()
            .select_only()
            .column(stored_file::Column::Id)
            .filter(stored_file::Column::Id.is_in(chunk.iter().map(|(_, id)| *id)))
            .into_tuple::<Uuid>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        gone.extend(
            chunk
                .iter()
                .filter(|(_, id)| !present.contains(id))
                .copied(),
        );
    }
    Ok(gone)
}

/// Removes the objects of rows that are gone (after the commit that removed them).
pub async fn remove_objects(
    db: &impl ConnectionTrait,
    storage: &Storage,
    candidates: Vec<stored_file::Model>,
) {
    let keys = candidates
        .into_iter()
        .filter_map(|f| Bucket::from_name(&f.bucket).map(|b| (b, f.id)))
        .collect();
    match gone(db, keys).await {
        Ok(gone) => {
            for (bucket, id) in gone {
                storage.delete(bucket, id).await;
            }
        }
        // The sweep removes them later.
        Err(err) => tracing::warn!(error = ?err, "storage: could not tell which files are gone"),
    }
}

/// Removes the objects, older than the grace period, that no row names. Returns how many.
pub async fn sweep(db: &impl ConnectionTrait, storage: &Storage) -> AppResult<usize> {
    let grace = chrono::Duration::from_std(storage.sweep_grace()).unwrap_or(chrono::Duration::MAX);
    let before = db::now()
        .checked_sub_signed(grace)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let mut removed = 0;
    for bucket in Bucket::ALL {
        let ids = storage
            .list_older(bucket, before)
            .await
            .map_err(|e| AppError::Internal(format!("storage listing: {e}")))?;
        let orphans = gone(db, ids.into_iter().map(|id| (bucket, id)).collect()).await?;
        for (bucket, id) in orphans {
            storage.delete(bucket, id).await;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "storage sweep: removed objects no row names");
    }
    Ok(removed)
}

/// Finds `id` readable and locks it for the rest of `txn`, then requires the viewer to be
/// one of its editors (FORBIDDEN: "only the project's editors may {action}") and the
/// project not to be DELETED (CONFLICT); unreadable is NOT_FOUND as `missing`.
async fn lock_live_project_for_editor(
    txn: &DatabaseTransaction,
    viewer: &Viewer,
    id: Uuid,
    missing: &str,
    action: &str,
) -> AppResult<()> {
    let checked = find_checked::<project::Entity, 1>(
        txn,
        id,
        access::readable_projects(viewer),
        [access::editable_projects(viewer)],
        true,
    )
    .await?
    .ok_or_else(|| AppError::not_found(missing))?;
    if !checked.holds[0] {
        return Err(AppError::Forbidden(format!(
            "only the project's editors may {action}"
        )));
    }
    if checked.row.status == ProjectStatus::Deleted {
        return Err(AppError::Conflict(
            "the project is deleted: restore it first".to_owned(),
        ));
    }
    Ok(())
}
