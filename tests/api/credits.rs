//! The [credits] API end to end: balances, the ledger, spending under concurrency,
//! idempotency keys, service-role grants and the configurable signup grant.

use serde_json::{json, Value};

use crate::documents::VIEWER_ID;
use crate::harness::{self, TestApp, User};
use crate::on_both;

const TRANSACTION_PAGE: &str = r#"
    query($f: Int, $a: String, $l: Int, $b: String) {
        viewer {
            credits {
                transactions(first: $f, after: $a, last: $l, before: $b) {
                    nodes { kind }
                    pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
                }
            }
        }
    }
"#;

const BALANCE: &str = "{ viewer { credits { balance } } }";

const BALANCE_AND_TRANSACTION_COUNT: &str = r#"
    {
        viewer { credits { balance transactions { totalCount } } }
    }
"#;

const BALANCE_AND_TRANSACTION_IDS: &str = r#"
    {
        viewer { credits { balance transactions { totalCount nodes { id } } } }
    }
"#;

const TX_FIELDS: &str = "id amount balanceAfter kind description reference createdAt";

fn spend_query() -> String {
    format!(
        "mutation($a: Int!, $k: String!, $d: String, $r: String) {{ spendCredits(input: {{amount: $a, idempotencyKey: $k, description: $d, reference: $r}}) {{ {TX_FIELDS} }} }}"
    )
}

async fn spend(app: &TestApp, user: &User, amount: i64, key: &str) -> harness::Reply {
    app.as_user(user, &spend_query(), json!({ "a": amount, "k": key }))
        .await
}

fn grant_query() -> String {
    format!(
        "mutation($u: UUID!, $a: Int!, $k: String!, $kind: CreditKind) {{ grantCredits(input: {{userId: $u, amount: $a, idempotencyKey: $k, kind: $kind}}) {{ {TX_FIELDS} }} }}"
    )
}

async fn grant(
    app: &TestApp,
    token: Option<&str>,
    user: uuid::Uuid,
    amount: i64,
    key: &str,
    kind: Option<&str>,
) -> harness::Reply {
    app.post(
        token,
        &grant_query(),
        json!({ "u": user, "a": amount, "k": key, "kind": kind }),
    )
    .await
}

async fn account(app: &TestApp, user: &User) -> (i64, Vec<Value>) {
    let data = app
        .ok(
            user,
            &format!("{{ viewer {{ credits {{ balance transactions(first: 100) {{ totalCount nodes {{ {TX_FIELDS} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    let credits = &data["viewer"]["credits"];
    let nodes = credits["transactions"]["nodes"].as_array().unwrap().clone();
    assert_eq!(credits["transactions"]["totalCount"], json!(nodes.len()));
    (credits["balance"].as_i64().unwrap(), nodes)
}

/// Oldest first, each balanceAfter is the previous one plus its amount.
fn assert_chain(newest_first: &[Value]) {
    let mut previous = 0;
    for tx in newest_first.iter().rev() {
        let amount = tx["amount"].as_i64().unwrap();
        let after = tx["balanceAfter"].as_i64().unwrap();
        assert_eq!(after, previous + amount, "ledger row {tx}");
        assert!(after >= 0);
        previous = after;
    }
}

on_both!(
    spending_and_granting_move_the_balance_and_the_ledger,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let service = harness::service_token();
        app.ok(&alice, VIEWER_ID, json!({})).await;
        assert_eq!(account(&app, &alice).await, (0, vec![]));

        let granted = grant(&app, Some(&service), alice.id, 100, "welcome", None).await;
        let granted = granted.data()["grantCredits"].clone();
        assert_eq!(granted["amount"], json!(100));
        assert_eq!(granted["balanceAfter"], json!(100));
        assert_eq!(granted["kind"], json!("GRANT"));

        let spent = app
            .ok(
                &alice,
                &spend_query(),
                json!({ "a": 30, "k": "chat-1", "d": "a long answer", "r": "msg:42" }),
            )
            .await["spendCredits"]
            .clone();
        assert_eq!(spent["amount"], json!(-30));
        assert_eq!(spent["balanceAfter"], json!(70));
        assert_eq!(spent["kind"], json!("USAGE"));
        assert_eq!(spent["description"], json!("a long answer"));
        assert_eq!(spent["reference"], json!("msg:42"));

        // Too little balance: INSUFFICIENT_CREDITS and nothing changes.
        let reply = spend(&app, &alice, 71, "chat-2").await;
        assert_eq!(reply.code(), "INSUFFICIENT_CREDITS");
        // The refused key was not used up.
        let ok = spend(&app, &alice, 70, "chat-2").await;
        assert_eq!(ok.data()["spendCredits"]["balanceAfter"], json!(0));
        let reply = spend(&app, &alice, 1, "chat-3").await;
        assert_eq!(reply.code(), "INSUFFICIENT_CREDITS");

        for kind in ["PURCHASE", "REFUND"] {
            let reply = grant(&app, Some(&service), alice.id, 5, kind, Some(kind)).await;
            assert_eq!(reply.data()["grantCredits"]["kind"], json!(kind));
        }
        let adjusted = grant(
            &app,
            Some(&service),
            alice.id,
            -4,
            "fix",
            Some("ADJUSTMENT"),
        )
        .await;
        assert_eq!(
            (
                adjusted.data()["grantCredits"]["amount"].clone(),
                adjusted.data()["grantCredits"]["balanceAfter"].clone()
            ),
            (json!(-4), json!(6))
        );

        let (balance, ledger) = account(&app, &alice).await;
        assert_eq!(balance, 6);
        let kinds: Vec<&str> = ledger.iter().map(|t| t["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ADJUSTMENT",
                "REFUND",
                "PURCHASE",
                "USAGE",
                "USAGE",
                "GRANT"
            ]
        );
        assert_eq!(ledger[5]["id"], granted["id"]);
        assert_chain(&ledger);

        // Input the rules refuse.
        for (amount, key) in [(0, "k0"), (-5, "k1"), (1, ""), (1, "   ")] {
            let reply = spend(&app, &alice, amount, key).await;
            assert_eq!(reply.code(), "BAD_USER_INPUT", "{amount} {key:?}");
        }
        let long_key = "k".repeat(256);
        assert_eq!(
            spend(&app, &alice, 1, &long_key).await.code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(account(&app, &alice).await.0, 6);

        // The ledger pages newest first, forward and backward.
        let page = app.ok(&alice, TRANSACTION_PAGE, json!({ "f": 2 })).await["viewer"]["credits"]
            ["transactions"]
            .clone();
        assert_eq!(
            page["nodes"],
            json!([{"kind": "ADJUSTMENT"}, {"kind": "REFUND"}])
        );
        assert_eq!(page["pageInfo"]["hasNextPage"], json!(true));
        let next = app
            .ok(
                &alice,
                TRANSACTION_PAGE,
                json!({ "f": 2, "a": page["pageInfo"]["endCursor"] }),
            )
            .await["viewer"]["credits"]["transactions"]
            .clone();
        assert_eq!(
            next["nodes"],
            json!([{"kind": "PURCHASE"}, {"kind": "USAGE"}])
        );
        let last = app.ok(&alice, TRANSACTION_PAGE, json!({ "l": 1 })).await["viewer"]["credits"]
            ["transactions"]
            .clone();
        assert_eq!(last["nodes"], json!([{"kind": "GRANT"}]));
        assert_eq!(last["pageInfo"]["hasPreviousPage"], json!(true));
    }
);

on_both!(grant_rules_and_refusals, |app: TestApp| async move {
    let alice = harness::user("alice");
    let bob = harness::user("bob");
    let service = harness::service_token();
    let anon = harness::anon_key();
    app.ok(&alice, VIEWER_ID, json!({})).await;
    app.ok(&bob, VIEWER_ID, json!({})).await;
    grant(&app, Some(&service), alice.id, 10, "seed", None)
        .await
        .data();

    // Only the service role grants: FORBIDDEN for users (also for themselves) and the anonymous.
    for token in [
        Some(alice.token.as_str()),
        Some(bob.token.as_str()),
        Some(anon.as_str()),
        None,
    ] {
        let reply = grant(&app, token, alice.id, 1000, "steal", None).await;
        assert_eq!(reply.code(), "FORBIDDEN");
    }
    // A user that never signed in: NOT_FOUND.
    let reply = grant(&app, Some(&service), uuid::Uuid::new_v4(), 5, "x", None).await;
    assert_eq!(reply.code(), "NOT_FOUND");
    // Negative or zero amounts are only for ADJUSTMENT; USAGE is spending's.
    for (amount, kind) in [
        (-5, None),
        (-5, Some("PURCHASE")),
        (0, Some("GRANT")),
        (-1, Some("REFUND")),
        (5, Some("USAGE")),
    ] {
        let reply = grant(&app, Some(&service), alice.id, amount, "bad", kind).await;
        assert_eq!(reply.code(), "BAD_USER_INPUT", "{amount} {kind:?}");
    }
    // An adjustment below zero: INSUFFICIENT_CREDITS, nothing changed.
    let reply = grant(
        &app,
        Some(&service),
        alice.id,
        -11,
        "too-much",
        Some("ADJUSTMENT"),
    )
    .await;
    assert_eq!(reply.code(), "INSUFFICIENT_CREDITS");
    let (balance, ledger) = account(&app, &alice).await;
    assert_eq!((balance, ledger.len()), (10, 1));
    let reply = grant(
        &app,
        Some(&service),
        alice.id,
        -10,
        "to-zero",
        Some("ADJUSTMENT"),
    )
    .await;
    assert_eq!(reply.data()["grantCredits"]["balanceAfter"], json!(0));
    // A balance never passes the largest Int.
    let reply = grant(&app, Some(&service), alice.id, i32::MAX as i64, "max", None).await;
    assert_eq!(
        reply.data()["grantCredits"]["balanceAfter"],
        json!(i32::MAX)
    );
    let reply = grant(&app, Some(&service), alice.id, 1, "over", None).await;
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    assert_eq!(account(&app, &alice).await.0, i32::MAX as i64);

    // Spending needs a user: UNAUTHENTICATED for the anonymous, FORBIDDEN for the service role.
    for token in [None, Some(anon.as_str())] {
        let reply = app
            .post(token, &spend_query(), json!({ "a": 1, "k": "x" }))
            .await;
        assert_eq!(reply.code(), "UNAUTHENTICATED");
        let reply = app.post(token, BALANCE, json!({})).await;
        assert_eq!(reply.data(), &json!({"viewer": null}));
    }
    let reply = app
        .post(Some(&service), &spend_query(), json!({ "a": 1, "k": "x" }))
        .await;
    assert_eq!(reply.code(), "FORBIDDEN");

    // Bob sees only his own (empty) account; his spend cannot touch Alice's balance.
    assert_eq!(account(&app, &bob).await, (0, vec![]));
    assert_eq!(
        spend(&app, &bob, 1, "seed").await.code(),
        "INSUFFICIENT_CREDITS"
    );
    assert_eq!(account(&app, &alice).await.0, i32::MAX as i64);
});

on_both!(
    idempotency_keys_are_per_user_and_replays_take_nothing,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let service = harness::service_token();
        for user in [&alice, &bob] {
            app.ok(user, VIEWER_ID, json!({})).await;
            // The same grant key for two users: two grants.
            let reply = grant(&app, Some(&service), user.id, 50, "welcome", None).await;
            assert_eq!(reply.data()["grantCredits"]["balanceAfter"], json!(50));
        }
        let replay = grant(&app, Some(&service), alice.id, 50, "welcome", None).await;
        let first_grant = account(&app, &alice).await.1[0].clone();
        assert_eq!(replay.data()["grantCredits"], first_grant);

        let first = spend(&app, &alice, 20, "req-1").await.data()["spendCredits"].clone();
        let again = spend(&app, &alice, 20, "req-1").await.data()["spendCredits"].clone();
        assert_eq!(first, again);
        // Even with other input, a replay returns the first transaction.
        let other = spend(&app, &alice, 5, "req-1").await.data()["spendCredits"].clone();
        assert_eq!(first, other);
        // A replay answers even when the balance could no longer pay for it.
        spend(&app, &alice, 30, "req-2").await.data();
        let late = spend(&app, &alice, 20, "req-1").await;
        assert_eq!(late.data()["spendCredits"], first);
        // Bob's key of the same name is his own.
        let bobs = spend(&app, &bob, 20, "req-1").await.data()["spendCredits"].clone();
        assert_ne!(bobs["id"], first["id"]);
        assert_eq!(bobs["balanceAfter"], json!(30));

        let (balance, ledger) = account(&app, &alice).await;
        assert_eq!((balance, ledger.len()), (0, 3));
        assert_chain(&ledger);
        assert_eq!(account(&app, &bob).await.0, 30);
    }
);

on_both!(
    concurrent_spends_never_overdraw,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let service = harness::service_token();
        app.ok(&alice, VIEWER_ID, json!({})).await;
        grant(&app, Some(&service), alice.id, 200, "topup", None)
            .await
            .data();
        let spends = (0..40).map(|i| {
            let app = &app;
            let alice = &alice;
            async move { spend(app, alice, 10, &format!("spend-{i}")).await }
        });
        let replies = futures::future::join_all(spends).await;
        let mut successes = 0;
        for reply in &replies {
            if reply.body.get("errors").is_some() {
                assert_eq!(reply.code(), "INSUFFICIENT_CREDITS", "{}", reply.body);
            } else {
                successes += 1;
            }
        }
        assert_eq!(successes, 20);
        let (balance, ledger) = account(&app, &alice).await;
        assert_eq!(balance, 0);
        assert_eq!(ledger.len(), 21);
        assert_chain(&ledger);
        let mut after: Vec<i64> = ledger
            .iter()
            .map(|t| t["balanceAfter"].as_i64().unwrap())
            .collect();
        after.sort();
        assert_eq!(after, (0..=20).map(|i| i * 10).collect::<Vec<i64>>());
    }
);

on_both!(
    a_replay_racing_its_original_charges_once,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let service = harness::service_token();
        app.ok(&alice, VIEWER_ID, json!({})).await;
        grant(&app, Some(&service), alice.id, 100, "topup", None)
            .await
            .data();
        let spends = (0..20).map(|_| {
            let app = &app;
            let alice = &alice;
            async move { spend(app, alice, 10, "same-key").await }
        });
        let replies = futures::future::join_all(spends).await;
        let ids: std::collections::HashSet<String> = replies
            .iter()
            .map(|r| r.data()["spendCredits"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1);
        let (balance, ledger) = account(&app, &alice).await;
        assert_eq!((balance, ledger.len()), (90, 2));
        // Concurrent grants with one key to one user: one grant.
        let grants = (0..10).map(|_| {
            let app = &app;
            let service = &service;
            let id = alice.id;
            async move { grant(app, Some(service), id, 5, "bonus", Some("REFUND")).await }
        });
        let replies = futures::future::join_all(grants).await;
        let ids: std::collections::HashSet<String> = replies
            .iter()
            .map(|r| r.data()["grantCredits"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1);
        let (balance, ledger) = account(&app, &alice).await;
        assert_eq!((balance, ledger.len()), (95, 3));
        assert_chain(&ledger);
    }
);

async fn signup_grant(app: TestApp) {
    let alice = harness::user("alice");
    // Concurrent first requests open one account with one grant.
    let firsts = (0..8).map(|_| {
        let app = &app;
        let alice = &alice;
        async move { app.as_user(alice, BALANCE, json!({})).await }
    });
    for reply in futures::future::join_all(firsts).await {
        assert_eq!(reply.data()["viewer"]["credits"]["balance"], json!(50));
    }
    let (balance, ledger) = account(&app, &alice).await;
    assert_eq!(balance, 50);
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["amount"], json!(50));
    assert_eq!(ledger[0]["balanceAfter"], json!(50));
    assert_eq!(ledger[0]["kind"], json!("GRANT"));
    let spent = spend(&app, &alice, 20, "first").await;
    assert_eq!(spent.data()["spendCredits"]["balanceAfter"], json!(30));
    let (_, ledger) = account(&app, &alice).await;
    assert_chain(&ledger);
    // Later requests cost the one lookup only.
    let before = app.statement_count();
    app.ok(&alice, VIEWER_ID, json!({})).await;
    assert_eq!(app.statement_count() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signup_grant_is_configurable_sqlite() {
    let app = harness::sqlite_with(|s| s.signup_credits = 50).await;
    signup_grant(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_signup_grant_is_configurable_postgres() {
    if let Some(app) = harness::postgres_with(|s| s.signup_credits = 50).await {
        signup_grant(app).await;
    }
}

on_both!(
    the_default_signup_grant_is_zero,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let data = app
            .ok(&alice, BALANCE_AND_TRANSACTION_COUNT, json!({}))
            .await;
        assert_eq!(
            data["viewer"]["credits"],
            json!({"balance": 0, "transactions": {"totalCount": 0}})
        );
        let before = app.statement_count();
        app.ok(&alice, BALANCE_AND_TRANSACTION_IDS, json!({})).await;
        // ensure-user lookup, balance, ledger page, ledger count.
        assert_eq!(app.statement_count() - before, 4);
    }
);
