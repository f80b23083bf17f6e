//! Journal entries: newest first, with a mood and tags. Tags are a JSON array column;
//! the tag filter is a containment test on Postgres (`tags @> '["x"]'`) and a
//! `json_each` lookup on SQLite.

use chrono::{DateTime, Utc};
use entity::journal_entry;
use sea_orm::sea_query::{
    extension::postgres::PgBinOper, Condition, Expr, ExprTrait, SelectStatement,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, QueryFilter, QueryTrait,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::domain::patch::{self, UnrequiredField, UnrequiredNullableField};
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::validate;

impl Keyed for journal_entry::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const TITLE_MAX: usize = 500;
const CONTENT_MAX: usize = 100_000;
const MOOD_MAX: usize = 50;
const TAG_MAX: usize = 50;
const TAGS_MAX: usize = 50;

/// Journal entries: newest first.
pub fn journal_sort() -> Sort {
    Sort::new(
        "journal:created_desc",
        Expr::col((journal_entry::Entity, journal_entry::Column::Id)),
    )
    .then(
        Expr::col((journal_entry::Entity, journal_entry::Column::CreatedAt)),
        true,
        KeyKind::Timestamp,
    )
}

#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub tag: Option<String>,
    pub mood: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// Entries whose tags include `tag`.
fn has_tag(backend: DbBackend, tag: &str) -> Condition {
    let tags = Expr::col((journal_entry::Entity, journal_entry::Column::Tags));
    let expr = match backend {
        DbBackend::Postgres => {
            tags.binary(PgBinOper::Contains, Expr::val(serde_json::json!([tag])))
        }
        _ => Expr::cust_with_values(
            r#"EXISTS (SELECT 1 FROM json_each("journal_entries"."tags") WHERE json_each.value = ?)"#,
            [tag.to_owned()],
        ),
    };
    Condition::all().add(expr)
}

/// The select behind `viewer.journalEntries`.
pub fn viewer_journal_query(
    viewer: &Viewer,
    filter: &JournalFilter,
    backend: DbBackend,
) -> SelectStatement {
    let mut cond = Condition::all().add(access::readable_journal_entries(viewer));
    if let Some(tag) = &filter.tag {
        cond = cond.add(has_tag(backend, tag));
    }
    if let Some(mood) = &filter.mood {
        cond = cond.add(journal_entry::Column::Mood.eq(mood.clone()));
    }
    if let Some(after) = filter.created_after {
        cond = cond.add(journal_entry::Column::CreatedAt.gt(after));
    }
    if let Some(before) = filter.created_before {
        cond = cond.add(journal_entry::Column::CreatedAt.lt(before));
    }
    journal_entry::Entity::find().filter(cond).into_query()
}

/// A journal entry the viewer may read, or `None`.
pub async fn find_entry(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<journal_entry::Model>> {
    Ok(journal_entry::Entity::find_by_id(id)
        .filter(access::readable_journal_entries(viewer))
        .one(db)
        .await?)
}

/// An entry the viewer may change (the readable ones are exactly those), else `NOT_FOUND`.
pub async fn find_editable_entry(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<journal_entry::Model> {
    find_entry(db, viewer, id)
        .await?
        .ok_or_else(|| AppError::not_found("journal entry"))
}

/// The tags of a stored entry (a JSON array of strings; anything else reads as none).
pub fn tags_of(entry: &journal_entry::Model) -> Vec<String> {
    entry
        .tags
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Trimmed, non-empty, short tags without repeats, in the order given.
fn clean_tags(tags: Vec<String>) -> AppResult<serde_json::Value> {
    if tags.len() > TAGS_MAX {
        return Err(AppError::bad_input(format!(
            "an entry has at most {TAGS_MAX} tags"
        )));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = validate::required_text("tag", &tag, TAG_MAX)?;
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(serde_json::Value::from(clean))
}

fn check_content(content: &str) -> AppResult<()> {
    if content.trim().is_empty() {
        return Err(AppError::bad_input("content must not be empty"));
    }
    validate::text_len("content", content, CONTENT_MAX)
}

#[derive(Debug, Clone, Default)]
pub struct NewJournalEntry {
    pub title: Option<String>,
    pub content: String,
    pub mood: Option<String>,
    pub tags: Option<Vec<String>>,
    pub is_private: bool,
}

pub async fn create_entry(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: NewJournalEntry,
) -> AppResult<journal_entry::Model> {
    let owner = access::require_user(viewer)?;
    validate::optional_text("title", input.title.as_ref(), TITLE_MAX)?;
    check_content(&input.content)?;
    validate::optional_text("mood", input.mood.as_ref(), MOOD_MAX)?;
    let tags = clean_tags(input.tags.unwrap_or_default())?;
    let now = db::now();
    let txn = db::begin_write(db).await?;
    let created = journal_entry::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(owner),
        title: Set(input.title),
        content: Set(input.content),
        mood: Set(input.mood),
        tags: Set(tags),
        is_private: Set(input.is_private),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Changes to an entry: absent fields stay, a null title or mood clears it.
#[derive(Debug, Clone, Default)]
pub struct JournalPatch {
    pub title: UnrequiredNullableField<String>,
    pub content: UnrequiredField<String>,
    pub mood: UnrequiredNullableField<String>,
    pub tags: UnrequiredField<Vec<String>>,
    pub is_private: UnrequiredField<bool>,
}

/// Applies `patch` to an entry of the viewer: one read, then the input, then one write
/// scoped by `editable_journal_entries`.
pub async fn update_entry(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: AppResult<JournalPatch>,
) -> AppResult<journal_entry::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_editable_entry(&txn, viewer, id).await?;
    let patch = patch?;
    validate::optional_text("title", patch.title.value(), TITLE_MAX)?;
    if let Some(c) = patch.content.value() {
        check_content(c)?;
    }
    validate::optional_text("mood", patch.mood.value(), MOOD_MAX)?;
    let tags = patch.tags.try_map(clean_tags)?;
    let mut row: journal_entry::ActiveModel = current.into();
    patch.title.apply(&mut row.title);
    patch.content.apply(&mut row.content);
    patch.mood.apply(&mut row.mood);
    tags.apply(&mut row.tags);
    patch.is_private.apply(&mut row.is_private);
    row.updated_at = Set(db::now());
    let updated = patch::write(&txn, row, access::editable_journal_entries(viewer), || {
        AppError::not_found("journal entry")
    })
    .await?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn delete_entry(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    find_editable_entry(&txn, viewer, id).await?;
    journal_entry::Entity::delete_many()
        .filter(journal_entry::Column::Id.eq(id))
        .filter(access::editable_journal_entries(viewer))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(id)
}
