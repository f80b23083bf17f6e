use sea_orm::entity::prelude::*;

use crate::enums::TaskStatus;

/// An AI agent task of one user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: TaskStatus,
    pub progress: i32,
    pub prompt: String,
    pub repo_url: Option<String>,
    pub selected_agent: String,
    pub selected_model: Option<String>,
    pub sandbox_url: Option<String>,
    pub branch_name: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
