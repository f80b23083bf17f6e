//! Teams and their members. A team project keeps its owner; deleting a team turns its
//! projects into their owners' personal projects (`projects.team_id` set to null). On
//! Postgres the migration adds the foreign key for `projects.team_id` and Row Level
//! Security that extends the core policies to team members.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

use crate::capability_support;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Postgres only: the team foreign key on projects, a helper that lists the caller's
/// teams without recursing through RLS, and the team policies. The helpers' `search_path`
/// is the schema being migrated (`SCHEMA`, replaced by `current_schema()`), never assumed.
const POSTGRES: &str = r#"
ALTER TABLE projects
  ADD CONSTRAINT projects_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE SET NULL;

CREATE FUNCTION auth_team_ids(roles text[]) RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA AS $f$
    SELECT team_id FROM team_members WHERE user_id = auth.uid() AND role = ANY (roles)
  $f$;

ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY teams_service ON teams FOR ALL
  USING (auth.role() = 'service_role') WITH CHECK (auth.role() = 'service_role');
CREATE POLICY team_members_service ON team_members FOR ALL
  USING (auth.role() = 'service_role') WITH CHECK (auth.role() = 'service_role');
CREATE POLICY teams_members_read ON teams FOR SELECT
  USING (id IN (SELECT auth_team_ids(ARRAY['owner','admin','member'])));
CREATE POLICY teams_managers_update ON teams FOR UPDATE
  USING (id IN (SELECT auth_team_ids(ARRAY['owner','admin'])));
CREATE POLICY teams_owners_delete ON teams FOR DELETE
  USING (id IN (SELECT auth_team_ids(ARRAY['owner'])));
CREATE POLICY team_members_read ON team_members FOR SELECT
  USING (team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member'])));
CREATE POLICY team_members_manage ON team_members FOR ALL
  USING (team_id IN (SELECT auth_team_ids(ARRAY['owner','admin'])))
  WITH CHECK (team_id IN (SELECT auth_team_ids(ARRAY['owner','admin'])));
CREATE POLICY team_members_leave ON team_members FOR DELETE
  USING (user_id = auth.uid());

CREATE POLICY projects_team_read ON projects FOR SELECT
  USING (team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member'])));
CREATE POLICY projects_team_update ON projects FOR UPDATE
  USING (team_id IN (SELECT auth_team_ids(ARRAY['owner','admin'])))
  WITH CHECK (team_id IN (SELECT auth_team_ids(ARRAY['owner','admin'])));
CREATE FUNCTION auth_team_conversation_ids() RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = SCHEMA AS $f$
    SELECT pc.conversation_id FROM project_conversations pc JOIN projects p ON p.id = pc.project_id
    WHERE p.team_id IN (SELECT team_id FROM team_members WHERE user_id = auth.uid())
  $f$;
CREATE POLICY conversations_team_read ON conversations FOR SELECT
  USING (id IN (SELECT auth_team_conversation_ids()));
CREATE POLICY messages_team_read ON messages FOR SELECT
  USING (conversation_id IN (SELECT id FROM conversations));
CREATE POLICY profiles_team_read ON profiles FOR SELECT
  USING (id IN (
    SELECT user_id FROM team_members
    WHERE team_id IN (SELECT auth_team_ids(ARRAY['owner','admin','member']))
  ));
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("teams")
                    .col(uuid("id").primary_key())
                    .col(string("name"))
                    .col(string_len("tier", 32).default("free"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("team_members")
                    .col(uuid("id").primary_key())
                    .col(uuid("team_id"))
                    .col(uuid("user_id"))
                    .col(string_len("role", 16))
                    .col(boolean("is_default").default(false))
                    .col(timestamp_with_time_zone("joined_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("team_members_team_fk")
                            .from("team_members", "team_id")
                            .to("teams", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("team_members_user_fk")
                            .from("team_members", "user_id")
                            .to("profiles", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("team_members_team_user_key")
                    .table("team_members")
                    .col("team_id")
                    .col("user_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("team_members_user_idx")
                    .table("team_members")
                    .col("user_id")
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            let schema = capability_support::current_schema(db).await?;
            db.execute_unprepared(&POSTGRES.replace("SCHEMA", &schema))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP POLICY IF EXISTS projects_team_read ON projects;
                 DROP POLICY IF EXISTS projects_team_update ON projects;
                 DROP POLICY IF EXISTS conversations_team_read ON conversations;
                 DROP POLICY IF EXISTS messages_team_read ON messages;
                 DROP POLICY IF EXISTS profiles_team_read ON profiles;
                 ALTER TABLE projects DROP CONSTRAINT IF EXISTS projects_team_fk;",
            )
            .await?;
        }
        manager
            .drop_table(Table::drop().table("team_members").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("teams").to_owned())
            .await?;
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP FUNCTION IF EXISTS auth_team_ids(text[]);
                 DROP FUNCTION IF EXISTS auth_team_conversation_ids();",
            )
            .await?;
        }
        Ok(())
    }
}
