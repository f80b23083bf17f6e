//! Where Supabase's `auth.users` exists, deleting a user there deletes their confab data:
//! a trigger deletes their profile, from which every row of theirs cascades (as the seeds'
//! `REFERENCES auth.users ON DELETE CASCADE` do). A trigger rather than a foreign key, so
//! that a token's user need not be in `auth.users` for confab to serve them (plain
//! Postgres, other identity providers). Nothing on SQLite or without `auth.users`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::capability_support;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The trigger's name, per schema so that two installs in one database do not collide.
fn trigger_name(schema: &str) -> String {
    let plain: String = schema
        .split(',')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!("{plain}_delete_user_data")
}

async fn has_auth_users<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT to_regclass('auth.users') IS NOT NULL AS found",
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "found"),
        None => Ok(false),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres || !has_auth_users(db).await? {
            return Ok(());
        }
        let search_path = capability_support::current_schema(db).await?;
        let trigger = trigger_name(&search_path);
        db.execute_unprepared(&format!(
            "CREATE FUNCTION delete_user_data() RETURNS trigger
               LANGUAGE plpgsql SECURITY DEFINER SET search_path = {search_path} AS $f$
               BEGIN
                 DELETE FROM profiles WHERE id = OLD.id;
                 RETURN OLD;
               END
             $f$;
             CREATE TRIGGER {trigger} AFTER DELETE ON auth.users
               FOR EACH ROW EXECUTE FUNCTION delete_user_data();"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres || !has_auth_users(db).await? {
            return Ok(());
        }
        let trigger = trigger_name(&capability_support::current_schema(db).await?);
        db.execute_unprepared(&format!(
            "DROP TRIGGER IF EXISTS {trigger} ON auth.users;
             DROP FUNCTION IF EXISTS delete_user_data();"
        ))
        .await?;
        Ok(())
    }
}
