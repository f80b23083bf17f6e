//! Postgres Row Level Security on the [wellness], [credits] and [public] tables says what
//! the gateway says, for other clients.

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::harness;
use crate::policies::{as_claims, strings};

const CREATE_ALICE_GOAL: &str = r#"mutation { createGoal(input: {title: "alice goal"}) { id } }"#;

const CREATE_ALICE_DIARY_ENTRY: &str = r#"
    mutation {
        createJournalEntry(input: {content: "alice diary"}) { id }
    }
"#;

const INCREMENT_ALICE_METRIC: &str = r#"
    mutation {
        incrementProgress(metricType: "alice metric") { id }
    }
"#;

const CREATE_BOB_GOAL: &str = r#"mutation { createGoal(input: {title: "bob goal"}) { id } }"#;

const GRANT_TEN_CREDITS: &str = r#"
    mutation($u: UUID!) {
        grantCredits(input: {userId: $u, amount: 10, idempotencyKey: "k"}) { id }
    }
"#;

const JOIN_WAITLIST: &str = r#"mutation { joinWaitlist(email: "w@example.com") }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_policies_cover_wellness_credits_and_public_tables() {
    let Some(app) = harness::postgres().await else {
        return;
    };
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let service = harness::service_token();
    app.ok(&alice, CREATE_ALICE_GOAL, json!({})).await;
    app.ok(&alice, CREATE_ALICE_DIARY_ENTRY, json!({})).await;
    app.ok(&alice, INCREMENT_ALICE_METRIC, json!({})).await;
    app.ok(&bob, CREATE_BOB_GOAL, json!({})).await;
    app.post(Some(&service), GRANT_TEN_CREDITS, json!({ "u": alice.id }))
        .await
        .data();
    app.post(None, JOIN_WAITLIST, json!({})).await.data();

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

    // Bob sees his own rows only and cannot change Alice's.
    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, Some(bob.id), "authenticated").await;
    assert_eq!(
        strings(&txn, "SELECT title FROM goals").await,
        vec!["bob goal"]
    );
    assert!(strings(&txn, "SELECT content FROM journal_entries")
        .await
        .is_empty());
    assert!(strings(&txn, "SELECT metric_type FROM progress_metrics")
        .await
        .is_empty());
    assert_eq!(
        strings(&txn, "SELECT user_id::text FROM credit_accounts").await,
        vec![bob.id.to_string()]
    );
    assert!(strings(&txn, "SELECT id::text FROM credit_transactions")
        .await
        .is_empty());
    assert!(strings(&txn, "SELECT email FROM waitlist_entries")
        .await
        .is_empty());
    let changed = txn
        .execute_unprepared("UPDATE goals SET title = 'owned'")
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1, "only Bob's own goal");
    txn.rollback().await.unwrap();

    // Alice reads her account and ledger but cannot write them herself.
    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, Some(alice.id), "authenticated").await;
    assert_eq!(
        strings(&txn, "SELECT balance::text FROM credit_accounts").await,
        vec!["10"]
    );
    assert_eq!(
        strings(&txn, "SELECT kind FROM credit_transactions").await,
        vec!["grant"]
    );
    assert_eq!(
        strings(&txn, "SELECT content FROM journal_entries").await,
        vec!["alice diary"]
    );
    let changed = txn
        .execute_unprepared("UPDATE credit_accounts SET balance = 1000000")
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let forged = txn
        .execute_unprepared(&format!(
            "INSERT INTO credit_transactions (id, user_id, sequence, amount, balance_after, kind, created_at) \
             VALUES ('{}', '{}', 99, 1000, 1000, 'grant', now())",
            Uuid::new_v4(),
            alice.id
        ))
        .await;
    assert!(forged.is_err(), "a user cannot write their own ledger");
    txn.rollback().await.unwrap();

    // The anonymous may join the waitlist and record visits, not read them.
    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, None, "anon").await;
    txn.execute_unprepared(&format!(
        "INSERT INTO waitlist_entries (id, email, email_key, created_at) VALUES ('{}', 'n@example.com', 'n@example.com', now())",
        Uuid::new_v4()
    ))
    .await
    .unwrap();
    txn.execute_unprepared(&format!(
        "INSERT INTO site_visits (id, path, created_at) VALUES ('{}', '/', now())",
        Uuid::new_v4()
    ))
    .await
    .unwrap();
    assert!(strings(&txn, "SELECT email FROM waitlist_entries")
        .await
        .is_empty());
    assert!(strings(&txn, "SELECT path FROM site_visits")
        .await
        .is_empty());
    assert!(strings(&txn, "SELECT title FROM goals").await.is_empty());
    let forged = txn
        .execute_unprepared(&format!(
            "INSERT INTO site_visits (id, user_id, path, created_at) VALUES ('{}', '{}', '/', now())",
            Uuid::new_v4(),
            alice.id
        ))
        .await;
    assert!(
        forged.is_err(),
        "a visit cannot be attributed to someone else"
    );
    txn.rollback().await.unwrap();

    let txn = app.db.begin().await.unwrap();
    as_claims(&txn, &role, None, "service_role").await;
    assert_eq!(strings(&txn, "SELECT title FROM goals").await.len(), 2);
    assert_eq!(
        strings(&txn, "SELECT email FROM waitlist_entries").await,
        vec!["w@example.com"]
    );
    txn.rollback().await.unwrap();

    app.db
        .execute_unprepared(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await
        .unwrap();
}
