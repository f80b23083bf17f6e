//! [files]: one row per stored object (project files, avatars, chat attachments), whose
//! bytes live in the object store under `{bucket}/{id}` (see `confab::storage`). A row
//! cascades from its uploader's profile, its project and its conversation, so deleting any
//! of them removes the rows in the same transaction; the gateway removes the objects after
//! the commit, and its sweep removes objects that no row names.
//!
//! On Postgres, RLS says the same as the gateway: rows of readable projects and
//! conversations, and avatars, are readable; a user writes only rows they uploaded.

use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support::{self as rls, Policy};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["stored_files"];

const POLICIES: &[Policy] = &[
    (
        "stored_files",
        "stored_files_read",
        "SELECT",
        Some(
            "bucket = 'avatars' OR project_id IN (SELECT id FROM projects) \
             OR conversation_id IN (SELECT id FROM conversations)",
        ),
        None,
    ),
    (
        "stored_files",
        "stored_files_insert_own",
        "INSERT",
        None,
        Some("owner_id = auth.uid()"),
    ),
    (
        "stored_files",
        "stored_files_delete",
        "DELETE",
        Some(
            "owner_id = auth.uid() OR project_id IN (SELECT id FROM projects) \
             OR conversation_id IN (SELECT id FROM conversations WHERE owner_id = auth.uid())",
        ),
        None,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("stored_files")
                    .col(uuid("id").primary_key())
                    .col(string("bucket"))
                    .col(uuid("owner_id"))
                    .col(uuid_null("project_id"))
                    .col(uuid_null("conversation_id"))
                    .col(text("file_name"))
                    .col(string("mime_type"))
                    .col(big_integer("size_bytes"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("stored_files_owner_fk")
                            .from("stored_files", "owner_id")
                            .to("profiles", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("stored_files_project_fk")
                            .from("stored_files", "project_id")
                            .to("projects", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("stored_files_conversation_fk")
                            .from("stored_files", "conversation_id")
                            .to("conversations", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "stored_files_project_idx",
                &["project_id", "created_at", "id"][..],
            ),
            (
                "stored_files_conversation_idx",
                &["conversation_id", "created_at", "id"][..],
            ),
            ("stored_files_owner_idx", &["owner_id", "bucket"][..]),
        ] {
            let mut index = Index::create().name(name).table("stored_files").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }
        rls::enable_policies(manager, TABLES, POLICIES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rls::disable_policies(manager, TABLES, POLICIES).await?;
        manager
            .drop_table(Table::drop().table("stored_files").to_owned())
            .await
    }
}
