//! [credits]: one balance per profile and an append-only ledger. `(user_id, sequence)`
//! and `(user_id, idempotency_key)` are unique, so a ledger never forks and a retried
//! request never charges twice. Existing profiles get an empty account. On Postgres a
//! user may read their own account and ledger but change neither (only the gateway or
//! the service role writes them).

use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support::{cascade, disable_policies, enable_policies, index, Policy};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["credit_accounts", "credit_transactions"];

const POLICIES: &[Policy] = &[
    (
        "credit_accounts",
        "credit_accounts_read_own",
        "SELECT",
        Some("user_id = auth.uid()"),
        None,
    ),
    (
        "credit_transactions",
        "credit_transactions_read_own",
        "SELECT",
        Some("user_id = auth.uid()"),
        None,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("credit_accounts")
                    .col(uuid("user_id").primary_key())
                    .col(big_integer("balance").default(0))
                    .col(integer("entries").default(0))
                    .check(Expr::col("balance").gte(0))
                    .foreign_key(&mut cascade(
                        "credit_accounts_user_fk",
                        ("credit_accounts", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("credit_accounts")
                    .columns(["user_id", "balance", "entries"])
                    .select_from(
                        Query::select()
                            .column("id")
                            .expr(Expr::val(0i64))
                            .expr(Expr::val(0i32))
                            .from("profiles")
                            .to_owned(),
                    )
                    .map_err(|e| DbErr::Migration(e.to_string()))?
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("credit_transactions")
                    .col(uuid("id").primary_key())
                    .col(uuid("user_id"))
                    .col(integer("sequence"))
                    .col(big_integer("amount"))
                    .col(big_integer("balance_after"))
                    .col(string_len("kind", 16))
                    .col(text_null("description"))
                    .col(text_null("reference"))
                    .col(string_null("idempotency_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .check(Expr::col("balance_after").gte(0))
                    .foreign_key(&mut cascade(
                        "credit_transactions_user_fk",
                        ("credit_transactions", "user_id"),
                        ("profiles", "id"),
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "credit_transactions_user_sequence_key",
            "credit_transactions",
            &["user_id", "sequence"],
            true,
        )
        .await?;
        index(
            manager,
            "credit_transactions_user_idempotency_key",
            "credit_transactions",
            &["user_id", "idempotency_key"],
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
