//! Row Level Security for the core tables on Postgres: the same rules as the gateway's
//! `access` module, written with Supabase's `auth.uid()` and `auth.role()`, so the
//! database refuses what the gateway would refuse even to another client (PostgREST, a
//! script). The gateway itself connects as the tables' owner, which RLS does not bind.
//! On a database without Supabase's `auth` schema, the two functions are created reading
//! the same settings PostgREST sets (`request.jwt.claim.*` / `request.jwt.claims`).
//! SQLite has no RLS; this migration does nothing there.

use sea_orm_migration::prelude::*;

use crate::capability_support::{self, Policy};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const AUTH_FUNCTIONS: &str = r#"
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'auth' AND p.proname = 'uid'
  ) THEN
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
      SELECT nullif(coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
      ), '')::uuid
    $f$;
  END IF;
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'auth' AND p.proname = 'role'
  ) THEN
    CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
      )
    $f$;
  END IF;
END
$$;
"#;

const POLICIES: &[Policy] = &[
    ("profiles", "profiles_own", "ALL", Some("id = auth.uid()"), Some("id = auth.uid()")),
    (
        "profiles",
        "profiles_public_owners",
        "SELECT",
        Some("id IN (SELECT owner_id FROM projects WHERE is_public AND status <> 'deleted')"),
        None,
    ),
    ("settings", "settings_own", "ALL", Some("user_id = auth.uid()"), Some("user_id = auth.uid()")),
    (
        "projects",
        "projects_read",
        "SELECT",
        Some("owner_id = auth.uid() OR (is_public AND status <> 'deleted')"),
        None,
    ),
    ("projects", "projects_insert", "INSERT", None, Some("owner_id = auth.uid()")),
    ("projects", "projects_update", "UPDATE", Some("owner_id = auth.uid()"), Some("owner_id = auth.uid()")),
    ("projects", "projects_delete", "DELETE", Some("owner_id = auth.uid()"), None),
    (
        "conversations",
        "conversations_own",
        "ALL",
        Some("owner_id = auth.uid()"),
        Some("owner_id = auth.uid()"),
    ),
    (
        "messages",
        "messages_own_conversations",
        "ALL",
        Some("conversation_id IN (SELECT id FROM conversations WHERE owner_id = auth.uid())"),
        Some("conversation_id IN (SELECT id FROM conversations WHERE owner_id = auth.uid())"),
    ),
    (
        "project_conversations",
        "project_conversations_read",
        "SELECT",
        Some(
            "project_id IN (SELECT id FROM projects) AND conversation_id IN (SELECT id FROM conversations)",
        ),
        None,
    ),
    (
        "project_conversations",
        "project_conversations_file",
        "INSERT",
        None,
        Some(
            "conversation_id IN (SELECT id FROM conversations WHERE owner_id = auth.uid()) \
             AND project_id IN (SELECT id FROM projects WHERE owner_id = auth.uid())",
        ),
    ),
    (
        "project_conversations",
        "project_conversations_unfile",
        "DELETE",
        Some(
            "conversation_id IN (SELECT id FROM conversations WHERE owner_id = auth.uid()) \
             AND project_id IN (SELECT id FROM projects WHERE owner_id = auth.uid())",
        ),
        None,
    ),
];

const TABLES: &[&str] = &[
    "profiles",
    "settings",
    "projects",
    "conversations",
    "messages",
    "project_conversations",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(AUTH_FUNCTIONS).await?;
        capability_support::enable_policies(manager, TABLES, POLICIES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        capability_support::disable_policies(manager, TABLES, POLICIES).await
    }
}
