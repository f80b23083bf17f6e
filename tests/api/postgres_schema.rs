//! confab's own schema on Postgres: installed beside a Supabase-shaped project it leaves
//! `public` alone, follows `auth.users` deletions, keeps an earlier install in `public`
//! working, and a failing migration leaves nothing of itself behind. Postgres only.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::documents::VIEWER_PROJECT_IDS;
use crate::harness::{self, TestApp};

/// What a Supabase project has before confab arrives: Auth's schema, table and functions,
/// and the usual `public.profiles` with its signup trigger (Supabase's own quickstart).
const SUPABASE_PROJECT: &str = r#"
CREATE SCHEMA auth;
CREATE TABLE auth.users (
  id uuid PRIMARY KEY,
  email text,
  raw_user_meta_data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(coalesce(current_setting('request.jwt.claim.sub', true),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')), '')::uuid
$$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT nullif(coalesce(current_setting('request.jwt.claim.role', true),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')), '')::text
$$;
CREATE TABLE public.profiles (
  id uuid NOT NULL REFERENCES auth.users ON DELETE CASCADE,
  updated_at timestamptz,
  username text UNIQUE,
  avatar_url text,
  PRIMARY KEY (id)
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Public profiles are viewable by everyone." ON public.profiles
  FOR SELECT USING (true);
CREATE POLICY "Users can update own profile." ON public.profiles
  FOR UPDATE USING (auth.uid() = id);
CREATE FUNCTION public.handle_new_user() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
  INSERT INTO public.profiles (id, username) VALUES (new.id, new.raw_user_meta_data ->> 'username');
  RETURN new;
END;
$$;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE PROCEDURE public.handle_new_user();
"#;

/// Every relation, function, policy and trigger in `public`, one per line.
const PUBLIC_OBJECTS: &str = r#"
SELECT kind || ' ' || name FROM (
  SELECT 'relation' AS kind, c.relname::text AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
  UNION ALL
  SELECT 'function', p.proname::text FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
  UNION ALL
  SELECT 'policy', tablename || '.' || policyname FROM pg_policies WHERE schemaname = 'public'
  UNION ALL
  SELECT 'trigger', t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal
) objects ORDER BY 1
"#;

async fn strings(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> Vec<String> {
    db.query_all_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).unwrap())
    .collect()
}

async fn count(db: &DatabaseConnection, sql: &str, id: Uuid) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [id.into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap()
}

/// A database of its own with `fixture` applied, and no gateway: dropped with [`Scratch::drop_now`].
struct Scratch {
    admin: DatabaseConnection,
    name: String,
    url: String,
    db: DatabaseConnection,
}

impl Scratch {
    async fn new(fixture: &str) -> Option<Scratch> {
        let admin_url = harness::postgres_admin_url()?;
        let name = format!("confab_scratch_{}", Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let url = harness::with_database(&admin_url, &name);
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared(fixture).await.unwrap();
        Some(Scratch {
            admin,
            name,
            url,
            db,
        })
    }

    async fn drop_now(self) {
        self.db.close().await.unwrap();
        let name = self.name;
        self.admin
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .unwrap();
    }
}

/// A fixture's database, before confab: `public`'s objects.
async fn public_before_confab() -> Vec<String> {
    let Some(scratch) = Scratch::new(SUPABASE_PROJECT).await else {
        return Vec::new();
    };
    let objects = strings(&scratch.db, PUBLIC_OBJECTS, vec![]).await;
    scratch.drop_now().await;
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_beside_a_supabase_project_and_follows_its_users() {
    let Some(app) = harness::postgres_prepared(SUPABASE_PROJECT, |_| {}).await else {
        return;
    };
    // `public` holds what the project put there, and nothing of confab's.
    let before = public_before_confab().await;
    assert!(
        before.contains(&"relation profiles".to_owned()),
        "{before:?}"
    );
    assert_eq!(strings(&app.db, PUBLIC_OBJECTS, vec![]).await, before);
    let confab_tables = strings(
        &app.db,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'confab' ORDER BY 1",
        vec![],
    )
    .await;
    for table in [
        "profiles",
        "projects",
        "messages",
        "teams",
        "seaql_migrations",
    ] {
        assert!(
            confab_tables.contains(&table.to_owned()),
            "{confab_tables:?}"
        );
    }

    // A user signs up with Supabase Auth, then uses confab.
    let alice = harness::user("alice");
    app.db
        .execute_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES ($1, $2, '{\"username\": \"alice\"}')",
            [alice.id.into(), alice.email.clone().into()],
        ))
        .await
        .unwrap();
    let project = app.create_project(&alice, "Beside Supabase", false).await;
    let chat = app.create_chat(&alice, "A chat", Some(project)).await;
    app.send(&alice, chat, "hello").await;
    let data = app.ok(&alice, VIEWER_PROJECT_IDS, json!({})).await;
    assert_eq!(
        data["viewer"]["projects"]["nodes"],
        json!([{ "id": project }])
    );
    let owned = "SELECT count(*) FROM confab.projects WHERE owner_id = $1";
    assert_eq!(count(&app.db, owned, alice.id).await, 1);
    let messages = "SELECT count(*) FROM confab.messages m JOIN confab.conversations c \
                    ON c.id = m.conversation_id WHERE c.owner_id = $1";
    assert_eq!(count(&app.db, messages, alice.id).await, 1);
    let supabase_profile = "SELECT count(*) FROM public.profiles WHERE id = $1";
    assert_eq!(count(&app.db, supabase_profile, alice.id).await, 1);

    // Deleting the user in Supabase removes their confab data too.
    app.db
        .execute_raw(Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "DELETE FROM auth.users WHERE id = $1",
            [alice.id.into()],
        ))
        .await
        .unwrap();
    let profile = "SELECT count(*) FROM confab.profiles WHERE id = $1";
    assert_eq!(count(&app.db, profile, alice.id).await, 0);
    assert_eq!(count(&app.db, owned, alice.id).await, 0);
    assert_eq!(count(&app.db, messages, alice.id).await, 0);
    assert_eq!(count(&app.db, supabase_profile, alice.id).await, 0);
}

async fn relation_exists(app: &TestApp, name: &str) -> bool {
    !strings(
        &app.db,
        "SELECT coalesce(to_regclass($1)::text, '') WHERE to_regclass($1) IS NOT NULL",
        vec![name.into()],
    )
    .await
    .is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_install_in_public_keeps_working() {
    // An earlier version migrated into `public`: as this one does with that schema.
    let Some(earlier) = harness::postgres_with(|s| s.database_schema = "public".into()).await
    else {
        return;
    };
    let alice = harness::user("alice");
    let project = earlier.create_project(&alice, "From before", false).await;
    assert!(relation_exists(&earlier, "public.projects").await);

    // This version, with its default schema, finds and keeps that install.
    let now = earlier.another_gateway(|_| {}).await;
    let data = now.ok(&alice, VIEWER_PROJECT_IDS, json!({})).await;
    assert_eq!(
        data["viewer"]["projects"]["nodes"],
        json!([{ "id": project }])
    );
    let later = now.create_project(&alice, "From now", false).await;
    let owned = "SELECT count(*) FROM public.projects WHERE owner_id = $1";
    assert_eq!(count(&now.db, owned, alice.id).await, 2);
    assert!(!relation_exists(&now, "confab.projects").await);
    let schemas = strings(
        &now.db,
        "SELECT nspname::text FROM pg_namespace WHERE nspname = 'confab'",
        vec![],
    )
    .await;
    assert!(schemas.is_empty(), "no confab schema was made: {schemas:?}");
    assert_ne!(later, project);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_leaves_nothing_of_itself() {
    // `team_members` already exists in confab's schema: the teams migration, which creates
    // `teams` first, fails at it and must take `teams` back with it.
    let fixture = "CREATE SCHEMA confab; CREATE TABLE confab.team_members (x int);";
    let Some(scratch) = Scratch::new(fixture).await else {
        return;
    };
    let db = &scratch.db;
    let settings = confab::config::Settings::for_database(&scratch.url);
    let connected = confab::app::connect(&settings).await.unwrap();
    let err = confab::db::migrate(&connected.conn)
        .await
        .expect_err("the teams migration fails");
    assert!(err.to_string().contains("team_members"), "{err}");
    connected.conn.close().await.unwrap();

    let applied = strings(
        db,
        "SELECT version::text FROM confab.seaql_migrations ORDER BY 1",
        vec![],
    )
    .await;
    assert_eq!(
        applied,
        ["m20261122_000001_core", "m20261122_000002_core_policies"]
    );
    let leftovers = strings(
        db,
        "SELECT coalesce(to_regclass('confab.teams')::text, 'none')",
        vec![],
    )
    .await;
    assert_eq!(leftovers, ["none"], "teams was rolled back");
    scratch.drop_now().await;
}
