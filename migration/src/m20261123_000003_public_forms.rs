//! [public]: the waitlist (one row per email, case-insensitively) and site visits. On
//! Postgres anyone may insert, with a visit attributed to no one or to the caller; only
//! the service role reads them. A visit of a signed-in user goes with their profile.

use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support::{cascade, disable_policies, enable_policies, index, Policy};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["waitlist_entries", "site_visits"];

const POLICIES: &[Policy] = &[
    (
        "waitlist_entries",
        "waitlist_entries_join",
        "INSERT",
        None,
        Some("true"),
    ),
    (
        "site_visits",
        "site_visits_record",
        "INSERT",
        None,
        Some("user_id IS NULL OR user_id = auth.uid()"),
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("waitlist_entries")
                    .col(uuid("id").primary_key())
                    .col(string("email"))
                    .col(string("email_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "waitlist_entries_email_key",
            "waitlist_entries",
            &["email_key"],
            true,
        )
        .await?;
        index(
            manager,
            "waitlist_entries_created_idx",
            "waitlist_entries",
            &["created_at"],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("site_visits")
                    .col(uuid("id").primary_key())
                    .col(uuid_null("user_id"))
                    .col(text("path"))
                    .col(text_null("referrer"))
                    .col(text_null("user_agent"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut cascade(
                        "site_visits_user_fk",
                        ("site_visits", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "site_visits_created_idx",
            "site_visits",
            &["created_at"],
            false,
        )
        .await?;
        index(
            manager,
            "site_visits_user_idx",
            "site_visits",
            &["user_id"],
            false,
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
