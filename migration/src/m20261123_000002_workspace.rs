//! [workspace]: each user's tree of files and directories, one row per path, unique per
//! user (`(user_id, path)`), so a race for a path can never leave two rows. Rows cascade
//! from the user's profile (deleting the account removes them).
//!
//! `project_id` is only a label that narrows listings, and it is `ON DELETE SET NULL`:
//! deleting a project must not delete part of a user's tree (a labelled directory may hold
//! unlabelled files, so a cascade could leave entries whose parent is gone), and the files
//! are the user's, not the project's. On Postgres, RLS says the same as the gateway: a
//! user's own entries, labelled only with projects the user can read.

use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support::{self as rls, Policy};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["workspace_files"];

const POLICIES: &[Policy] = &[(
    "workspace_files",
    "workspace_files_own",
    "ALL",
    Some("user_id = auth.uid()"),
    Some(
        "user_id = auth.uid() AND (project_id IS NULL OR project_id IN (SELECT id FROM projects))",
    ),
)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("workspace_files")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(uuid_null("project_id"))
                    .col(text("path"))
                    .col(text("name"))
                    .col(text_null("parent_path"))
                    .col(boolean("is_directory"))
                    .col(string_null("mime_type"))
                    .col(big_integer("size_bytes").default(0))
                    .col(text_null("content"))
                    .col(json_binary("metadata"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("workspace_files_user_fk")
                            .from("workspace_files", "user_id")
                            .to("profiles", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("workspace_files_project_fk")
                            .from("workspace_files", "project_id")
                            .to("projects", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("workspace_files_user_path_key")
                    .table("workspace_files")
                    .col("user_id")
                    .col("path")
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "workspace_files_user_parent_idx",
                &["user_id", "parent_path"][..],
            ),
            ("workspace_files_project_idx", &["project_id"][..]),
        ] {
            let mut index = Index::create()
                .name(name)
                .table("workspace_files")
                .to_owned();
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
            .drop_table(Table::drop().table("workspace_files").to_owned())
            .await
    }
}
