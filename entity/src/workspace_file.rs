use sea_orm::entity::prelude::*;

/// A file or directory in a user's workspace tree, addressed by its path.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workspace_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    pub path: String,
    pub name: String,
    pub parent_path: Option<String>,
    pub is_directory: bool,
    pub mime_type: Option<String>,
    pub size_bytes: i64,
    pub content: Option<String>,
    pub metadata: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
