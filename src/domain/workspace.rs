//! Workspace files: each user's tree of files and directories, addressed by path.
//!
//! Invariants every operation keeps: one row per (user, path) (a unique index backs it);
//! every entry's parent directory exists (writes, directory creation and moves create
//! missing parents; deletes take whole subtrees); a parent is always a directory. A
//! write transaction locks the user's workspace (on Postgres the user's profile row,
//! `FOR NO KEY UPDATE`; on SQLite the IMMEDIATE transaction), so concurrent changes to
//! one tree run one after another and always see each other's results.
//!
//! Paths are addressed relative to the viewer's own tree, so every operation needs a user;
//! the service role reads entries by node id only. Every statement is scoped by `access`.

use entity::{profile, workspace_file};
use sea_orm::sea_query::{BinOper, Condition, Expr, ExprTrait, Func};
use sea_orm::{
    sea_query::LockType, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::validate;
use crate::validate::empty_object;

/// Longest path, in characters.
pub const PATH_MAX: usize = 1024;
/// Longest segment (file or directory name), in characters.
pub const SEGMENT_MAX: usize = 255;
/// Largest file content, in UTF-8 bytes.
pub const CONTENT_MAX_BYTES: usize = 1024 * 1024;
const MIME_MAX: usize = 255;

/// A validated, normalised workspace path: segments joined by `/`, no leading slash, no
/// trailing slash (one is dropped), no empty, `.` or `..` segments, no control
/// characters, within the length limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePath(String);

impl WorkspacePath {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let bad = |why: &str| AppError::bad_input(format!("invalid path {raw:?}: {why}"));
        if raw.starts_with('/') {
            return Err(bad("it must not start with a slash"));
        }
        let text = raw.strip_suffix('/').unwrap_or(raw);
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        if text.chars().count() > PATH_MAX {
            return Err(bad(&format!("it is longer than {PATH_MAX} characters")));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("it contains a control character"));
        }
        for segment in text.split('/') {
            match segment {
                "" => return Err(bad("it has an empty segment")),
                "." | ".." => return Err(bad("`.` and `..` segments are not allowed")),
                s if s.chars().count() > SEGMENT_MAX => {
                    return Err(bad(&format!(
                        "a segment is longer than {SEGMENT_MAX} characters"
                    )))
                }
                _ => {}
            }
        }
        Ok(WorkspacePath(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The directory holding this entry; `None` at the root.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(parent, _)| parent)
    }

    /// Every ancestor directory, the shallowest first.
    pub fn ancestors(&self) -> Vec<WorkspacePath> {
        self.0
            .match_indices('/')
            .map(|(i, _)| WorkspacePath(self.0[..i].to_owned()))
            .collect()
    }

    /// This path or one beneath it.
    pub fn is_within(&self, other: &WorkspacePath) -> bool {
        self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0[other.0.len()..].starts_with('/'))
    }

    fn chars(&self) -> usize {
        self.0.chars().count()
    }
}

fn column(c: workspace_file::Column) -> Expr {
    Expr::col((workspace_file::Entity, c))
}

/// Entries strictly beneath `dir` (an exact, case-sensitive prefix test on both backends;
/// `LIKE` would need escaping and ignores case on SQLite).
fn beneath(dir: &WorkspacePath) -> Condition {
    let prefix = format!("{}/", dir.as_str());
    let len = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    Condition::all().add(
        Expr::expr(
            Func::cust("SUBSTR")
                .arg(column(workspace_file::Column::Path))
                .arg(1)
                .arg(len),
        )
        .eq(prefix),
    )
}

/// `to` followed by what comes after the first `from_chars` characters of `col`
/// (`||` and `SUBSTR` by characters mean the same on both backends).
fn rebased(to: &WorkspacePath, col: workspace_file::Column, from_chars: usize) -> Expr {
    let start = i32::try_from(from_chars + 1).unwrap_or(i32::MAX);
    Expr::expr(Func::cast_as(Expr::val(to.as_str()), "TEXT")).binary(
        BinOper::Custom("||"),
        Func::cust("SUBSTR").arg(column(col)).arg(start),
    )
}

/// The viewer's entry at `path`, if any.
async fn find_at(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    path: &WorkspacePath,
) -> AppResult<Option<workspace_file::Model>> {
    Ok(workspace_file::Entity::find()
        .filter(access::own_workspace_files(viewer))
        .filter(workspace_file::Column::Path.eq(path.as_str()))
        .one(db)
        .await?)
}

/// An entry the viewer may read, by id (the service role: any), or `None`.
pub async fn find_readable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<workspace_file::Model>> {
    Ok(workspace_file::Entity::find_by_id(id)
        .filter(access::readable_workspace_files(viewer))
        .one(db)
        .await?)
}

/// `viewer.workspaceFile(path)`: the viewer's entry at the path, or `None`.
pub async fn find_by_path(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    path: &str,
) -> AppResult<Option<workspace_file::Model>> {
    let path = WorkspacePath::parse(path)?;
    find_at(db, viewer, &path).await
}

/// The project an entry is labelled with: readable (`NOT_FOUND` otherwise).
async fn readable_label(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    project_id: Option<Uuid>,
) -> AppResult<Option<entity::project::Model>> {
    match project_id {
        None => Ok(None),
        Some(id) => crate::domain::projects::find_readable(db, viewer, id)
            .await?
            .map(Some)
            .ok_or_else(|| AppError::not_found("project")),
    }
}

/// A DELETED project is read-only: nothing new is labelled with it.
fn reject_deleted_label(label: &Option<entity::project::Model>) -> AppResult<()> {
    label
        .as_ref()
        .map_or(Ok(()), crate::domain::projects::reject_deleted)
}

/// `viewer.workspaceFiles`: entries directly under `parent` (`None`: the root),
/// optionally only those labelled with `project_id`; directories first, then by name
/// (ignoring case, then exactly), the same on both backends.
pub async fn list(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    parent: Option<&str>,
    project_id: Option<Uuid>,
) -> AppResult<Vec<workspace_file::Model>> {
    readable_label(db, viewer, project_id).await?;
    let mut select = workspace_file::Entity::find().filter(access::own_workspace_files(viewer));
    select = match parent {
        None => select.filter(workspace_file::Column::ParentPath.is_null()),
        Some(p) => {
            let p = WorkspacePath::parse(p)?;
            select.filter(workspace_file::Column::ParentPath.eq(p.as_str()))
        }
    };
    if let Some(project) = project_id {
        select = select.filter(workspace_file::Column::ProjectId.eq(project));
    }
    let mut entries = select.all(db).await?;
    entries.sort_by(|a, b| {
        b.is_directory
            .cmp(&a.is_directory)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(entries)
}

/// Locks the user's workspace for the rest of the transaction: on Postgres the profile
/// row, `FOR NO KEY UPDATE` (rows referencing the profile can still be inserted); on
/// SQLite the IMMEDIATE transaction already holds the write lock.
async fn lock_workspace(db: &impl ConnectionTrait, viewer: &Viewer) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        profile::Entity::find()
            .select_only()
            .column(profile::Column::Id)
            .filter(access::readable_profiles(viewer))
            .lock(LockType::NoKeyUpdate)
            .into_tuple::<Uuid>()
            .one(db)
            .await?;
    }
    Ok(())
}

fn new_row(
    user: Uuid,
    path: &WorkspacePath,
    project_id: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> workspace_file::ActiveModel {
    workspace_file::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(user),
        project_id: Set(project_id),
        path: Set(path.as_str().to_owned()),
        name: Set(path.name().to_owned()),
        parent_path: Set(path.parent().map(str::to_owned)),
        is_directory: Set(true),
        mime_type: Set(None),
        size_bytes: Set(0),
        content: Set(None),
        metadata: Set(empty_object()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Creates the missing ancestors of `path` as directories labelled `project_id`;
/// `CONFLICT` when an ancestor is a file.
async fn ensure_parents(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    user: Uuid,
    path: &WorkspacePath,
    project_id: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let ancestors = path.ancestors();
    if ancestors.is_empty() {
        return Ok(());
    }
    let existing = workspace_file::Entity::find()
        .filter(access::own_workspace_files(viewer))
        .filter(workspace_file::Column::Path.is_in(ancestors.iter().map(|a| a.as_str())))
        .all(db)
        .await?;
    let mut missing = Vec::new();
    for ancestor in &ancestors {
        match existing.iter().find(|e| e.path == ancestor.as_str()) {
            Some(found) if !found.is_directory => {
                return Err(AppError::Conflict(format!(
                    "{:?} is a file, so it cannot hold {:?}",
                    found.path,
                    path.as_str()
                )))
            }
            Some(_) => {}
            None => missing.push(new_row(user, ancestor, project_id, now)),
        }
    }
    if !missing.is_empty() {
        workspace_file::Entity::insert_many(missing)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct WriteFile {
    pub path: String,
    pub content: String,
    pub project_id: Option<Uuid>,
    pub mime_type: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// Creates or replaces the file at the path, and any missing parent directories. A
/// replaced file keeps its id and `createdAt`; its content, label, MIME type and metadata
/// become the input's (absent: null, or `{}` for metadata).
pub async fn write_file(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: WriteFile,
) -> AppResult<workspace_file::Model> {
    let user = access::require_own_scope(viewer)?;
    let txn = db::begin_write(db).await?;
    let label = readable_label(&txn, viewer, input.project_id).await?;
    let path = WorkspacePath::parse(&input.path)?;
    if input.content.len() > CONTENT_MAX_BYTES {
        return Err(AppError::bad_input(format!(
            "content is larger than {CONTENT_MAX_BYTES} bytes"
        )));
    }
    if let Some(m) = &input.mime_type {
        validate::text_len("mimeType", m, MIME_MAX)?;
    }
    reject_deleted_label(&label)?;
    lock_workspace(&txn, viewer).await?;
    let existing = find_at(&txn, viewer, &path).await?;
    if existing.as_ref().is_some_and(|e| e.is_directory) {
        return Err(AppError::Conflict(format!(
            "{:?} is a directory",
            path.as_str()
        )));
    }
    let now = db::now();
    ensure_parents(&txn, viewer, user, &path, input.project_id, now).await?;
    let size = i64::try_from(input.content.len()).unwrap_or(i64::MAX);
    let metadata = input.metadata.unwrap_or_else(empty_object);
    let saved = match existing {
        Some(file) => {
            let mut row: workspace_file::ActiveModel = file.into();
            row.project_id = Set(input.project_id);
            row.mime_type = Set(input.mime_type);
            row.size_bytes = Set(size);
            row.content = Set(Some(input.content));
            row.metadata = Set(metadata);
            row.updated_at = Set(now);
            row.update(&txn).await?
        }
        None => {
            let mut row = new_row(user, &path, input.project_id, now);
            row.is_directory = Set(false);
            row.mime_type = Set(input.mime_type);
            row.size_bytes = Set(size);
            row.content = Set(Some(input.content));
            row.metadata = Set(metadata);
            row.insert(&txn).await?
        }
    };
    txn.commit().await?;
    Ok(saved)
}

/// Creates a directory and any missing parents; an existing directory is returned as it
/// is; a file at the path is `CONFLICT`.
pub async fn create_directory(
    db: &DatabaseConnection,
    viewer: &Viewer,
    path: &str,
    project_id: Option<Uuid>,
) -> AppResult<workspace_file::Model> {
    let user = access::require_own_scope(viewer)?;
    let txn = db::begin_write(db).await?;
    let label = readable_label(&txn, viewer, project_id).await?;
    let path = WorkspacePath::parse(path)?;
    reject_deleted_label(&label)?;
    lock_workspace(&txn, viewer).await?;
    let result = match find_at(&txn, viewer, &path).await? {
        Some(dir) if dir.is_directory => dir,
        Some(_) => {
            return Err(AppError::Conflict(format!(
                "{:?} is a file, not a directory",
                path.as_str()
            )))
        }
        None => {
            let now = db::now();
            ensure_parents(&txn, viewer, user, &path, project_id, now).await?;
            new_row(user, &path, project_id, now).insert(&txn).await?
        }
    };
    txn.commit().await?;
    Ok(result)
}

/// Moves a file, or a directory with everything beneath it, to a path that is free;
/// missing parents of the target are created (labelled like the moved entry). A path
/// cannot move onto or into itself (`BAD_USER_INPUT`); an existing target is `CONFLICT`.
pub async fn move_entry(
    db: &DatabaseConnection,
    viewer: &Viewer,
    from: &str,
    to: &str,
) -> AppResult<workspace_file::Model> {
    let user = access::require_own_scope(viewer)?;
    let from = WorkspacePath::parse(from)?;
    let txn = db::begin_write(db).await?;
    lock_workspace(&txn, viewer).await?;
    let source = find_at(&txn, viewer, &from)
        .await?
        .ok_or_else(|| AppError::not_found("workspace file"))?;
    let to = WorkspacePath::parse(to)?;
    if to.is_within(&from) {
        return Err(AppError::bad_input(format!(
            "{:?} cannot move onto or into itself ({:?})",
            from.as_str(),
            to.as_str()
        )));
    }
    if source.is_directory {
        let longest: Option<i32> = workspace_file::Entity::find()
            .select_only()
            .column_as(
                Func::char_length(column(workspace_file::Column::Path)).max(),
                "longest",
            )
            .filter(access::own_workspace_files(viewer))
            .filter(beneath(&from))
            .into_tuple::<Option<i32>>()
            .one(&txn)
            .await?
            .flatten();
        let longest = usize::try_from(longest.unwrap_or(0)).unwrap_or(usize::MAX);
        if longest.saturating_sub(from.chars()) + to.chars() > PATH_MAX {
            return Err(AppError::bad_input(format!(
                "moving there would make a path longer than {PATH_MAX} characters"
            )));
        }
    }
    if find_at(&txn, viewer, &to).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "{:?} already exists",
            to.as_str()
        )));
    }
    let now = db::now();
    ensure_parents(&txn, viewer, user, &to, source.project_id, now).await?;
    if source.is_directory {
        workspace_file::Entity::update_many()
            .col_expr(
                workspace_file::Column::Path,
                rebased(&to, workspace_file::Column::Path, from.chars()),
            )
            .col_expr(
                workspace_file::Column::ParentPath,
                rebased(&to, workspace_file::Column::ParentPath, from.chars()),
            )
            .col_expr(workspace_file::Column::UpdatedAt, Expr::val(now))
            .filter(access::own_workspace_files(viewer))
            .filter(beneath(&from))
            .exec(&txn)
            .await?;
    }
    let mut row: workspace_file::ActiveModel = source.into();
    row.path = Set(to.as_str().to_owned());
    row.name = Set(to.name().to_owned());
    row.parent_path = Set(to.parent().map(str::to_owned));
    row.updated_at = Set(now);
    let moved = row.update(&txn).await?;
    txn.commit().await?;
    Ok(moved)
}

/// Deletes a file or a directory; a directory with entries needs `recursive` (`CONFLICT`
/// otherwise). Returns how many entries were removed, the directory itself included.
pub async fn delete_entry(
    db: &DatabaseConnection,
    viewer: &Viewer,
    path: &str,
    recursive: bool,
) -> AppResult<u64> {
    access::require_own_scope(viewer)?;
    let path = WorkspacePath::parse(path)?;
    let txn = db::begin_write(db).await?;
    lock_workspace(&txn, viewer).await?;
    let entry = find_at(&txn, viewer, &path)
        .await?
        .ok_or_else(|| AppError::not_found("workspace file"))?;
    if entry.is_directory && !recursive {
        let child = workspace_file::Entity::find()
            .select_only()
            .column(workspace_file::Column::Id)
            .filter(access::own_workspace_files(viewer))
            .filter(workspace_file::Column::ParentPath.eq(path.as_str()))
            .into_tuple::<Uuid>()
            .one(&txn)
            .await?;
        if child.is_some() {
            return Err(AppError::Conflict(format!(
                "{:?} is not empty; delete it with recursive: true",
                path.as_str()
            )));
        }
    }
    let mut which = Condition::any().add(workspace_file::Column::Id.eq(entry.id));
    if entry.is_directory {
        which = which.add(beneath(&path));
    }
    let deleted = workspace_file::Entity::delete_many()
        .filter(access::own_workspace_files(viewer))
        .filter(which)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_split() {
        let p = WorkspacePath::parse("src/components/Button.tsx").expect("valid");
        assert_eq!(p.name(), "Button.tsx");
        assert_eq!(p.parent(), Some("src/components"));
        assert_eq!(
            p.ancestors()
                .iter()
                .map(WorkspacePath::as_str)
                .collect::<Vec<_>>(),
            vec!["src", "src/components"]
        );
        let dir = WorkspacePath::parse("src/").expect("a trailing slash is dropped");
        assert_eq!(dir.as_str(), "src");
        assert_eq!(dir.parent(), None);
        assert!(dir.ancestors().is_empty());
        let unicode = WorkspacePath::parse("docs/Ünïcødé file.md").expect("valid");
        assert_eq!(unicode.name(), "Ünïcødé file.md");
    }

    #[test]
    fn bad_paths_are_bad_input() {
        let long_segment = "x".repeat(SEGMENT_MAX + 1);
        let long_path = vec!["abcdefghi"; PATH_MAX / 10 + 1].join("/");
        for raw in [
            "",
            "/",
            "/src/a.ts",
            "src//a.ts",
            "src/./a.ts",
            "src/../a.ts",
            "..",
            ".",
            "src/a\u{0}b",
            "src/a\nb",
            "src//",
            long_segment.as_str(),
            long_path.as_str(),
        ] {
            let err = WorkspacePath::parse(raw).expect_err(raw);
            assert_eq!(err.code(), crate::error::ErrorCode::BadUserInput, "{raw:?}");
        }
        let exact = "y".repeat(SEGMENT_MAX);
        assert!(WorkspacePath::parse(&exact).is_ok());
    }

    #[test]
    fn within_means_the_path_or_beneath_it() {
        let a = WorkspacePath::parse("a/b").expect("valid");
        let parse = |s: &str| WorkspacePath::parse(s).expect("valid");
        assert!(parse("a/b").is_within(&a));
        assert!(parse("a/b/c").is_within(&a));
        assert!(!parse("a/bc").is_within(&a));
        assert!(!parse("a").is_within(&a));
    }
}
