//! Conversations and their messages. A message write moves its conversation's counters
//! and its projects' `updatedAt` in the same transaction; appends take the next
//! sequence under a lock on the conversation so concurrent sends never collide.

use entity::enums::{ConversationStatus, MessageRole};
use entity::{conversation, message, project, project_conversation};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, IdenStatic, Iterable, JoinType, QueryFilter, QuerySelect, QueryTrait,
    RelationTrait,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::domain::patch::{self, find_checked, Checked, UnrequiredField, UnrequiredNullableField};
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::realtime::{self, Event};
use crate::validate;
use crate::validate::empty_object;

impl Keyed for conversation::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

impl Keyed for message::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, async_graphql::Enum)]
pub enum ConversationOrder {
    #[default]
    UpdatedAtDesc,
    UpdatedAtAsc,
    CreatedAtDesc,
    CreatedAtAsc,
    LastMessageAtDesc,
}

fn column(c: conversation::Column) -> Expr {
    Expr::col((conversation::Entity, c))
}

/// Sorts before every real timestamp, so chats without messages come last.
fn no_message_yet() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .expect("year 1 is a valid timestamp")
}

impl ConversationOrder {
    pub fn sort(self) -> Sort {
        let id = column(conversation::Column::Id);
        match self {
            ConversationOrder::UpdatedAtDesc => Sort::new("chat:updated_desc", id).then(
                column(conversation::Column::UpdatedAt),
                true,
                KeyKind::Timestamp,
            ),
            ConversationOrder::UpdatedAtAsc => Sort::new("chat:updated_asc", id).then(
                column(conversation::Column::UpdatedAt),
                false,
                KeyKind::Timestamp,
            ),
            ConversationOrder::CreatedAtDesc => Sort::new("chat:created_desc", id).then(
                column(conversation::Column::CreatedAt),
                true,
                KeyKind::Timestamp,
            ),
            ConversationOrder::CreatedAtAsc => Sort::new("chat:created_asc", id).then(
                column(conversation::Column::CreatedAt),
                false,
                KeyKind::Timestamp,
            ),
            ConversationOrder::LastMessageAtDesc => Sort::new("chat:last_message_desc", id).then(
                Func::coalesce([
                    column(conversation::Column::LastMessageAt),
                    Expr::val(no_message_yet()),
                ])
                .into(),
                true,
                KeyKind::Timestamp,
            ),
        }
    }
}

/// Messages: oldest first, by sequence.
pub fn message_sort() -> Sort {
    Sort::new(
        "message:sequence",
        Expr::col((message::Entity, message::Column::Id)),
    )
    .then(
        Expr::col((message::Entity, message::Column::Sequence)),
        false,
        KeyKind::Integer,
    )
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub pinned: Option<bool>,
    pub project_id: Option<Uuid>,
    pub title_contains: Option<String>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// The select behind `viewer.conversations`: the viewer's own chats.
/// `backend` decides how `titleContains` ignores case ([`db::contains_ignoring_case`]).
pub fn viewer_conversations_query(
    viewer: &Viewer,
    filter: &ConversationFilter,
    backend: sea_orm::DbBackend,
) -> SelectStatement {
    let mut cond = Condition::all().add(access::own_conversations(viewer));
    if let Some(status) = filter.status {
        cond = cond.add(conversation::Column::Status.eq(status));
    }
    if let Some(pinned) = filter.pinned {
        cond = cond.add(conversation::Column::Pinned.eq(pinned));
    }
    if let Some(needle) = &filter.title_contains {
        cond = cond.add(db::contains_ignoring_case(
            backend,
            column(conversation::Column::Title),
            needle,
        ));
    }
    if let Some(after) = filter.updated_after {
        cond = cond.add(conversation::Column::UpdatedAt.gt(after));
    }
    if let Some(project_id) = filter.project_id {
        cond = cond.add(
            column(conversation::Column::Id).in_subquery(
                Query::select()
                    .column((
                        project_conversation::Entity,
                        project_conversation::Column::ConversationId,
                    ))
                    .from(project_conversation::Entity)
                    .and_where(
                        Expr::col((
                            project_conversation::Entity,
                            project_conversation::Column::ProjectId,
                        ))
                        .eq(project_id),
                    )
                    .and_where(
                        Expr::col((
                            project_conversation::Entity,
                            project_conversation::Column::ProjectId,
                        ))
                        .in_subquery(
                            crate::domain::projects::readable_projects_query(viewer)
                                .clear_selects()
                                .column((project::Entity, project::Column::Id))
                                .to_owned(),
                        ),
                    )
                    .to_owned(),
            ),
        );
    }
    conversation::Entity::find().filter(cond).into_query()
}

/// Readable chats joined to their project links; the parent expression is the project id.
pub fn project_chats_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    let select = conversation::Entity::find()
        .join(
            JoinType::InnerJoin,
            project_conversation::Relation::Conversation.def().rev(),
        )
        .filter(access::readable_conversations(viewer))
        .into_query();
    (
        select,
        Expr::col((
            project_conversation::Entity,
            project_conversation::Column::ProjectId,
        )),
    )
}

/// Readable chats; the key expression is the chat's id.
pub fn readable_conversations_query(viewer: &Viewer) -> (SelectStatement, Expr) {
    (
        conversation::Entity::find()
            .filter(access::readable_conversations(viewer))
            .into_query(),
        column(conversation::Column::Id),
    )
}

/// The message columns a read may leave unread when nothing shows them: the text and the
/// JSON, most of a message's size and of the work of decoding it. The default reads none
/// of them. An unread column holds a placeholder in the model (empty content, JSON null,
/// no feedback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MessageColumns {
    pub content: bool,
    pub metadata: bool,
    pub feedback: bool,
}

impl MessageColumns {
    pub const ALL: MessageColumns = MessageColumns {
        content: true,
        metadata: true,
        feedback: true,
    };

    /// The columns either `self` or `other` reads.
    pub fn and(self, other: MessageColumns) -> MessageColumns {
        MessageColumns {
            content: self.content || other.content,
            metadata: self.metadata || other.metadata,
            feedback: self.feedback || other.feedback,
        }
    }

    /// Whether `column` is read: every column that is not optional is.
    fn reads(self, column: message::Column) -> bool {
        match column {
            message::Column::Content => self.content,
            message::Column::Metadata => self.metadata,
            message::Column::Feedback => self.feedback,
            _ => true,
        }
    }
}

/// Readable messages with `columns` read (the others as placeholders); the parent
/// expression is the conversation id.
pub fn readable_messages_query(
    viewer: &Viewer,
    columns: MessageColumns,
) -> (SelectStatement, Expr) {
    let mut select = message::Entity::find();
    if columns != MessageColumns::ALL {
        select = select
            .select_only()
            .columns(message::Column::iter().filter(|c| columns.reads(*c)));
        if !columns.content {
            select = select.column_as(Expr::val(""), message::Column::Content.as_str());
        }
        if !columns.metadata {
            select = select.column_as(
                Expr::val(serde_json::Value::Null),
                message::Column::Metadata.as_str(),
            );
        }
        if !columns.feedback {
            select = select.column_as(
                Expr::val(Option::<serde_json::Value>::None),
                message::Column::Feedback.as_str(),
            );
        }
    }
    (
        select
            .filter(access::readable_messages(viewer))
            .into_query(),
        Expr::col((message::Entity, message::Column::ConversationId)),
    )
}

pub async fn find_readable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<conversation::Model>> {
    Ok(conversation::Entity::find_by_id(id)
        .filter(access::readable_conversations(viewer))
        .one(db)
        .await?)
}

const EDIT_REFUSAL: &str = "only the conversation's owner may change it";
const MESSAGE_EDIT_REFUSAL: &str = "only the conversation's owner may change its messages";

/// The conversation (readable) and whether the viewer may change it, in one statement;
/// with `lock`, its row locked for the rest of the transaction (see `lock_conversation`).
async fn find_checked_conversation(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
    lock: bool,
) -> AppResult<(conversation::Model, bool)> {
    let Checked {
        row,
        holds: [editable],
    } = find_checked::<conversation::Entity, 1>(
        db,
        id,
        access::readable_conversations(viewer),
        [access::editable_conversations(viewer)],
        lock,
    )
    .await?
    .ok_or_else(|| AppError::not_found("conversation"))?;
    Ok((row, editable))
}

/// The conversation if readable (`NOT_FOUND` otherwise) and editable (`FORBIDDEN`).
pub async fn find_editable(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<conversation::Model> {
    let (found, editable) = find_checked_conversation(db, viewer, id, false).await?;
    if !editable {
        return Err(AppError::Forbidden(EDIT_REFUSAL.to_owned()));
    }
    Ok(found)
}

/// As [`find_editable`], and the row locked for the rest of the transaction in the same
/// statement (Postgres; SQLite's IMMEDIATE write transaction already holds the write
/// lock). A row that is readable but not editable is locked too until the refusal rolls
/// the transaction back.
async fn find_editable_locked(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<conversation::Model> {
    let (found, editable) = find_checked_conversation(db, viewer, id, true).await?;
    if !editable {
        return Err(AppError::Forbidden(EDIT_REFUSAL.to_owned()));
    }
    Ok(found)
}

/// Locks the conversation row for the rest of the transaction (Postgres); on SQLite the
/// IMMEDIATE transaction already holds the write lock.
async fn lock_conversation(db: &impl ConnectionTrait, id: Uuid) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        conversation::Entity::find_by_id(id)
            .select_only()
            .column(conversation::Column::Id)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .one(db)
            .await?;
    }
    Ok(())
}

pub async fn find_message(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Option<message::Model>> {
    Ok(message::Entity::find_by_id(id)
        .filter(access::readable_messages(viewer))
        .one(db)
        .await?)
}

const TITLE_MAX: usize = 500;
const CONTENT_MAX: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: MessageRole,
    pub content: String,
    pub metadata: Option<serde_json::Value>,
    pub token_count: Option<i32>,
    pub audio_url: Option<String>,
}

fn check_message(m: &NewMessage) -> AppResult<()> {
    validate::text_len("content", &m.content, CONTENT_MAX)?;
    if m.token_count.is_some_and(|t| t < 0) {
        return Err(AppError::bad_input("tokenCount must not be negative"));
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct NewConversation {
    pub title: Option<String>,
    pub model: Option<String>,
    pub encrypted: bool,
    pub metadata: Option<serde_json::Value>,
    pub project_id: Option<Uuid>,
    pub first_message: Option<NewMessage>,
}

/// Creates a conversation, files it and adds its first message, all or nothing.
pub async fn create_conversation(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: NewConversation,
) -> AppResult<conversation::Model> {
    let owner = access::require_user(viewer)?;
    let txn = db::begin_write(db).await?;
    if let Some(project_id) = input.project_id {
        let project = crate::domain::projects::find_editable(&txn, viewer, project_id).await?;
        crate::domain::projects::reject_deleted(&project)?;
    }
    if let Some(t) = &input.title {
        validate::text_len("title", t, TITLE_MAX)?;
    }
    if let Some(m) = &input.first_message {
        check_message(m)?;
    }
    let now = db::now();
    let id = Uuid::new_v4();
    conversation::ActiveModel {
        id: Set(id),
        owner_id: Set(owner),
        title: Set(input.title),
        model: Set(input.model),
        status: Set(ConversationStatus::Active),
        pinned: Set(false),
        encrypted: Set(input.encrypted),
        metadata: Set(input.metadata.unwrap_or_else(empty_object)),
        message_count: Set(0),
        total_tokens: Set(0),
        last_message_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    if let Some(project_id) = input.project_id {
        crate::domain::projects::file_chat(&txn, project_id, id).await?;
    }
    let mut events = vec![Event::conversation(id)];
    if let Some(first) = input.first_message {
        let message = insert_message(&txn, id, 1, first, now).await?;
        refresh_counters(&txn, id, now).await?;
        events.push(Event::message(message.id));
    }
    let created = conversation::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Internal("conversation vanished in its transaction".into()))?;
    realtime::commit(txn, &events).await?;
    Ok(created)
}

/// Changes to a conversation: absent fields stay, a null title or model clears it.
#[derive(Debug, Default)]
pub struct ConversationPatch {
    pub title: UnrequiredNullableField<String>,
    pub model: UnrequiredNullableField<String>,
    pub status: UnrequiredField<ConversationStatus>,
    pub pinned: UnrequiredField<bool>,
    pub metadata: UnrequiredField<serde_json::Value>,
}

/// Applies `patch` to a conversation the viewer may change: one read (readable, with
/// whether editable holds), then the input, then one write scoped by
/// `editable_conversations`.
pub async fn update_conversation(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: AppResult<ConversationPatch>,
) -> AppResult<conversation::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_editable(&txn, viewer, id).await?;
    let patch = patch?;
    if let Some(t) = patch.title.value() {
        validate::text_len("title", t, TITLE_MAX)?;
    }
    let mut row: conversation::ActiveModel = current.into();
    patch.title.apply(&mut row.title);
    patch.model.apply(&mut row.model);
    patch.status.apply(&mut row.status);
    patch.pinned.apply(&mut row.pinned);
    patch.metadata.apply(&mut row.metadata);
    row.updated_at = Set(db::now());
    let updated = patch::write(&txn, row, access::editable_conversations(viewer), || {
        AppError::Forbidden(EDIT_REFUSAL.to_owned())
    })
    .await?;
    realtime::commit(txn, &[Event::conversation(id)]).await?;
    Ok(updated)
}

pub async fn delete_conversation(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    find_editable(&txn, viewer, id).await?;
    lock_conversation(&txn, id).await?;
    // Who could read it, captured before its links to team projects go with it.
    let readers = access::conversation_readers(&txn, id).await?;
    conversation::Entity::delete_many()
        .filter(conversation::Column::Id.eq(id))
        .filter(access::editable_conversations(viewer))
        .exec(&txn)
        .await?;
    realtime::commit(txn, &[Event::conversation_deleted(id, &readers)]).await?;
    Ok(id)
}

async fn insert_message(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    sequence: i32,
    input: NewMessage,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<message::Model> {
    Ok(message::ActiveModel {
        id: Set(Uuid::new_v4()),
        conversation_id: Set(conversation_id),
        sequence: Set(sequence),
        role: Set(input.role),
        content: Set(input.content),
        metadata: Set(input.metadata.unwrap_or_else(empty_object)),
        token_count: Set(input.token_count),
        feedback: Set(None),
        audio_url: Set(input.audio_url),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Inserts the message at the conversation's highest sequence + 1 (1 for the first), in
/// one statement; `None` when the highest sequence is already `i32::MAX`. The caller holds
/// the conversation's lock, so no other append reads the same highest sequence.
async fn append_message(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    input: NewMessage,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<Option<message::Model>> {
    use sea_orm::{ActiveEnum, FromQueryResult};
    let highest = || {
        Expr::expr(Func::coalesce([
            Func::max(Expr::col((message::Entity, message::Column::Sequence))).into(),
            Expr::val(0i32),
        ]))
    };
    let row = Query::select()
        .expr(Expr::val(Uuid::new_v4()))
        .expr(Expr::val(conversation_id))
        .expr(highest().add(1i32))
        .expr(Expr::val(input.role.to_value()))
        .expr(Expr::val(input.content))
        .expr(Expr::val(input.metadata.unwrap_or_else(empty_object)))
        .expr(Expr::val(input.token_count))
        .expr(Expr::val(input.audio_url))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .from(message::Entity)
        .and_where(
            Expr::col((message::Entity, message::Column::ConversationId)).eq(conversation_id),
        )
        .and_having(highest().lt(i32::MAX))
        .to_owned();
    let insert = Query::insert()
        .into_table(message::Entity)
        .columns([
            message::Column::Id,
            message::Column::ConversationId,
            message::Column::Sequence,
            message::Column::Role,
            message::Column::Content,
            message::Column::Metadata,
            message::Column::TokenCount,
            message::Column::AudioUrl,
            message::Column::CreatedAt,
            message::Column::UpdatedAt,
        ])
        .select_from(row)
        .map_err(|e| AppError::Internal(e.to_string()))?
        .returning_all()
        .to_owned();
    match db.query_one(&insert).await? {
        Some(row) => Ok(Some(message::Model::from_query_result(&row, "")?)),
        None => Ok(None),
    }
}

/// Recomputes a conversation's counters from its messages and bumps its `updatedAt`,
/// then the `updatedAt` of every project holding it.
async fn refresh_counters(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let of_conversation = |select: &mut SelectStatement| {
        select
            .from(message::Entity)
            .and_where(Expr::col((message::Entity, message::Column::ConversationId)).eq(id))
            .to_owned()
    };
    let count = of_conversation(Query::select().expr(Func::count(Expr::col((
        message::Entity,
        message::Column::Id,
    )))));
    let tokens = of_conversation(Query::select().expr(Func::coalesce([
        Func::sum(Expr::col((message::Entity, message::Column::TokenCount))).into(),
        Expr::val(0i64),
    ])));
    let last = of_conversation(Query::select().expr(Func::max(Expr::col((
        message::Entity,
        message::Column::CreatedAt,
    )))));
    let update = Query::update()
        .table(conversation::Entity)
        .value(
            conversation::Column::MessageCount,
            Expr::SubQuery(None, Box::new(count.into())),
        )
        .value(
            conversation::Column::TotalTokens,
            Expr::SubQuery(None, Box::new(tokens.into())),
        )
        .value(
            conversation::Column::LastMessageAt,
            Expr::SubQuery(None, Box::new(last.into())),
        )
        .value(conversation::Column::UpdatedAt, now)
        .and_where(Expr::col((conversation::Entity, conversation::Column::Id)).eq(id))
        .to_owned();
    db.execute(&update).await?;
    let touch = Query::update()
        .table(project::Entity)
        .value(project::Column::UpdatedAt, now)
        .and_where(
            Expr::col((project::Entity, project::Column::Id)).in_subquery(
                Query::select()
                    .column(project_conversation::Column::ProjectId)
                    .from(project_conversation::Entity)
                    .and_where(Expr::col(project_conversation::Column::ConversationId).eq(id))
                    .to_owned(),
            ),
        )
        .to_owned();
    db.execute(&touch).await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SendMessage {
    pub conversation_id: Uuid,
    pub message: NewMessage,
    pub sequence: Option<i32>,
}

/// Appends at the next sequence, or upserts at the given one (keeping the message's id).
pub async fn send_message(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: SendMessage,
) -> AppResult<message::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    find_editable_locked(&txn, viewer, input.conversation_id).await?;
    if input.sequence.is_some_and(|s| s < 1) {
        return Err(AppError::bad_input("sequence must be at least 1"));
    }
    check_message(&input.message)?;
    let now = db::now();
    let saved = match input.sequence {
        None => append_message(&txn, input.conversation_id, input.message, now)
            .await?
            .ok_or_else(|| {
                AppError::Conflict("the conversation has no sequence left".to_owned())
            })?,
        Some(sequence) => {
            let existing = message::Entity::find()
                .filter(message::Column::ConversationId.eq(input.conversation_id))
                .filter(message::Column::Sequence.eq(sequence))
                .one(&txn)
                .await?;
            match existing {
                None => {
                    insert_message(&txn, input.conversation_id, sequence, input.message, now)
                        .await?
                }
                Some(found) => {
                    let mut row: message::ActiveModel = found.into();
                    row.role = Set(input.message.role);
                    row.content = Set(input.message.content);
                    row.metadata = Set(input.message.metadata.unwrap_or_else(empty_object));
                    row.token_count = Set(input.message.token_count);
                    row.audio_url = Set(input.message.audio_url);
                    row.updated_at = Set(now);
                    row.update(&txn).await?
                }
            }
        }
    };
    refresh_counters(&txn, input.conversation_id, now).await?;
    realtime::commit(
        txn,
        &[
            Event::message(saved.id),
            Event::conversation(input.conversation_id),
        ],
    )
    .await?;
    Ok(saved)
}

/// Changes to a message: absent fields stay, a null feedback clears it.
#[derive(Debug, Default)]
pub struct MessagePatch {
    pub content: UnrequiredField<String>,
    pub metadata: UnrequiredField<serde_json::Value>,
    pub feedback: UnrequiredNullableField<serde_json::Value>,
}

/// The message (readable) and whether the viewer may change it, in one statement.
async fn find_checked_message(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<(message::Model, bool)> {
    let Checked {
        row,
        holds: [editable],
    } = find_checked::<message::Entity, 1>(
        db,
        id,
        access::readable_messages(viewer),
        [access::editable_messages(viewer)],
        false,
    )
    .await?
    .ok_or_else(|| AppError::not_found("message"))?;
    Ok((row, editable))
}

/// The message if readable (`NOT_FOUND` otherwise) and editable (`FORBIDDEN`).
async fn find_editable_message(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> AppResult<message::Model> {
    let (found, editable) = find_checked_message(db, viewer, id).await?;
    if !editable {
        return Err(AppError::Forbidden(MESSAGE_EDIT_REFUSAL.to_owned()));
    }
    Ok(found)
}

/// Applies `patch` to a message the viewer may change: one read (readable, with whether
/// editable holds), then one write scoped by `editable_messages`. A message answers the
/// input's shape (a refused null) between visibility and permission, as it always has.
pub async fn update_message(
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: AppResult<MessagePatch>,
) -> AppResult<message::Model> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let (current, editable) = find_checked_message(&txn, viewer, id).await?;
    let patch = patch?;
    if !editable {
        return Err(AppError::Forbidden(MESSAGE_EDIT_REFUSAL.to_owned()));
    }
    if let Some(c) = patch.content.value() {
        validate::text_len("content", c, CONTENT_MAX)?;
    }
    let mut row: message::ActiveModel = current.into();
    patch.content.apply(&mut row.content);
    patch.metadata.apply(&mut row.metadata);
    patch.feedback.apply(&mut row.feedback);
    row.updated_at = Set(db::now());
    let updated = patch::write(&txn, row, access::editable_messages(viewer), || {
        AppError::Forbidden(MESSAGE_EDIT_REFUSAL.to_owned())
    })
    .await?;
    realtime::commit(txn, &[Event::message(id)]).await?;
    Ok(updated)
}

pub async fn delete_message(db: &DatabaseConnection, viewer: &Viewer, id: Uuid) -> AppResult<Uuid> {
    access::require_signed_in(viewer)?;
    let txn = db::begin_write(db).await?;
    let current = find_editable_message(&txn, viewer, id).await?;
    lock_conversation(&txn, current.conversation_id).await?;
    let readers = access::conversation_readers(&txn, current.conversation_id).await?;
    message::Entity::delete_by_id(id).exec(&txn).await?;
    refresh_counters(&txn, current.conversation_id, db::now()).await?;
    realtime::commit(
        txn,
        &[
            Event::message_deleted(id, current.conversation_id, &readers),
            Event::conversation(current.conversation_id),
        ],
    )
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::SqliteQueryBuilder;

    use super::*;

    #[test]
    fn message_reads_leave_unasked_columns_unread() {
        let viewer = Viewer::Service;
        let sql = |columns| {
            readable_messages_query(&viewer, columns)
                .0
                .to_string(SqliteQueryBuilder)
        };
        let all = sql(MessageColumns::ALL);
        for column in ["content", "metadata", "feedback", "sequence"] {
            assert!(all.contains(&format!(r#""messages"."{column}""#)), "{all}");
        }
        let bare = sql(MessageColumns::default());
        for column in ["content", "metadata", "feedback"] {
            assert!(
                !bare.contains(&format!(r#""messages"."{column}""#)),
                "{bare}"
            );
            assert!(bare.contains(&format!(r#"AS "{column}""#)), "{bare}");
        }
        assert!(bare.contains(r#""messages"."sequence""#), "{bare}");
        let text = sql(MessageColumns {
            content: true,
            ..MessageColumns::default()
        });
        assert!(text.contains(r#""messages"."content""#), "{text}");
        assert!(!text.contains(r#""messages"."metadata""#), "{text}");
    }
}
