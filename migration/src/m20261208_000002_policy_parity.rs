//! Row Level Security equal to the gateway's `access` module (Postgres only; nothing on
//! SQLite). The earlier capability migrations installed policies that were looser than
//! the gateway in places (an ADMIN could promote themselves or set a team project's
//! owner; anyone could insert a project into any team; the last OWNER could leave; a user
//! could rewrite their own email and so receive another person's team invitation; private
//! profile columns were readable by whoever could see the row). This migration replaces
//! every policy of the tables it lists and says, table by table, what `access` says:
//!
//! - policies in the shape Supabase recommends: `(select auth.uid())` evaluated once per
//!   statement, owner columns indexed, membership through `SECURITY DEFINER` helpers that
//!   read `team_members` without recursing through its own policies;
//! - privileges per role: `authenticated` may touch only what a user may change through
//!   the gateway, column by column (never an email, a balance, an owner or team column);
//!   `anon` reads projects and public profile columns and inserts into the public forms;
//!   `service_role` may do everything;
//! - triggers for the rules a policy cannot state (it sees the new row, not the change):
//!   deleting or restoring a project (its owner or a team OWNER), changing a member's role
//!   (an OWNER; an ADMIN neither over nor into OWNER), a member's default flag (the member
//!   themselves), and a team keeping at least one OWNER (checked at commit). The triggers
//!   bind callers subject to RLS who are not the service role; the gateway, which owns
//!   the tables, enforces the same rules in `access` and the team operations.
//!
//! Profiles: a row is visible to whoever may see the public profile
//! (`readable_public_profiles`), but only `id`, `display_name` and `avatar_url` are
//! granted; a user reads all of their own profile through the `own_profile` view.
//!
//! The roles `anon`, `authenticated` and `service_role` are created when absent (plain
//! Postgres; Supabase has them). `confab_publish` and the outbox stay closed to them: a
//! client could otherwise forge realtime events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::capability_support;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The roles PostgREST switches to, created where missing. A race with a concurrent
/// migration of another database in the same cluster is harmless (roles are per cluster).
/// A migrating role that may not create roles gets a warning, and the privileges below
/// are then not granted: the tables stay closed to those roles (create them and run
/// `GRANT` as this migration does to open them).
const ROLES: &str = r#"
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
          NULL;
        WHEN insufficient_privilege THEN
          RAISE WARNING 'confab: % may not create the role %; no privileges granted', current_user, r;
      END;
    END IF;
  END LOOP;
END
$$;
"#;

/// Helpers the policies call: `SECURITY DEFINER` so that they read the membership and
/// chat tables once, without their policies, for the caller named by `auth.uid()`.
/// `SCHEMA` is replaced by the migrated schema (with `pg_temp` after it).
const HELPERS: &str = r#"
ALTER FUNCTION auth_team_ids(text[]) ROWS 10;

-- Chats filed in projects of the caller's teams (`access::team_chats`).
CREATE OR REPLACE FUNCTION auth_team_conversation_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA ROWS 50 AS $f$
    SELECT pc.conversation_id FROM project_conversations pc JOIN projects p ON p.id = pc.project_id
    WHERE p.team_id IN (
      SELECT team_id FROM team_members
      WHERE user_id = auth.uid() AND role = ANY (ARRAY['owner','admin','member'])
    )
  $f$;

-- Chats the caller may read (`access::readable_conversations`: own and team chats; all
-- for the service role), as one array: a policy `id = ANY ((SELECT ...)::uuid[])` is
-- an index condition evaluated once per statement, so listing messages reads the
-- caller's chats' rows through the index and no one else's.
CREATE FUNCTION auth_readable_conversation_id_array() RETURNS uuid[]
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA AS $f$
    SELECT coalesce(array_agg(id), '{}') FROM (
      SELECT id FROM conversations WHERE owner_id = auth.uid()
      UNION
      SELECT auth_team_conversation_ids()
      UNION
      SELECT id FROM conversations WHERE auth.role() = 'service_role'
    ) readable
  $f$;

-- Chats the caller may change (`access::editable_conversations`): their own; all for
-- the service role.
CREATE FUNCTION auth_own_conversation_id_array() RETURNS uuid[]
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA AS $f$
    SELECT coalesce(array_agg(id), '{}') FROM (
      SELECT id FROM conversations WHERE owner_id = auth.uid()
      UNION ALL
      SELECT id FROM conversations WHERE auth.role() = 'service_role'
    ) own
  $f$;

-- Profiles whose public columns the caller may see (`access::readable_public_profiles`):
-- their own, the owners of projects they may read, the members of their teams.
CREATE FUNCTION auth_public_profile_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA ROWS 100 AS $f$
    SELECT auth.uid() WHERE auth.uid() IS NOT NULL
    UNION
    SELECT owner_id FROM projects
    WHERE owner_id = auth.uid()
       OR (is_public AND status <> 'deleted')
       OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))
    UNION
    SELECT user_id FROM team_members
    WHERE team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))
  $f$;

-- A team nobody belongs to and no project names: its creator may enter it as OWNER
-- (`createTeam`); a team that lost its members to a cascade is not up for grabs while
-- projects still name it.
CREATE FUNCTION auth_team_is_unclaimed(team uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA AS $f$
    SELECT EXISTS (SELECT 1 FROM teams WHERE id = team)
       AND NOT EXISTS (SELECT 1 FROM team_members WHERE team_id = team)
       AND NOT EXISTS (SELECT 1 FROM projects WHERE team_id = team)
  $f$;

-- Whether a team that still exists has no OWNER left.
CREATE FUNCTION confab_team_lacks_owner(team uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA AS $f$
    SELECT EXISTS (SELECT 1 FROM teams WHERE id = team)
       AND NOT EXISTS (SELECT 1 FROM team_members WHERE team_id = team AND role = 'owner')
  $f$;

-- Whether the rules below bind the current caller: a role subject to RLS on `tab`
-- (not the tables' owner, i.e. not the gateway) that does not act as the service role.
CREATE FUNCTION confab_rules_bind(tab regclass) RETURNS boolean
  LANGUAGE sql STABLE AS $f$
    SELECT row_security_active(tab) AND auth.role() IS DISTINCT FROM 'service_role'
  $f$;

-- Deleting or restoring a project (status into or out of 'deleted', `deleted_at`):
-- `access::deletable_projects`, its owner or a team OWNER.
CREATE FUNCTION confab_projects_guard() RETURNS trigger
  LANGUAGE plpgsql SET search_path = SCHEMA AS $f$
  BEGIN
    IF confab_rules_bind(TG_RELID::regclass)
       AND ((OLD.status = 'deleted') IS DISTINCT FROM (NEW.status = 'deleted')
            OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
       AND NOT (OLD.owner_id = auth.uid()
                OR OLD.team_id IN (SELECT auth_team_ids(ARRAY['owner'])))
    THEN
      RAISE EXCEPTION 'only the owner or a team OWNER may delete or restore a project'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END
$f$;
CREATE TRIGGER projects_guard BEFORE UPDATE ON projects
  FOR EACH ROW EXECUTE FUNCTION confab_projects_guard();

-- Changing a membership: the role by an OWNER, or by an ADMIN neither from nor to OWNER
-- (`TeamPowers::may_act_on`); the default flag by the member themselves.
CREATE FUNCTION confab_team_members_guard() RETURNS trigger
  LANGUAGE plpgsql SET search_path = SCHEMA AS $f$
  BEGIN
    IF NOT confab_rules_bind(TG_RELID::regclass) THEN
      RETURN NEW;
    END IF;
    IF NEW.role IS DISTINCT FROM OLD.role
       AND NOT (OLD.team_id IN (SELECT auth_team_ids(ARRAY['owner']))
                OR (OLD.team_id IN (SELECT auth_team_ids(ARRAY['admin']))
                    AND OLD.role <> 'owner' AND NEW.role <> 'owner'))
    THEN
      RAISE EXCEPTION 'only an OWNER changes OWNERs or grants OWNER; a MEMBER changes no role'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.is_default IS DISTINCT FROM OLD.is_default AND OLD.user_id IS DISTINCT FROM auth.uid() THEN
      RAISE EXCEPTION 'only the member chooses their default team'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END
$f$;
CREATE TRIGGER team_members_guard BEFORE UPDATE ON team_members
  FOR EACH ROW EXECUTE FUNCTION confab_team_members_guard();

-- A team keeps at least one OWNER: checked at commit, so that a transaction may promote
-- someone after removing the last OWNER.
CREATE FUNCTION confab_team_keeps_owner() RETURNS trigger
  LANGUAGE plpgsql SET search_path = SCHEMA AS $f$
  BEGIN
    IF confab_rules_bind(TG_RELID::regclass) AND confab_team_lacks_owner(OLD.team_id) THEN
      RAISE EXCEPTION 'a team keeps at least one OWNER'
        USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
  END
$f$;
CREATE CONSTRAINT TRIGGER team_members_keep_owner AFTER UPDATE OR DELETE ON team_members
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION confab_team_keeps_owner();

-- A user's whole profile, private columns included (the table grants only the public
-- ones to `anon` and `authenticated`); every profile for the service role
-- (`access::readable_profiles`).
CREATE VIEW own_profile WITH (security_barrier) AS
  SELECT * FROM profiles WHERE id = auth.uid() OR auth.role() = 'service_role';
"#;

/// `UID` is replaced by `(select auth.uid())`: evaluated once per statement, not per row.
const UID: &str = "(select auth.uid())";

/// (table, policy, command, USING, WITH CHECK): every policy of the listed tables but
/// the service role's (`{table}_service`, or `{table}_service_{command}` for writes where
/// its reads go through the helpers), which let it do everything.
const POLICIES: &[capability_support::Policy] = &[
    // profiles: rows as `readable_public_profiles`, changes as `editable_profiles`.
    (
        "profiles",
        "profiles_read",
        "SELECT",
        Some("id = UID OR id IN (SELECT auth_public_profile_ids())"),
        None,
    ),
    (
        "profiles",
        "profiles_update_own",
        "UPDATE",
        Some("id = UID"),
        Some("id = UID"),
    ),
    (
        "settings",
        "settings_own",
        "ALL",
        Some("user_id = UID"),
        Some("user_id = UID"),
    ),
    // projects: readable, own/team insert, editable, deletable.
    (
        "projects",
        "projects_read",
        "SELECT",
        Some(
            "owner_id = UID OR (is_public AND status <> 'deleted') \
             OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))",
        ),
        None,
    ),
    (
        "projects",
        "projects_insert",
        "INSERT",
        None,
        Some(
            "owner_id = UID AND (team_id IS NULL \
             OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member'])))",
        ),
    ),
    (
        "projects",
        "projects_update",
        "UPDATE",
        Some("owner_id = UID OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin']))"),
        Some("owner_id = UID OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin']))"),
    ),
    (
        "projects",
        "projects_delete",
        "DELETE",
        Some("owner_id = UID OR team_id IN (SELECT auth_team_ids(ARRAY['owner']))"),
        None,
    ),
    // conversations: readable (own, team chats), editable (own).
    (
        "conversations",
        "conversations_read",
        "SELECT",
        Some("id = ANY ((SELECT auth_readable_conversation_id_array())::uuid[])"),
        None,
    ),
    (
        "conversations",
        "conversations_insert",
        "INSERT",
        None,
        Some("owner_id = UID"),
    ),
    (
        "conversations",
        "conversations_update",
        "UPDATE",
        Some("owner_id = UID"),
        Some("owner_id = UID"),
    ),
    (
        "conversations",
        "conversations_delete",
        "DELETE",
        Some("owner_id = UID"),
        None,
    ),
    // messages: those of readable / editable conversations.
    (
        "messages",
        "messages_read",
        "SELECT",
        Some("conversation_id = ANY ((SELECT auth_readable_conversation_id_array())::uuid[])"),
        None,
    ),
    (
        "messages",
        "messages_insert",
        "INSERT",
        None,
        Some("conversation_id = ANY ((SELECT auth_own_conversation_id_array())::uuid[])"),
    ),
    (
        "messages",
        "messages_update",
        "UPDATE",
        Some("conversation_id = ANY ((SELECT auth_own_conversation_id_array())::uuid[])"),
        Some("conversation_id = ANY ((SELECT auth_own_conversation_id_array())::uuid[])"),
    ),
    (
        "messages",
        "messages_delete",
        "DELETE",
        Some("conversation_id = ANY ((SELECT auth_own_conversation_id_array())::uuid[])"),
        None,
    ),
    // project↔chat links: read by whoever reads both (through their policies), filed and
    // unfiled by the chat's owner where they may edit the project.
    (
        "project_conversations",
        "project_conversations_read",
        "SELECT",
        Some(
            "project_id IN (SELECT id FROM projects) \
             AND conversation_id IN (SELECT id FROM conversations)",
        ),
        None,
    ),
    (
        "project_conversations",
        "project_conversations_file",
        "INSERT",
        None,
        Some(
            "conversation_id = ANY ((SELECT auth_own_conversation_id_array())::uuid[]) \
             AND project_id IN (SELECT id FROM projects WHERE owner_id = UID \
               OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin'])))",
        ),
    ),
    (
        "project_conversations",
        "project_conversations_unfile",
        "DELETE",
        Some(
            "conversation_id = ANY ((SELECT auth_own_conversation_id_array())::uuid[]) \
             AND project_id IN (SELECT id FROM projects WHERE owner_id = UID \
               OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin'])))",
        ),
        None,
    ),
    // teams: members read, anyone signed in creates, managers rename, OWNERs delete.
    (
        "teams",
        "teams_read",
        "SELECT",
        Some("id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))"),
        None,
    ),
    (
        "teams",
        "teams_create",
        "INSERT",
        None,
        Some("UID IS NOT NULL"),
    ),
    (
        "teams",
        "teams_update",
        "UPDATE",
        Some("id IN (SELECT auth_team_ids(ARRAY['owner','admin']))"),
        Some("id IN (SELECT auth_team_ids(ARRAY['owner','admin']))"),
    ),
    (
        "teams",
        "teams_delete",
        "DELETE",
        Some("id IN (SELECT auth_team_ids(ARRAY['owner']))"),
        None,
    ),
    // team_members: members read; OWNERs add anyone, ADMINs anyone but an OWNER; the
    // creator of a new team enters it as OWNER; role changes by trigger; any member
    // leaves, OWNERs remove anyone, ADMINs anyone but an OWNER; the last OWNER stays
    // (trigger at commit).
    (
        "team_members",
        "team_members_read",
        "SELECT",
        Some("team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))"),
        None,
    ),
    (
        "team_members",
        "team_members_add",
        "INSERT",
        None,
        Some(
            "team_id IN (SELECT auth_team_ids(ARRAY['owner'])) \
             OR (team_id IN (SELECT auth_team_ids(ARRAY['admin'])) AND role <> 'owner') \
             OR (user_id = UID AND role = 'owner' AND auth_team_is_unclaimed(team_id))",
        ),
    ),
    (
        "team_members",
        "team_members_update",
        "UPDATE",
        Some("user_id = UID OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin']))"),
        Some("user_id = UID OR team_id IN (SELECT auth_team_ids(ARRAY['owner','admin']))"),
    ),
    (
        "team_members",
        "team_members_remove",
        "DELETE",
        Some(
            "user_id = UID OR team_id IN (SELECT auth_team_ids(ARRAY['owner'])) \
             OR (team_id IN (SELECT auth_team_ids(ARRAY['admin'])) AND role <> 'owner')",
        ),
        None,
    ),
    // Per-user tables: own rows, and the owner column can only name the caller.
    (
        "tasks",
        "tasks_own",
        "ALL",
        Some("user_id = UID"),
        Some("user_id = UID"),
    ),
    (
        "task_logs",
        "task_logs_own",
        "ALL",
        Some("task_id IN (SELECT id FROM tasks WHERE user_id = UID)"),
        Some("task_id IN (SELECT id FROM tasks WHERE user_id = UID)"),
    ),
    (
        "goals",
        "goals_own",
        "ALL",
        Some("user_id = UID"),
        Some("user_id = UID"),
    ),
    (
        "journal_entries",
        "journal_entries_own",
        "ALL",
        Some("user_id = UID"),
        Some("user_id = UID"),
    ),
    (
        "progress_metrics",
        "progress_metrics_own",
        "ALL",
        Some("user_id = UID"),
        Some("user_id = UID"),
    ),
    (
        "workspace_files",
        "workspace_files_own",
        "ALL",
        Some("user_id = UID"),
        Some("user_id = UID AND (project_id IS NULL OR project_id IN (SELECT id FROM projects))"),
    ),
    // Credits: read own; balances and the ledger change through the gateway only.
    (
        "credit_accounts",
        "credit_accounts_read_own",
        "SELECT",
        Some("user_id = UID"),
        None,
    ),
    (
        "credit_transactions",
        "credit_transactions_read_own",
        "SELECT",
        Some("user_id = UID"),
        None,
    ),
    // Public forms: anyone inserts; a visit names no one or the caller.
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
        Some("user_id IS NULL OR user_id = UID"),
    ),
];

/// Tables whose reads the service role makes through the array helpers, like users.
const READ_THROUGH_ARRAYS: &[&str] = &["conversations", "messages"];

/// (table, privileges of `authenticated`, privileges of `anon`). Every table here gets
/// its policies replaced by those of `POLICIES`, `ALL` for `service_role`, and nothing
/// else for `anon` and `authenticated`. Columns missing from an UPDATE list cannot be
/// changed: emails, balances, owners, teams, memberships' user and team. A command the
/// gateway offers no user for a table is not granted (settings and profiles are made at
/// sign-in and never deleted alone, log lines are appended, progress is recorded).
const TABLES: &[(&str, &str, &str)] = &[
    (
        "profiles",
        "SELECT (id, display_name, avatar_url), \
         UPDATE (display_name, full_name, avatar_url, onboarding_completed, onboarding, updated_at)",
        "SELECT (id, display_name, avatar_url)",
    ),
    ("settings", "SELECT, UPDATE", ""),
    (
        "projects",
        "SELECT, INSERT, DELETE, \
         UPDATE (title, description, status, is_public, metadata, updated_at, deleted_at)",
        "SELECT",
    ),
    (
        "conversations",
        "SELECT, INSERT, DELETE, UPDATE (title, model, status, pinned, encrypted, metadata, \
         message_count, total_tokens, last_message_at, updated_at)",
        "",
    ),
    (
        "messages",
        "SELECT, INSERT, DELETE, UPDATE (sequence, role, content, metadata, token_count, \
         feedback, audio_url, updated_at)",
        "",
    ),
    ("project_conversations", "SELECT, INSERT, DELETE", ""),
    ("teams", "SELECT, INSERT, DELETE, UPDATE (name, updated_at)", ""),
    ("team_members", "SELECT, INSERT, DELETE, UPDATE (role, is_default)", ""),
    ("tasks", "SELECT, INSERT, UPDATE, DELETE", ""),
    ("task_logs", "SELECT, INSERT", ""),
    ("goals", "SELECT, INSERT, UPDATE, DELETE", ""),
    ("journal_entries", "SELECT, INSERT, UPDATE, DELETE", ""),
    ("progress_metrics", "SELECT, INSERT, UPDATE", ""),
    ("workspace_files", "SELECT, INSERT, UPDATE, DELETE", ""),
    ("credit_accounts", "SELECT", ""),
    ("credit_transactions", "SELECT", ""),
    ("waitlist_entries", "INSERT", "INSERT"),
    ("site_visits", "INSERT", "INSERT"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        db.execute_unprepared(ROLES).await?;
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
        let search_path = capability_support::current_schema(db).await?;
        let mut sql = HELPERS.replace("SCHEMA", &search_path);
        let mut privileges = format!(
            "GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;\n\
             GRANT USAGE ON SCHEMA {} TO anon, authenticated, service_role;\n",
            search_path.trim_end_matches(", pg_temp")
        );
        // The view is updatable (as its owner, past the table's column privileges): only
        // SELECT is granted, whatever default privileges the schema has. The outbox and
        // its function stay the gateway's alone.
        privileges.push_str(
            "REVOKE ALL ON own_profile FROM PUBLIC, anon, authenticated, service_role;\n\
             GRANT SELECT ON own_profile TO authenticated, service_role;\n\
             REVOKE ALL ON realtime_events FROM PUBLIC, anon, authenticated;\n\
             REVOKE ALL ON FUNCTION confab_publish(TEXT) FROM PUBLIC, anon, authenticated;\n",
        );
        for (table, authenticated, anon) in TABLES {
            sql.push_str(&format!(
                "DO $$ DECLARE p record; BEGIN \
                   FOR p IN SELECT policyname FROM pg_policies \
                     WHERE schemaname = current_schema() AND tablename = '{table}' LOOP \
                     EXECUTE format('DROP POLICY %I ON {table}', p.policyname); \
                   END LOOP; \
                 END $$;\n\
                 ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n"
            ));
            // The service role's reads of chats and messages go through the helpers
            // above: a separate policy would be OR-ed into every user's read and keep
            // the planner from the index.
            let commands: &[&str] = if READ_THROUGH_ARRAYS.contains(table) {
                &["INSERT", "UPDATE", "DELETE"]
            } else {
                &["ALL"]
            };
            for command in commands {
                let name = match *command {
                    "ALL" => format!("{table}_service"),
                    other => format!("{table}_service_{}", other.to_lowercase()),
                };
                let using = if *command == "INSERT" {
                    ""
                } else {
                    " USING ((select auth.role()) = 'service_role')"
                };
                let check = if *command == "DELETE" {
                    ""
                } else {
                    " WITH CHECK ((select auth.role()) = 'service_role')"
                };
                sql.push_str(&format!(
                    "CREATE POLICY {name} ON {table} FOR {command}{using}{check};\n"
                ));
            }
            privileges.push_str(&format!(
                "REVOKE ALL ON {table} FROM PUBLIC, anon, authenticated, service_role;\n\
                 GRANT ALL ON {table} TO service_role;\n\
                 GRANT {authenticated} ON {table} TO authenticated;\n"
            ));
            if !anon.is_empty() {
                privileges.push_str(&format!("GRANT {anon} ON {table} TO anon;\n"));
            }
        }
        if roles {
            sql.push_str(&privileges);
        }
        for (table, name, command, using, check) in POLICIES {
            sql.push_str(&format!("CREATE POLICY {name} ON {table} FOR {command}"));
            if let Some(using) = using {
                sql.push_str(&format!(" USING ({})", using.replace("UID", UID)));
            }
            if let Some(check) = check {
                sql.push_str(&format!(" WITH CHECK ({})", check.replace("UID", UID)));
            }
            sql.push_str(";\n");
        }
        db.execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // The earlier policies are not restored: going down past this migration leaves
        // the tables closed to `anon` and `authenticated` (RLS on, no policy but the
        // service role's), which refuses more, never less.
        let mut sql = String::from(
            "DROP VIEW IF EXISTS own_profile;\n\
             DROP TRIGGER IF EXISTS projects_guard ON projects;\n\
             DROP TRIGGER IF EXISTS team_members_guard ON team_members;\n\
             DROP TRIGGER IF EXISTS team_members_keep_owner ON team_members;\n",
        );
        for (table, name, ..) in POLICIES {
            sql.push_str(&format!("DROP POLICY IF EXISTS {name} ON {table};\n"));
        }
        for table in READ_THROUGH_ARRAYS {
            for command in ["insert", "update", "delete"] {
                sql.push_str(&format!(
                    "DROP POLICY IF EXISTS {table}_service_{command} ON {table};\n"
                ));
            }
        }
        sql.push_str(
            "DROP FUNCTION IF EXISTS confab_projects_guard();\n\
             DROP FUNCTION IF EXISTS confab_team_members_guard();\n\
             DROP FUNCTION IF EXISTS confab_team_keeps_owner();\n\
             DROP FUNCTION IF EXISTS confab_rules_bind(regclass);\n\
             DROP FUNCTION IF EXISTS confab_team_lacks_owner(uuid);\n\
             DROP FUNCTION IF EXISTS auth_team_is_unclaimed(uuid);\n\
             DROP FUNCTION IF EXISTS auth_public_profile_ids();\n\
             DROP FUNCTION IF EXISTS auth_own_conversation_id_array();\n\
             DROP FUNCTION IF EXISTS auth_readable_conversation_id_array();\n",
        );
        db.execute_unprepared(&sql).await?;
        Ok(())
    }
}
