//! Postgres Row Level Security says what the gateway says, for other clients.

use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::harness;

const PROJECT_TITLE: &str = "query($p: UUID!) { project(id: $p) { title } }";

/// Runs `sql` as an unprivileged role with the given JWT claims, like PostgREST would.
pub(crate) async fn as_claims(
    txn: &DatabaseTransaction,
    role: &str,
    sub: Option<Uuid>,
    jwt_role: &str,
) {
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await
        .unwrap();
    let sub = sub.map(|s| s.to_string()).unwrap_or_default();
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT set_config('request.jwt.claim.sub', $1, true), set_config('request.jwt.claim.role', $2, true)",
        [sub.into(), jwt_role.to_owned().into()],
    ))
    .await
    .unwrap();
}

pub(crate) async fn strings(txn: &DatabaseTransaction, sql: &str) -> Vec<String> {
    let mut values: Vec<String> = txn
        .query_all_raw(Statement::from_string(
            txn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect();
    values.sort();
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_policies_refuse_what_the_gateway_refuses() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let private = app.create_project(&alice, "alice private", false).await;
    app.create_project(&alice, "alice public", true).await;
    let chat = app.create_chat(&alice, "alice chat", Some(private)).await;
    app.send(&alice, chat, "secret").await;
    app.create_project(&bob, "bob private", false).await;

    let role = format!("confab_probe_{}", Uuid::new_v4().simple());
    app.db
        .execute_unprepared(&format!(
            "CREATE ROLE {role} NOLOGIN; \
             GRANT USAGE ON SCHEMA confab, auth TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA confab TO {role}; \
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO {role};"
        ))
        .await
        .unwrap();

    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, Some(bob.id), "authenticated").await;
    assert_eq!(
        strings(&txn, "SELECT title FROM projects").await,
        vec!["alice public", "bob private"]
    );
    assert!(strings(&txn, "SELECT title FROM conversations")
        .await
        .is_empty());
    assert!(strings(&txn, "SELECT content FROM messages")
        .await
        .is_empty());
    let changed = txn
        .execute_unprepared(&format!(
            "UPDATE projects SET title = 'owned' WHERE id = '{private}'"
        ))
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let insert = txn
        .execute_unprepared(&format!(
            "INSERT INTO projects (id, owner_id, title, status, is_public, metadata, created_at, updated_at) \
             VALUES ('{}', '{}', 'forged', 'active', false, '{{}}', now(), now())",
            Uuid::new_v4(),
            alice.id
        ))
        .await;
    assert!(
        insert.is_err(),
        "a row owned by someone else cannot be inserted"
    );
    txn.rollback().await.unwrap();

    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, Some(alice.id), "authenticated").await;
    assert_eq!(
        strings(&txn, "SELECT content FROM messages").await,
        vec!["secret"]
    );
    assert_eq!(
        strings(&txn, "SELECT title FROM projects").await,
        vec!["alice private", "alice public"]
    );
    txn.rollback().await.unwrap();

    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, None, "anon").await;
    assert_eq!(
        strings(&txn, "SELECT title FROM projects").await,
        vec!["alice public"]
    );
    // Only the owner of a public project is visible, as a public profile.
    assert_eq!(
        strings(&txn, "SELECT id::text FROM profiles").await,
        vec![alice.id.to_string()]
    );
    txn.rollback().await.unwrap();

    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, None, "service_role").await;
    assert_eq!(strings(&txn, "SELECT title FROM projects").await.len(), 3);
    txn.rollback().await.unwrap();

    // Nothing above changed A's data.
    let data = app.ok(&alice, PROJECT_TITLE, json!({ "p": private })).await;
    assert_eq!(data["project"]["title"], json!("alice private"));
    app.db
        .execute_unprepared(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await
        .unwrap();
}
