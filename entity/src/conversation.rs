use sea_orm::entity::prelude::*;

use crate::enums::ConversationStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: Option<String>,
    pub model: Option<String>,
    pub status: ConversationStatus,
    pub pinned: bool,
    pub encrypted: bool,
    pub metadata: Json,
    pub message_count: i32,
    pub total_tokens: i64,
    pub last_message_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
