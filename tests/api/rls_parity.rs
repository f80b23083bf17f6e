//! Row Level Security equals the `access` module, proven by difference on a random world
//! (Postgres only).
//!
//! Random users, teams with OWNERs, ADMINs and MEMBERs, projects (own, team, public,
//! archived, deleted, and team projects of people who left the team), chats filed in
//! them, messages, tasks and logs, goals, journal entries, progress, credits, workspace
//! files, settings, public forms, stored files (project files, avatars, chat attachments).
//! Then, for every viewer (each user, the anonymous, the
//! service role) and every table in [`TABLES`], the keys visible to the database role
//! PostgREST would use (`authenticated`, `anon`, `service_role`) with that viewer's claims
//! must equal the keys the access module's condition selects; and a list of writes tried
//! as `authenticated` must succeed exactly where the gateway allows them.
//!
//! `CONFAB_RLS_PARITY_SEED` (default 11) and `CONFAB_RLS_PARITY_USERS` (default 6) choose
//! the world; CI runs the defaults, a bigger one runs on demand:
//! `CONFAB_RLS_PARITY_SEED=$RANDOM CONFAB_RLS_PARITY_USERS=30 cargo test --test api rls_parity`.

use std::collections::{BTreeSet, HashMap, HashSet};

use confab::access::{self, TeamPowers};
use confab::auth::{UserClaims, Viewer};
use entity::enums::TeamRole;
use entity::{
    conversation, credit_account, credit_transaction, goal, journal_entry, message, profile,
    progress_metric, project, project_conversation, settings, site_visit, stored_file, task,
    task_log, team, team_member, waitlist_entry, workspace_file,
};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, Statement, TransactionTrait,
};
use uuid::Uuid;

use crate::harness;

/// A database set up as Supabase sets up the schemas PostgREST publishes, before confab
/// migrates it: the three roles, and default privileges that grant them everything on
/// what the migrations create. The policies and the migration's privileges must hold
/// against that (Supabase does this for `public`; an install there, or a `confab` schema
/// exposed through PostgREST, gets the same).
pub(crate) const SUPABASE_DEFAULTS: &str = r#"
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END LOOP;
END
$$;
CREATE SCHEMA confab;
GRANT USAGE ON SCHEMA confab TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA confab GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA confab GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA confab GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
"#;

/// A gateway on a fresh Postgres database prepared with [`SUPABASE_DEFAULTS`], or None
/// without `TEST_DATABASE_URL`.
pub(crate) async fn supabase_like() -> Option<harness::TestApp> {
    harness::postgres_prepared(SUPABASE_DEFAULTS, |_| {}).await
}

/// One table (or view) compared: the SQL key of a row as text, and the access module's
/// condition for the same rows. Adding a table is adding one entry.
struct Table {
    /// What `authenticated` selects from: a table or view name.
    relation: &'static str,
    /// The key of a row, as text, in SQL over `relation`.
    key: &'static str,
    /// The rows the gateway lets `viewer` read, as a select of the same key.
    expected: fn(&Viewer) -> SelectStatement,
}

/// `SELECT <key> AS k FROM <entity> WHERE <condition>`.
fn keys<E: sea_orm::EntityTrait>(entity: E, key: &str, condition: Condition) -> SelectStatement {
    Query::select()
        .expr_as(Expr::cust(key.to_owned()), Alias::new("k"))
        .from(entity)
        .cond_where(condition)
        .to_owned()
}

fn ids_in<E: sea_orm::EntityTrait>(
    entity: E,
    column: E::Column,
    condition: Condition,
) -> SelectStatement {
    Query::select()
        .column((entity, column))
        .from(entity)
        .cond_where(condition)
        .to_owned()
}

/// Rows only the service role reads (the public forms).
fn service_only(viewer: &Viewer) -> Condition {
    match viewer {
        Viewer::Service => Condition::all(),
        _ => Condition::all().add(Expr::cust("1 = 0")),
    }
}

const TABLES: &[Table] = &[
    Table {
        relation: "profiles",
        key: "id::text",
        expected: |v| {
            keys(
                profile::Entity,
                "profiles.id::text",
                access::readable_public_profiles(v),
            )
        },
    },
    Table {
        relation: "own_profile",
        key: "id::text || coalesce(email, '')",
        expected: |v| {
            keys(
                profile::Entity,
                "profiles.id::text || coalesce(profiles.email, '')",
                access::readable_profiles(v),
            )
        },
    },
    Table {
        relation: "settings",
        key: "user_id::text",
        expected: |v| {
            keys(
                settings::Entity,
                "settings.user_id::text",
                access::readable_settings(v),
            )
        },
    },
    Table {
        relation: "projects",
        key: "id::text",
        expected: |v| {
            keys(
                project::Entity,
                "projects.id::text",
                access::readable_projects(v),
            )
        },
    },
    Table {
        relation: "conversations",
        key: "id::text",
        expected: |v| {
            keys(
                conversation::Entity,
                "conversations.id::text",
                access::readable_conversations(v),
            )
        },
    },
    Table {
        relation: "messages",
        key: "id::text",
        expected: |v| {
            keys(
                message::Entity,
                "messages.id::text",
                access::readable_messages(v),
            )
        },
    },
    Table {
        relation: "project_conversations",
        key: "project_id::text || '/' || conversation_id::text",
        // Whoever may read both (DESIGN: "project↔chat link: whoever may read both").
        expected: |v| {
            keys(
                project_conversation::Entity,
                "project_conversations.project_id::text || '/' || project_conversations.conversation_id::text",
                Condition::all()
                    .add(
                        Expr::col((project_conversation::Entity, project_conversation::Column::ProjectId))
                            .in_subquery(ids_in(project::Entity, project::Column::Id, access::readable_projects(v))),
                    )
                    .add(
                        Expr::col((
                            project_conversation::Entity,
                            project_conversation::Column::ConversationId,
                        ))
                        .in_subquery(ids_in(
                            conversation::Entity,
                            conversation::Column::Id,
                            access::readable_conversations(v),
                        )),
                    ),
            )
        },
    },
    Table {
        relation: "teams",
        key: "id::text",
        expected: |v| keys(team::Entity, "teams.id::text", access::readable_teams(v)),
    },
    Table {
        relation: "team_members",
        key: "id::text",
        expected: |v| {
            keys(
                team_member::Entity,
                "team_members.id::text",
                access::readable_team_members(v),
            )
        },
    },
    Table {
        relation: "tasks",
        key: "id::text",
        expected: |v| keys(task::Entity, "tasks.id::text", access::readable_tasks(v)),
    },
    Table {
        relation: "task_logs",
        key: "id::text",
        expected: |v| {
            keys(
                task_log::Entity,
                "task_logs.id::text",
                access::readable_task_logs(v),
            )
        },
    },
    Table {
        relation: "goals",
        key: "id::text",
        expected: |v| keys(goal::Entity, "goals.id::text", access::readable_goals(v)),
    },
    Table {
        relation: "journal_entries",
        key: "id::text",
        expected: |v| {
            keys(
                journal_entry::Entity,
                "journal_entries.id::text",
                access::readable_journal_entries(v),
            )
        },
    },
    Table {
        relation: "progress_metrics",
        key: "id::text",
        expected: |v| {
            keys(
                progress_metric::Entity,
                "progress_metrics.id::text",
                access::readable_progress_metrics(v),
            )
        },
    },
    Table {
        relation: "workspace_files",
        key: "id::text",
        expected: |v| {
            keys(
                workspace_file::Entity,
                "workspace_files.id::text",
                access::readable_workspace_files(v),
            )
        },
    },
    Table {
        relation: "credit_accounts",
        key: "user_id::text || ':' || balance::text",
        expected: |v| {
            keys(
                credit_account::Entity,
                "credit_accounts.user_id::text || ':' || credit_accounts.balance::text",
                access::readable_credit_accounts(v),
            )
        },
    },
    Table {
        relation: "credit_transactions",
        key: "id::text",
        expected: |v| {
            keys(
                credit_transaction::Entity,
                "credit_transactions.id::text",
                access::readable_credit_transactions(v),
            )
        },
    },
    Table {
        relation: "waitlist_entries",
        key: "id::text",
        expected: |v| {
            keys(
                waitlist_entry::Entity,
                "waitlist_entries.id::text",
                access::readable_waitlist_entries(v),
            )
        },
    },
    Table {
        relation: "site_visits",
        key: "id::text",
        expected: |v| keys(site_visit::Entity, "site_visits.id::text", service_only(v)),
    },
    Table {
        relation: "stored_files",
        key: "id::text",
        expected: |v| {
            keys(
                stored_file::Entity,
                "stored_files.id::text",
                access::readable_stored_files(v),
            )
        },
    },
];

/// One membership of the random world: its id, its user, their role.
type Membership = (Uuid, Uuid, TeamRole);

/// The random world, as the test keeps it to decide what writes the gateway allows.
#[derive(Default)]
struct World {
    users: Vec<Uuid>,
    /// Each team with its memberships.
    teams: Vec<(Uuid, Vec<Membership>)>,
    projects: Vec<Uuid>,
    conversations: Vec<Uuid>,
    messages: Vec<Uuid>,
    links: BTreeSet<(Uuid, Uuid)>,
    tasks: Vec<Uuid>,
    goals: Vec<Uuid>,
    /// Rows of `stored_files` (project files, avatars, attachments).
    files: Vec<Uuid>,
}

fn role_text(role: TeamRole) -> &'static str {
    match role {
        TeamRole::Owner => "owner",
        TeamRole::Admin => "admin",
        TeamRole::Member => "member",
    }
}

async fn run(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Builds a random world of `n` users from `seed`, as the tables' owner.
async fn build_world(db: &DatabaseConnection, seed: u64, n: usize) -> World {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = World::default();
    let mut sql = String::new();
    for i in 0..n {
        let id = Uuid::new_v4();
        w.users.push(id);
        sql.push_str(&format!(
            "INSERT INTO profiles (id, email, display_name, full_name, onboarding_completed, onboarding, created_at, updated_at) \
             VALUES ('{id}', 'user{i}-{seed}@example.com', 'User {i}', 'Private Name {i}', false, '{{\"secret\": {i}}}', now(), now());\n\
             INSERT INTO settings (user_id, theme, notifications, features, updated_at) VALUES ('{id}', '{{}}', '{{}}', '{{}}', now());\n\
             INSERT INTO credit_accounts (user_id, balance, entries) VALUES ('{id}', {}, 0);\n",
            rng.random_range(0..100)
        ));
    }
    let roles = [TeamRole::Owner, TeamRole::Admin, TeamRole::Member];
    for t in 0..(n / 2).max(2) {
        let team = Uuid::new_v4();
        sql.push_str(&format!(
            "INSERT INTO teams (id, name, tier, created_at, updated_at) VALUES ('{team}', 'Team {t}', 'free', now(), now());\n"
        ));
        let size = rng.random_range(1..=n.min(4));
        let members: Vec<Uuid> = w.users.choose_multiple(&mut rng, size).copied().collect();
        let mut rows = Vec::new();
        for (k, user) in members.into_iter().enumerate() {
            let role = if k == 0 {
                TeamRole::Owner
            } else {
                *roles.choose(&mut rng).expect("roles")
            };
            let id = Uuid::new_v4();
            sql.push_str(&format!(
                "INSERT INTO team_members (id, team_id, user_id, role, is_default, joined_at) \
                 VALUES ('{id}', '{team}', '{user}', '{}', {}, now());\n",
                role_text(role),
                k == 0
            ));
            rows.push((id, user, role));
        }
        w.teams.push((team, rows));
    }
    for p in 0..2 * n {
        let id = Uuid::new_v4();
        let owner = *w.users.choose(&mut rng).expect("users");
        let team = match rng.random_range(0..10) {
            // A team the owner is in.
            0..=4 => w
                .teams
                .iter()
                .filter(|(_, rows)| rows.iter().any(|(_, u, _)| *u == owner))
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .choose(&mut rng)
                .copied(),
            // A team the owner has left (or never joined).
            5 => w.teams.choose(&mut rng).map(|(t, _)| *t),
            _ => None,
        };
        let status = ["active", "active", "active", "archived", "deleted"]
            .choose(&mut rng)
            .expect("statuses");
        let public = rng.random_bool(0.35);
        let team_sql = team.map_or("NULL".to_owned(), |t| format!("'{t}'"));
        let deleted_at = if *status == "deleted" {
            "now()"
        } else {
            "NULL"
        };
        sql.push_str(&format!(
            "INSERT INTO projects (id, owner_id, team_id, title, status, is_public, metadata, created_at, updated_at, deleted_at) \
             VALUES ('{id}', '{owner}', {team_sql}, 'Project {p}', '{status}', {public}, '{{}}', now(), now(), {deleted_at});\n"
        ));
        w.projects.push(id);
    }
    for c in 0..2 * n + 2 {
        let id = Uuid::new_v4();
        let owner = *w.users.choose(&mut rng).expect("users");
        sql.push_str(&format!(
            "INSERT INTO conversations (id, owner_id, title, metadata, created_at, updated_at) \
             VALUES ('{id}', '{owner}', 'Chat {c}', '{{}}', now(), now());\n"
        ));
        for s in 1..=rng.random_range(0..4) {
            let m = Uuid::new_v4();
            sql.push_str(&format!(
                "INSERT INTO messages (id, conversation_id, sequence, role, content, metadata, created_at, updated_at) \
                 VALUES ('{m}', '{id}', {s}, 'user', 'message {c}.{s}', '{{}}', now(), now());\n"
            ));
            w.messages.push(m);
        }
        for _ in 0..rng.random_range(0..3) {
            let p = *w.projects.choose(&mut rng).expect("projects");
            if w.links.insert((p, id)) {
                sql.push_str(&format!(
                    "INSERT INTO project_conversations (project_id, conversation_id, created_at) VALUES ('{p}', '{id}', now());\n"
                ));
            }
        }
        w.conversations.push(id);
    }
    for (i, user) in w.users.clone().into_iter().enumerate() {
        if rng.random_bool(0.7) {
            let t = Uuid::new_v4();
            sql.push_str(&format!(
                "INSERT INTO tasks (id, user_id, prompt, created_at, updated_at) VALUES ('{t}', '{user}', 'task {i}', now(), now());\n\
                 INSERT INTO task_logs (id, task_id, sequence, log_type, message, created_at) VALUES ('{}', '{t}', 1, 'info', 'started', now());\n",
                Uuid::new_v4()
            ));
            w.tasks.push(t);
        }
        if rng.random_bool(0.7) {
            let g = Uuid::new_v4();
            sql.push_str(&format!(
                "INSERT INTO goals (id, user_id, title, metadata, created_at, updated_at) VALUES ('{g}', '{user}', 'goal {i}', '{{}}', now(), now());\n"
            ));
            w.goals.push(g);
        }
        if rng.random_bool(0.6) {
            sql.push_str(&format!(
                "INSERT INTO journal_entries (id, user_id, content, tags, created_at, updated_at) VALUES ('{}', '{user}', 'dear diary {i}', '[]', now(), now());\n\
                 INSERT INTO progress_metrics (id, user_id, metric_type, value, metadata, created_at, updated_at) VALUES ('{}', '{user}', 'streak', {i}, '{{}}', now(), now());\n\
                 INSERT INTO credit_transactions (id, user_id, sequence, amount, balance_after, kind, created_at) VALUES ('{}', '{user}', 1, 5, 5, 'grant', now());\n\
                 INSERT INTO workspace_files (id, user_id, path, name, is_directory, metadata, created_at, updated_at) VALUES ('{}', '{user}', '/notes{i}', 'notes{i}', true, '{{}}', now(), now());\n\
                 INSERT INTO site_visits (id, user_id, path, created_at) VALUES ('{}', '{user}', '/pricing', now());\n",
                Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()
            ));
        }
    }
    // Stored files, as the gateway writes them (objects are not needed to read rows): a
    // file in most projects (own, team, public, archived, deleted), uploaded by its owner
    // or a teammate; avatars; attachments and recordings in most chats.
    for (k, p) in w.projects.clone().into_iter().enumerate() {
        if rng.random_bool(0.8) {
            let uploader = *w.users.choose(&mut rng).expect("users");
            let id = file_row(&mut sql, "project-files", uploader, Some(p), None, k);
            w.files.push(id);
        }
    }
    for (k, user) in w.users.clone().into_iter().enumerate() {
        if rng.random_bool(0.6) {
            let id = file_row(&mut sql, "avatars", user, None, None, k);
            w.files.push(id);
        }
    }
    for (k, c) in w.conversations.clone().into_iter().enumerate() {
        if rng.random_bool(0.6) {
            let bucket = *["attachments", "audio"].choose(&mut rng).expect("buckets");
            let uploader = *w.users.choose(&mut rng).expect("users");
            let id = file_row(&mut sql, bucket, uploader, None, Some(c), k);
            w.files.push(id);
        }
    }
    sql.push_str(&format!(
        "INSERT INTO waitlist_entries (id, email, email_key, created_at) VALUES ('{}', 'w{seed}@example.com', 'w{seed}@example.com', now());\n\
         INSERT INTO site_visits (id, path, created_at) VALUES ('{}', '/', now());\n",
        Uuid::new_v4(),
        Uuid::new_v4()
    ));
    run(db, &sql).await;
    w
}

/// Appends the insert of one `stored_files` row to `sql`; returns its id.
fn file_row(
    sql: &mut String,
    bucket: &str,
    owner: Uuid,
    project: Option<Uuid>,
    conversation: Option<Uuid>,
    k: usize,
) -> Uuid {
    let id = Uuid::new_v4();
    let or_null = |id: Option<Uuid>| id.map_or("NULL".to_owned(), |id| format!("'{id}'"));
    sql.push_str(&format!(
        "INSERT INTO stored_files (id, bucket, owner_id, project_id, conversation_id, file_name, mime_type, size_bytes, created_at) \
         VALUES ('{id}', '{bucket}', '{owner}', {}, {}, 'file{k}', 'image/png', {}, now());\n",
        or_null(project),
        or_null(conversation),
        100 + k
    ));
    id
}

/// The database role and claims PostgREST would use for `viewer`.
fn claims(viewer: &Viewer) -> (&'static str, String, String) {
    match viewer {
        Viewer::User(user) => (
            "authenticated",
            user.id.to_string(),
            serde_json::json!({ "sub": user.id, "role": "authenticated", "email": user.email })
                .to_string(),
        ),
        Viewer::Anonymous => ("anon", String::new(), r#"{"role":"anon"}"#.to_owned()),
        Viewer::Service => (
            "service_role",
            String::new(),
            r#"{"role":"service_role"}"#.to_owned(),
        ),
    }
}

/// Begins a transaction as PostgREST would run a request of `viewer`: the role, the
/// claims as settings local to the transaction, and the deferred checks made immediate
/// (a single statement's outcome is then what its commit would be).
pub(crate) async fn begin_as(db: &DatabaseConnection, viewer: &Viewer) -> DatabaseTransaction {
    let (role, sub, claims) = claims(viewer);
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        "SET LOCAL ROLE {role}; SET CONSTRAINTS ALL IMMEDIATE"
    ))
    .await
    .unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT set_config('request.jwt.claims', $1, true), \
                set_config('request.jwt.claim.sub', $2, true), \
                set_config('request.jwt.claim.role', $3, true)",
        [claims.into(), sub.into(), role.to_owned().into()],
    ))
    .await
    .unwrap();
    txn
}

async fn texts(db: &impl ConnectionTrait, statement: &SelectStatement) -> BTreeSet<String> {
    db.query_all(statement)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "k").unwrap())
        .collect()
}

async fn raw_texts(db: &impl ConnectionTrait, sql: &str) -> Result<BTreeSet<String>, String> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .map_err(|e| e.to_string())?
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).map_err(|e| e.to_string()))
    .collect()
}

async fn uuids(db: &impl ConnectionTrait, statement: &SelectStatement) -> HashSet<Uuid> {
    db.query_all(statement)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0).unwrap())
        .collect()
}

fn user_viewer(id: Uuid) -> Viewer {
    Viewer::User(UserClaims {
        id,
        email: Some(format!("{id}@token.example.com")),
        is_anonymous: false,
    })
}

/// One write tried as a user: the statement and whether the gateway allows it.
struct Attempt {
    what: String,
    sql: String,
    allowed: bool,
}

/// Tries `attempt` inside a savepoint and undoes it: allowed when the statement raised no
/// error and changed at least one row.
async fn try_write(txn: &DatabaseTransaction, attempt: &Attempt) -> Result<u64, String> {
    txn.execute_unprepared("SAVEPOINT attempt").await.unwrap();
    let outcome = txn
        .execute_unprepared(&attempt.sql)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| e.to_string());
    txn.execute_unprepared("ROLLBACK TO SAVEPOINT attempt")
        .await
        .unwrap();
    outcome
}

/// The writes a user tries, each with the gateway's answer, from the access module's
/// conditions (as the tables' owner) and the team rules (`TeamPowers`, last OWNER).
async fn attempts_of(db: &DatabaseConnection, w: &World, me: Uuid) -> Vec<Attempt> {
    let viewer = user_viewer(me);
    let editable_projects = uuids(
        db,
        &ids_in(
            project::Entity,
            project::Column::Id,
            access::editable_projects(&viewer),
        ),
    )
    .await;
    let deletable_projects = uuids(
        db,
        &ids_in(
            project::Entity,
            project::Column::Id,
            access::deletable_projects(&viewer),
        ),
    )
    .await;
    let editable_chats = uuids(
        db,
        &ids_in(
            conversation::Entity,
            conversation::Column::Id,
            access::editable_conversations(&viewer),
        ),
    )
    .await;
    let editable_messages = uuids(
        db,
        &ids_in(
            message::Entity,
            message::Column::Id,
            access::editable_messages(&viewer),
        ),
    )
    .await;
    let editable_tasks = uuids(
        db,
        &ids_in(
            task::Entity,
            task::Column::Id,
            access::editable_tasks(&viewer),
        ),
    )
    .await;
    let editable_goals = uuids(
        db,
        &ids_in(
            goal::Entity,
            goal::Column::Id,
            access::editable_goals(&viewer),
        ),
    )
    .await;
    let other = *w.users.iter().find(|u| **u != me).expect("two users");
    let mut list = Vec::new();
    let mut add =
        |what: String, sql: String, allowed: bool| list.push(Attempt { what, sql, allowed });

    for p in &w.projects {
        add(
            format!("update project {p}"),
            format!("UPDATE projects SET title = title || '!' WHERE id = '{p}'"),
            editable_projects.contains(p),
        );
        add(
            format!("delete/restore project {p} by status"),
            format!("UPDATE projects SET status = CASE WHEN status = 'deleted' THEN 'active' ELSE 'deleted' END WHERE id = '{p}'"),
            deletable_projects.contains(p),
        );
        add(
            format!("take project {p}"),
            format!("UPDATE projects SET owner_id = '{me}' WHERE id = '{p}'"),
            false,
        );
        add(
            format!("move project {p} out of its team"),
            format!("UPDATE projects SET team_id = NULL WHERE id = '{p}'"),
            false,
        );
        add(
            format!("delete project {p}"),
            format!("DELETE FROM projects WHERE id = '{p}'"),
            deletable_projects.contains(p),
        );
    }
    add("create own project".into(), insert_project(me, None), true);
    add(
        "create a project for someone else".into(),
        insert_project(other, None),
        false,
    );
    for (team, rows) in &w.teams {
        let my_role = rows.iter().find(|(_, u, _)| *u == me).map(|(_, _, r)| *r);
        let owners = rows
            .iter()
            .filter(|(_, _, r)| *r == TeamRole::Owner)
            .count();
        let powers = TeamPowers::of(&viewer, my_role);
        add(
            format!("create a project in team {team}"),
            insert_project(me, Some(*team)),
            my_role.is_some(),
        );
        add(
            format!("rename team {team}"),
            format!("UPDATE teams SET name = name || '!' WHERE id = '{team}'"),
            powers.is_some_and(|p| p.manages_members()),
        );
        add(
            format!("change the tier of team {team}"),
            format!("UPDATE teams SET tier = 'enterprise' WHERE id = '{team}'"),
            false,
        );
        add(
            format!("delete team {team}"),
            format!("DELETE FROM teams WHERE id = '{team}'"),
            powers.is_some_and(|p| p.deletes_team()),
        );
        for (row, user, role) in rows {
            let last_owner = *role == TeamRole::Owner && owners == 1;
            let manages_target = powers.is_some_and(|p| p.manages_members() && p.may_act_on(*role));
            add(
                format!("remove {} {user} from {team}", role_text(*role)),
                format!("DELETE FROM team_members WHERE id = '{row}'"),
                (*user == me || manages_target) && !last_owner,
            );
            for new_role in [TeamRole::Owner, TeamRole::Admin, TeamRole::Member] {
                if new_role == *role {
                    continue;
                }
                add(
                    format!(
                        "make {} {user} {} in {team}",
                        role_text(*role),
                        role_text(new_role)
                    ),
                    format!(
                        "UPDATE team_members SET role = '{}' WHERE id = '{row}'",
                        role_text(new_role)
                    ),
                    manages_target && powers.is_some_and(|p| p.may_act_on(new_role)) && !last_owner,
                );
            }
            add(
                format!("flip the default flag of {user} in {team}"),
                format!("UPDATE team_members SET is_default = NOT is_default WHERE id = '{row}'"),
                *user == me,
            );
            add(
                format!("move membership {row} to another user"),
                format!("UPDATE team_members SET user_id = '{me}' WHERE id = '{row}'"),
                false,
            );
        }
        if let Some(outsider) = w
            .users
            .iter()
            .find(|u| !rows.iter().any(|(_, m, _)| m == *u))
        {
            for role in [TeamRole::Owner, TeamRole::Admin, TeamRole::Member] {
                add(
                    format!("add {outsider} to {team} as {}", role_text(role)),
                    format!(
                        "INSERT INTO team_members (id, team_id, user_id, role, is_default, joined_at) \
                         VALUES ('{}', '{team}', '{outsider}', '{}', false, now())",
                        Uuid::new_v4(),
                        role_text(role)
                    ),
                    powers.is_some_and(|p| p.manages_members() && p.may_act_on(role)),
                );
            }
        }
        if my_role.is_none() {
            add(
                format!("join team {team} as its OWNER"),
                format!(
                    "INSERT INTO team_members (id, team_id, user_id, role, is_default, joined_at) \
                     VALUES ('{}', '{team}', '{me}', 'owner', false, now())",
                    Uuid::new_v4()
                ),
                false,
            );
        }
    }
    for c in &w.conversations {
        add(
            format!("update chat {c}"),
            format!("UPDATE conversations SET title = 'renamed' WHERE id = '{c}'"),
            editable_chats.contains(c),
        );
        add(
            format!("take chat {c}"),
            format!("UPDATE conversations SET owner_id = '{me}' WHERE id = '{c}'"),
            false,
        );
        add(
            format!("delete chat {c}"),
            format!("DELETE FROM conversations WHERE id = '{c}'"),
            editable_chats.contains(c),
        );
        add(
            format!("write into chat {c}"),
            format!(
                "INSERT INTO messages (id, conversation_id, sequence, role, content, metadata, created_at, updated_at) \
                 VALUES ('{}', '{c}', 1000, 'user', 'forged', '{{}}', now(), now())",
                Uuid::new_v4()
            ),
            editable_chats.contains(c),
        );
        for p in &w.projects {
            if w.links.contains(&(*p, *c)) {
                add(
                    format!("unfile chat {c} from {p}"),
                    format!("DELETE FROM project_conversations WHERE project_id = '{p}' AND conversation_id = '{c}'"),
                    editable_chats.contains(c) && editable_projects.contains(p),
                );
            } else {
                add(
                    format!("file chat {c} in {p}"),
                    format!("INSERT INTO project_conversations (project_id, conversation_id, created_at) VALUES ('{p}', '{c}', now())"),
                    editable_chats.contains(c) && editable_projects.contains(p),
                );
            }
        }
    }
    add(
        "create a chat for someone else".into(),
        format!(
            "INSERT INTO conversations (id, owner_id, metadata, created_at, updated_at) VALUES ('{}', '{other}', '{{}}', now(), now())",
            Uuid::new_v4()
        ),
        false,
    );
    for m in &w.messages {
        add(
            format!("edit message {m}"),
            format!("UPDATE messages SET content = 'edited' WHERE id = '{m}'"),
            editable_messages.contains(m),
        );
        add(
            format!("delete message {m}"),
            format!("DELETE FROM messages WHERE id = '{m}'"),
            editable_messages.contains(m),
        );
    }
    for t in &w.tasks {
        add(
            format!("update task {t}"),
            format!("UPDATE tasks SET progress = 50 WHERE id = '{t}'"),
            editable_tasks.contains(t),
        );
        add(
            format!("log on task {t}"),
            format!(
                "INSERT INTO task_logs (id, task_id, sequence, log_type, message, created_at) VALUES ('{}', '{t}', 99, 'info', 'x', now())",
                Uuid::new_v4()
            ),
            editable_tasks.contains(t),
        );
        add(
            format!("give task {t} away"),
            format!("UPDATE tasks SET user_id = '{other}' WHERE id = '{t}'"),
            false,
        );
    }
    for g in &w.goals {
        add(
            format!("update goal {g}"),
            format!("UPDATE goals SET progress = 10 WHERE id = '{g}'"),
            editable_goals.contains(g),
        );
    }
    for u in &w.users {
        add(
            format!("rename profile {u}"),
            format!("UPDATE profiles SET display_name = 'renamed' WHERE id = '{u}'"),
            *u == me,
        );
        add(
            format!("change the email of {u}"),
            format!("UPDATE profiles SET email = 'new-hire@acme.com' WHERE id = '{u}'"),
            false,
        );
        add(
            format!("change the balance of {u}"),
            format!("UPDATE credit_accounts SET balance = 1000000 WHERE user_id = '{u}'"),
            false,
        );
        add(
            format!("change settings of {u}"),
            format!("UPDATE settings SET model = 'x' WHERE user_id = '{u}'"),
            *u == me,
        );
    }
    // Stored files: RLS grants users no writes. A row names an object in the store; the
    // gateway writes the object before the row and removes it after the row
    // (`deleteProjectFile`, `deleteChatAttachment`, `uploadAvatar`), so a direct insert
    // or delete, or a changed bucket, size, owner or parent, would part rows from objects.
    for f in &w.files {
        for (what, set) in [
            ("rename", "file_name = 'renamed'"),
            ("take", "owner_id = 'ME'"),
            ("resize", "size_bytes = 1"),
            ("move to another bucket", "bucket = 'avatars'"),
            ("retype", "mime_type = 'text/html'"),
            ("detach", "project_id = NULL, conversation_id = NULL"),
        ] {
            add(
                format!("{what} stored file {f}"),
                format!(
                    "UPDATE stored_files SET {} WHERE id = '{f}'",
                    set.replace("ME", &me.to_string())
                ),
                false,
            );
        }
        add(
            format!("delete the row of stored file {f}"),
            format!("DELETE FROM stored_files WHERE id = '{f}'"),
            false,
        );
    }
    for p in &w.projects {
        add(
            format!("insert a file row into project {p}"),
            insert_stored_file("project-files", me, Some(*p), None),
            false,
        );
    }
    for c in &w.conversations {
        add(
            format!("insert an attachment row into chat {c}"),
            insert_stored_file("attachments", me, None, Some(*c)),
            false,
        );
    }
    add(
        "insert an avatar row".into(),
        insert_stored_file("avatars", me, None, None),
        false,
    );
    add(
        "change own email through own_profile".into(),
        format!("UPDATE own_profile SET email = 'new-hire@acme.com' WHERE id = '{me}'"),
        false,
    );
    add(
        "publish a realtime event".into(),
        "SELECT confab_publish('[]')".to_owned(),
        false,
    );
    add(
        "delete own settings".into(),
        format!("DELETE FROM settings WHERE user_id = '{me}'"),
        false,
    );
    add(
        "delete own progress".into(),
        format!("DELETE FROM progress_metrics WHERE user_id = '{me}'"),
        false,
    );
    add(
        "rewrite own task logs".into(),
        format!("UPDATE task_logs SET message = 'x' WHERE task_id IN (SELECT id FROM tasks WHERE user_id = '{me}')"),
        false,
    );
    add(
        "write own ledger".into(),
        format!(
            "INSERT INTO credit_transactions (id, user_id, sequence, amount, balance_after, kind, created_at) VALUES ('{}', '{me}', 50, 1000, 1000, 'grant', now())",
            Uuid::new_v4()
        ),
        false,
    );
    add(
        "create a profile".into(),
        format!(
            "INSERT INTO profiles (id, email, onboarding, created_at, updated_at) VALUES ('{}', 'x@example.com', '{{}}', now(), now())",
            Uuid::new_v4()
        ),
        false,
    );
    add(
        "create own goal".into(),
        format!("INSERT INTO goals (id, user_id, title, metadata, created_at, updated_at) VALUES ('{}', '{me}', 'g', '{{}}', now(), now())", Uuid::new_v4()),
        true,
    );
    add(
        "create a goal for someone else".into(),
        format!("INSERT INTO goals (id, user_id, title, metadata, created_at, updated_at) VALUES ('{}', '{other}', 'g', '{{}}', now(), now())", Uuid::new_v4()),
        false,
    );
    add(
        "create a team".into(),
        format!("INSERT INTO teams (id, name, tier, created_at, updated_at) VALUES ('{}', 'new', 'free', now(), now())", Uuid::new_v4()),
        true,
    );
    let new_team = Uuid::new_v4();
    add(
        "create a team and enter it as its OWNER".into(),
        format!(
            "INSERT INTO teams (id, name, tier, created_at, updated_at) VALUES ('{new_team}', 'mine', 'free', now(), now()); \
             INSERT INTO team_members (id, team_id, user_id, role, is_default, joined_at) \
             VALUES ('{}', '{new_team}', '{me}', 'owner', false, now())",
            Uuid::new_v4()
        ),
        true,
    );
    add(
        "join the waitlist".into(),
        format!(
            "INSERT INTO waitlist_entries (id, email, email_key, created_at) VALUES ('{}', '{me}@w.example.com', '{me}@w.example.com', now())",
            Uuid::new_v4()
        ),
        true,
    );
    list
}

/// The writes the anonymous tries: the public forms only.
fn anonymous_attempts(w: &World) -> Vec<Attempt> {
    let user = w.users[0];
    let attempt = |what: &str, sql: String, allowed: bool| Attempt {
        what: what.to_owned(),
        sql,
        allowed,
    };
    let mut list = vec![
        attempt(
            "join the waitlist",
            format!(
                "INSERT INTO waitlist_entries (id, email, email_key, created_at) \
                 VALUES ('{}', 'anon@w.example.com', 'anon@w.example.com', now())",
                Uuid::new_v4()
            ),
            true,
        ),
        attempt(
            "record an anonymous visit",
            format!(
                "INSERT INTO site_visits (id, path, created_at) VALUES ('{}', '/', now())",
                Uuid::new_v4()
            ),
            true,
        ),
        attempt(
            "record a visit as a user",
            format!(
                "INSERT INTO site_visits (id, user_id, path, created_at) VALUES ('{}', '{user}', '/', now())",
                Uuid::new_v4()
            ),
            false,
        ),
        attempt("create a project", insert_project(user, None), false),
        attempt(
            "create a team",
            format!(
                "INSERT INTO teams (id, name, tier, created_at, updated_at) VALUES ('{}', 'x', 'free', now(), now())",
                Uuid::new_v4()
            ),
            false,
        ),
        attempt("publish a realtime event", "SELECT confab_publish('[]')".to_owned(), false),
    ];
    for p in &w.projects {
        list.push(attempt(
            "update a project",
            format!("UPDATE projects SET title = 'x' WHERE id = '{p}'"),
            false,
        ));
        list.push(attempt(
            "insert a file row into a project",
            insert_stored_file("project-files", user, Some(*p), None),
            false,
        ));
    }
    for f in &w.files {
        list.push(attempt(
            "rename a stored file",
            format!("UPDATE stored_files SET file_name = 'x' WHERE id = '{f}'"),
            false,
        ));
        list.push(attempt(
            "delete the row of a stored file",
            format!("DELETE FROM stored_files WHERE id = '{f}'"),
            false,
        ));
    }
    list.push(attempt(
        "insert an avatar row",
        insert_stored_file("avatars", user, None, None),
        false,
    ));
    list
}

fn insert_stored_file(
    bucket: &str,
    owner: Uuid,
    project: Option<Uuid>,
    conversation: Option<Uuid>,
) -> String {
    let or_null = |id: Option<Uuid>| id.map_or("NULL".to_owned(), |id| format!("'{id}'"));
    format!(
        "INSERT INTO stored_files (id, bucket, owner_id, project_id, conversation_id, file_name, mime_type, size_bytes, created_at) \
         VALUES ('{}', '{bucket}', '{owner}', {}, {}, 'forged', 'image/png', 1, now())",
        Uuid::new_v4(),
        or_null(project),
        or_null(conversation)
    )
}

fn insert_project(owner: Uuid, team: Option<Uuid>) -> String {
    let team = team.map_or("NULL".to_owned(), |t| format!("'{t}'"));
    format!(
        "INSERT INTO projects (id, owner_id, team_id, title, status, is_public, metadata, created_at, updated_at) \
         VALUES ('{}', '{owner}', {team}, 'new', 'active', false, '{{}}', now(), now())",
        Uuid::new_v4()
    )
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_policies_show_and_allow_exactly_what_the_access_module_does() {
    let Some(app) = supabase_like().await else {
        return;
    };
    let seed = env_number("CONFAB_RLS_PARITY_SEED", 11);
    let n = usize::try_from(env_number("CONFAB_RLS_PARITY_USERS", 6)).expect("a size");
    assert!(n >= 2, "the world needs two users at least");
    let world = build_world(&app.db, seed, n).await;

    let mut viewers: Vec<Viewer> = world.users.iter().map(|u| user_viewer(*u)).collect();
    viewers.push(Viewer::Anonymous);
    viewers.push(Viewer::Service);
    let mut mismatches = Vec::new();
    let mut compared = HashMap::<&str, (usize, usize)>::new();
    for viewer in &viewers {
        for table in TABLES {
            let expected = texts(&app.db, &(table.expected)(viewer)).await;
            let txn = begin_as(&app.db, viewer).await;
            let visible = raw_texts(
                &txn,
                &format!("SELECT {} FROM {}", table.key, table.relation),
            )
            .await;
            txn.rollback().await.unwrap();
            let entry = compared.entry(table.relation).or_default();
            entry.0 += 1;
            entry.1 += expected.len();
            match visible {
                Ok(visible) if visible == expected => {}
                Ok(visible) => mismatches.push(format!(
                    "{viewer:?} on {}: RLS shows {:?} more and {:?} fewer rows than the gateway",
                    table.relation,
                    visible.difference(&expected).collect::<Vec<_>>(),
                    expected.difference(&visible).collect::<Vec<_>>()
                )),
                // Anonymous and authenticated may lack a privilege where the gateway shows
                // nothing: that is the same answer.
                Err(error) if expected.is_empty() && error.contains("permission denied") => {}
                Err(error) => mismatches.push(format!("{viewer:?} on {}: {error}", table.relation)),
            }
        }
    }
    let read_mismatches = mismatches.len();
    // The world is not trivial: every table has rows some viewer reads.
    for table in TABLES {
        assert!(
            compared[table.relation].1 > 0,
            "no viewer reads any row of {}",
            table.relation
        );
    }

    let mut tried = 0;
    let mut allowed = 0;
    let mut writers: Vec<(Viewer, Vec<Attempt>)> =
        vec![(Viewer::Anonymous, anonymous_attempts(&world))];
    for me in &world.users {
        writers.push((user_viewer(*me), attempts_of(&app.db, &world, *me).await));
    }
    for (viewer, attempts) in &writers {
        let me = match viewer {
            Viewer::User(user) => user.id.to_string(),
            _ => "anonymous".to_owned(),
        };
        let txn = begin_as(&app.db, viewer).await;
        for attempt in attempts {
            let outcome = try_write(&txn, attempt).await;
            let succeeded = matches!(outcome, Ok(rows) if rows > 0);
            if succeeded != attempt.allowed {
                mismatches.push(format!(
                    "{me}: {} ({}) -> {outcome:?}, the gateway {}",
                    attempt.what,
                    attempt.sql,
                    if attempt.allowed {
                        "allows it"
                    } else {
                        "refuses it"
                    }
                ));
            }
            tried += 1;
            allowed += usize::from(attempt.allowed);
        }
        txn.rollback().await.unwrap();
    }
    assert!(
        mismatches.is_empty(),
        "RLS and the gateway differ (seed {seed}, {n} users) on {read_mismatches} reads and {} writes:\n{}",
        mismatches.len() - read_mismatches,
        mismatches.join("\n")
    );
    assert!(
        allowed > 0 && allowed < tried,
        "{allowed} of {tried} writes allowed"
    );
    eprintln!(
        "rls parity: seed {seed}, {n} users, {} tables, {tried} writes ({allowed} allowed)",
        TABLES.len()
    );
}
