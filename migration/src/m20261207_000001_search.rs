//! [search]: the full-text index over message content (see `search_index`), built with
//! the default configuration; the gateway rebuilds it at start for another one. Existing
//! messages are indexed here.

use sea_orm_migration::prelude::*;

use crate::search_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        search_index::create(manager.get_connection(), search_index::DEFAULT_CONFIG).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        search_index::drop(manager.get_connection()).await
    }
}
