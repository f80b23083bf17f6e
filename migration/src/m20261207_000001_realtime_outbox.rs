//! [realtime] on Postgres: the outbox every committed event batch is written to, in the
//! writing transaction, so a gateway whose `LISTEN` connection was down replays what it
//! missed (NOTIFY is only the wake-up). Nothing on SQLite: its bus lives in the one writing
//! process and cannot be disconnected from it.
//!
//! `confab_publish(batch)` takes a transaction-scoped advisory lock, appends the batch and
//! notifies with the new id, in one round trip. The lock is held until the writer commits,
//! so ids are given in commit order and "everything after the last id I saw" never skips a
//! batch that commits late. The table is closed to every role but its owner (RLS on, no
//! policy): events name rows, and only the gateway reads them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(
            "CREATE TABLE realtime_events (
                id BIGSERIAL PRIMARY KEY,
                events TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            CREATE INDEX realtime_events_created_idx ON realtime_events (created_at);
            ALTER TABLE realtime_events ENABLE ROW LEVEL SECURITY;
            CREATE FUNCTION confab_publish(batch TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
            DECLARE
                new_id BIGINT;
            BEGIN
                -- A fixed key for the outbox; held until the writer commits.
                PERFORM pg_advisory_xact_lock(7165065413826225267);
                INSERT INTO realtime_events (events) VALUES (batch) RETURNING id INTO new_id;
                PERFORM pg_notify('confab_events', new_id::TEXT);
            END
            $$;
            REVOKE ALL ON FUNCTION confab_publish(TEXT) FROM PUBLIC;",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(
            "DROP FUNCTION IF EXISTS confab_publish(TEXT); DROP TABLE IF EXISTS realtime_events;",
        )
        .await?;
        Ok(())
    }
}
