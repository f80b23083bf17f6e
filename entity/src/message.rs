use sea_orm::entity::prelude::*;

use crate::enums::MessageRole;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub sequence: i32,
    pub role: MessageRole,
    pub content: String,
    pub metadata: Json,
    pub token_count: Option<i32>,
    pub feedback: Option<Json>,
    pub audio_url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
