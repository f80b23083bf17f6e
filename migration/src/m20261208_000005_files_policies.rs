//! [files] `stored_files` under the policy-parity rules, and the table that keeps the
//! download signing key of gateways run without one (Postgres only; nothing on SQLite).
//!
//! The files migration came with simple policies of its own that said more than the
//! gateway: a user could insert a row naming themselves into any project or chat, delete
//! the files of any project they could read, and the anonymous could not read avatars at
//! all (its policy read `conversations`, which `anon` may not). This one replaces every
//! policy of `stored_files` with what `access::readable_stored_files` says, in the shape of
//! `m20261208_000002_policy_parity` (`(select auth.uid())`, its `SECURITY DEFINER`
//! helpers):
//!
//! - **read**: avatars (public), the files of projects the caller may read, the
//!   attachments of chats the caller may read; everything for the service role;
//! - **write**: nothing for `anon` and `authenticated`. A row names an object in the store
//!   (`{bucket}/{id}`), written by the gateway before the row and removed by it after the
//!   row: a row inserted directly names no object, one deleted directly leaves its object
//!   (and a profile's `avatar_url`) behind, and changing a bucket, size, owner or parent
//!   would make the row lie about its object. Uploads and deletes go through the gateway
//!   (`uploadProjectFile`, `deleteProjectFile`, ...), or the service role.
//!
//! `storage_signing_keys` holds at most one row: the key of signed download URLs that the
//! first gateway on this database without `--storage-signing-key` generates, so that
//! every gateway on the database signs and verifies alike, across restarts (SQLite keeps
//! its key in a file beside the database). It is the gateway's alone: RLS on, no policy,
//! and no privilege for `anon`, `authenticated` or `service_role`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `UID` is replaced by `(select auth.uid())`: evaluated once per statement, not per row.
const UID: &str = "(select auth.uid())";

/// The read policy: `access::readable_stored_files` for a user or the anonymous (the
/// project condition is `access::readable_projects`, the chats those of
/// `auth_readable_conversation_id_array`, i.e. `access::readable_conversations`).
const READ: &str = "bucket = 'avatars' \
    OR project_id IN (SELECT id FROM projects WHERE owner_id = UID \
        OR (is_public AND status <> 'deleted') \
        OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))) \
    OR conversation_id = ANY ((SELECT auth_readable_conversation_id_array())::uuid[])";

const SIGNING_KEYS: &str = r#"
CREATE TABLE storage_signing_keys (
  id smallint PRIMARY KEY CHECK (id = 1),
  key text NOT NULL CHECK (length(key) >= 32),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE storage_signing_keys ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON storage_signing_keys FROM PUBLIC;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let roles = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT count(*) = 3 AS present FROM pg_roles \
                 WHERE rolname IN ('anon', 'authenticated', 'service_role')",
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "present"))
            .transpose()?
            .unwrap_or(false);
        let mut sql = String::from(
            "DO $$ DECLARE p record; BEGIN \
               FOR p IN SELECT policyname FROM pg_policies \
                 WHERE schemaname = current_schema() AND tablename = 'stored_files' LOOP \
                 EXECUTE format('DROP POLICY %I ON stored_files', p.policyname); \
               END LOOP; \
             END $$;\n\
             ALTER TABLE stored_files ENABLE ROW LEVEL SECURITY;\n\
             CREATE POLICY stored_files_service ON stored_files FOR ALL \
               USING ((select auth.role()) = 'service_role') \
               WITH CHECK ((select auth.role()) = 'service_role');\n",
        );
        sql.push_str(&format!(
            "CREATE POLICY stored_files_read ON stored_files FOR SELECT USING ({});\n",
            READ.replace("UID", UID)
        ));
        sql.push_str(SIGNING_KEYS);
        if roles {
            // Whatever the schema's default privileges granted: reads only, for both; the
            // signing key for no one but the gateway.
            sql.push_str(
                "REVOKE ALL ON stored_files FROM PUBLIC, anon, authenticated, service_role;\n\
                 GRANT ALL ON stored_files TO service_role;\n\
                 GRANT SELECT ON stored_files TO authenticated, anon;\n\
                 REVOKE ALL ON storage_signing_keys FROM anon, authenticated, service_role;\n",
            );
        }
        db.execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // The files migration's policies are not restored: `stored_files` is left to the
        // service role (RLS on, its policy only), which refuses more, never less.
        db.execute_unprepared(
            "DROP POLICY IF EXISTS stored_files_read ON stored_files;\n\
             DROP TABLE IF EXISTS storage_signing_keys;\n",
        )
        .await?;
        Ok(())
    }
}
