//! [tasks]: AI agent tasks and their log lines. A task cascades from its user's profile
//! (deleting the account removes it) and its log lines from the task. Log lines are rows
//! of their own, numbered per task, so concurrent appends never overwrite each other.
//! On Postgres, RLS says the same as the gateway: a user's own tasks and their lines.

use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support::{self as rls, Policy};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["tasks", "task_logs"];

const POLICIES: &[Policy] = &[
    (
        "tasks",
        "tasks_own",
        "ALL",
        Some("user_id = auth.uid()"),
        Some("user_id = auth.uid()"),
    ),
    (
        "task_logs",
        "task_logs_own_tasks",
        "ALL",
        Some("task_id IN (SELECT id FROM tasks WHERE user_id = auth.uid())"),
        Some("task_id IN (SELECT id FROM tasks WHERE user_id = auth.uid())"),
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tasks")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(string_len("status", 16).default("pending"))
                    .col(
                        integer("progress")
                            .default(0)
                            .check(Expr::col("progress").between(0, 100)),
                    )
                    .col(text("prompt"))
                    .col(text_null("repo_url"))
                    .col(string("selected_agent").default("claude"))
                    .col(string_null("selected_model"))
                    .col(text_null("sandbox_url"))
                    .col(string_null("branch_name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("tasks_user_fk")
                            .from("tasks", "user_id")
                            .to("profiles", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("tasks_user_created_idx", &["user_id", "created_at"][..]),
            ("tasks_user_updated_idx", &["user_id", "updated_at"][..]),
            ("tasks_user_status_idx", &["user_id", "status"][..]),
        ] {
            let mut index = Index::create().name(name).table("tasks").to_owned();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("task_logs")
                    .col(uuid("id").primary_key())
                    .col(uuid("task_id"))
                    .col(integer("sequence"))
                    .col(string_len("log_type", 16))
                    .col(text("message"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("task_logs_task_fk")
                            .from("task_logs", "task_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("task_logs_task_sequence_key")
                    .table("task_logs")
                    .col("task_id")
                    .col("sequence")
                    .unique()
                    .to_owned(),
            )
            .await?;
        rls::enable_policies(manager, TABLES, POLICIES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rls::disable_policies(manager, TABLES, POLICIES).await?;
        for table in ["task_logs", "tasks"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
