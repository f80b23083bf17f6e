//! [wellness]: goals, journal entries and progress metrics, each owned by a profile
//! (removed with it), with Postgres RLS policies that let a user reach only their own.

use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support::{cascade, disable_policies, enable_policies, index, Policy};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["goals", "journal_entries", "progress_metrics"];

const POLICIES: &[Policy] = &[
    (
        "goals",
        "goals_own",
        "ALL",
        Some("user_id = auth.uid()"),
        Some("user_id = auth.uid()"),
    ),
    (
        "journal_entries",
        "journal_entries_own",
        "ALL",
        Some("user_id = auth.uid()"),
        Some("user_id = auth.uid()"),
    ),
    (
        "progress_metrics",
        "progress_metrics_own",
        "ALL",
        Some("user_id = auth.uid()"),
        Some("user_id = auth.uid()"),
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("goals")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(string("title"))
                    .col(text_null("description"))
                    .col(string_null("category"))
                    .col(date_null("target_date"))
                    .col(string_len("status", 16).default("active"))
                    .col(integer("progress").default(0))
                    .col(json_binary("metadata"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .check(Expr::col("progress").between(0, 100))
                    .foreign_key(&mut cascade(
                        "goals_user_fk",
                        ("goals", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "goals_user_idx",
            "goals",
            &["user_id", "created_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("journal_entries")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(string_null("title"))
                    .col(text("content"))
                    .col(string_null("mood"))
                    .col(json_binary("tags"))
                    .col(boolean("is_private").default(true))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade(
                        "journal_entries_user_fk",
                        ("journal_entries", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "journal_entries_user_idx",
            "journal_entries",
            &["user_id", "created_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("progress_metrics")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(string("metric_type"))
                    .col(double("value"))
                    .col(json_binary("metadata"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut cascade(
                        "progress_metrics_user_fk",
                        ("progress_metrics", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "progress_metrics_user_type_key",
            "progress_metrics",
            &["user_id", "metric_type"],
            true,
        )
        .await?;

        enable_policies(manager, TABLES, POLICIES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        disable_policies(manager, TABLES, POLICIES).await?;
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*table).to_owned())
                .await?;
        }
        Ok(())
    }
}
