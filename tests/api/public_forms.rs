//! The [public] API end to end: the waitlist and site visits, for anyone; the waitlist
//! listing for the service role only.

use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::harness::{self, TestApp};
use crate::on_both;

const RECORD_SITE_VISIT: &str = "mutation($i: SiteVisitInput!) { recordSiteVisit(input: $i) }";

const JOIN_WAITLIST: &str = "mutation($e: String!) { joinWaitlist(email: $e) }";
const WAITLIST_PAGE: &str = r#"
    query($f: Int, $a: String) {
        waitlistEntries(first: $f, after: $a) {
            totalCount
            nodes { id email createdAt }
            pageInfo { hasNextPage endCursor }
        }
    }
"#;

on_both!(
    anyone_joins_the_waitlist_once_per_email,
    |app: TestApp| async move {
        let service = harness::service_token();
        let anon = harness::anon_key();
        let alice = harness::user("alice");
        // No token, the anon key, a user and the service role may all join.
        for (token, email) in [
            (None, "First@Example.com"),
            (Some(anon.as_str()), "second@example.com"),
            (Some(alice.token.as_str()), "third@example.org"),
            (Some(service.as_str()), "fourth@example.net"),
        ] {
            let reply = app.post(token, JOIN_WAITLIST, json!({ "e": email })).await;
            assert_eq!(reply.data(), &json!({"joinWaitlist": true}), "{email}");
        }
        // Repeats in any case (and with spaces around) succeed and change nothing.
        for email in [
            "first@example.com",
            " FIRST@EXAMPLE.COM ",
            "First@Example.com",
        ] {
            let reply = app.post(None, JOIN_WAITLIST, json!({ "e": email })).await;
            assert_eq!(reply.data(), &json!({"joinWaitlist": true}));
        }
        for bad in [
            "",
            "not-an-email",
            "a@b",
            "two words@example.com",
            "@example.com",
            "a@example..com",
        ] {
            let reply = app.post(None, JOIN_WAITLIST, json!({ "e": bad })).await;
            assert_eq!(reply.code(), "BAD_USER_INPUT", "{bad:?}");
        }
        let reply = app.post(Some(&service), WAITLIST_PAGE, json!({})).await;
        let list = &reply.data()["waitlistEntries"];
        assert_eq!(list["totalCount"], json!(4));
        let emails: Vec<&str> = list["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["email"].as_str().unwrap())
            .collect();
        // Oldest first, as first given.
        assert_eq!(
            emails,
            [
                "First@Example.com",
                "second@example.com",
                "third@example.org",
                "fourth@example.net"
            ]
        );
        let page = app
            .post(Some(&service), WAITLIST_PAGE, json!({ "f": 3 }))
            .await;
        let page = &page.data()["waitlistEntries"];
        assert_eq!(page["pageInfo"]["hasNextPage"], json!(true));
        let rest = app
            .post(
                Some(&service),
                WAITLIST_PAGE,
                json!({ "f": 3, "a": page["pageInfo"]["endCursor"] }),
            )
            .await;
        assert_eq!(
            rest.data()["waitlistEntries"]["nodes"][0]["email"],
            json!("fourth@example.net")
        );
        assert_eq!(
            rest.data()["waitlistEntries"]["pageInfo"]["hasNextPage"],
            json!(false)
        );

        // Concurrent joins of one address in different cases: one entry.
        let joins = (0..12).map(|i| {
            let app = &app;
            async move {
                let email = if i % 2 == 0 {
                    "race@example.com"
                } else {
                    "RACE@example.com"
                };
                app.post(None, JOIN_WAITLIST, json!({ "e": email })).await
            }
        });
        for reply in futures::future::join_all(joins).await {
            assert_eq!(reply.data(), &json!({"joinWaitlist": true}));
        }
        let reply = app.post(Some(&service), WAITLIST_PAGE, json!({})).await;
        assert_eq!(reply.data()["waitlistEntries"]["totalCount"], json!(5));
    }
);

on_both!(
    only_the_service_role_reads_the_waitlist,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let anon = harness::anon_key();
        app.post(None, JOIN_WAITLIST, json!({ "e": "someone@example.com" }))
            .await
            .data();
        for token in [None, Some(anon.as_str()), Some(alice.token.as_str())] {
            let reply = app.post(token, WAITLIST_PAGE, json!({})).await;
            assert_eq!(reply.code(), "FORBIDDEN");
            assert_eq!(reply.body["data"], json!(null));
            // Refused before the page arguments are looked at.
            let reply = app.post(token, WAITLIST_PAGE, json!({ "f": 1000 })).await;
            assert_eq!(reply.code(), "FORBIDDEN");
        }
        let service = harness::service_token();
        let reply = app
            .post(Some(&service), WAITLIST_PAGE, json!({ "f": 1000 }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT");
    }
);

async fn visit(
    app: &TestApp,
    token: Option<&str>,
    agent: Option<&str>,
    input: serde_json::Value,
) -> serde_json::Value {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.url))
        .json(&json!({
            "query": RECORD_SITE_VISIT,
            "variables": { "i": input },
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(agent) = agent {
        request = request.header("User-Agent", agent);
    }
    request.send().await.unwrap().json().await.unwrap()
}

on_both!(
    site_visits_keep_path_referrer_and_user_agent,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let anon = harness::anon_key();
        let body = visit(
            &app,
            None,
            Some("Mozilla/5.0 (X11; Linux x86_64) confab-test"),
            json!({ "path": "/pricing", "referrer": "https://news.example.com/" }),
        )
        .await;
        assert_eq!(body, json!({"data": {"recordSiteVisit": true}}));
        let body = visit(&app, Some(&anon), None, json!({ "path": "/" })).await;
        assert_eq!(body, json!({"data": {"recordSiteVisit": true}}));
        let body = visit(
            &app,
            Some(&alice.token),
            Some("curl/8"),
            json!({ "path": "/app" }),
        )
        .await;
        assert_eq!(body, json!({"data": {"recordSiteVisit": true}}));
        for bad in [
            json!({ "path": "" }),
            json!({ "path": "  " }),
            json!({ "path": "/".repeat(3000) }),
        ] {
            let body = visit(&app, None, None, bad).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"],
                json!("BAD_USER_INPUT")
            );
        }
        let rows = entity::site_visit::Entity::find()
            .order_by_asc(entity::site_visit::Column::CreatedAt)
            .all(&app.db)
            .await
            .unwrap();
        let seen: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.referrer.as_deref(),
                    r.user_agent.as_deref(),
                    r.user_id,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "/pricing",
                    Some("https://news.example.com/"),
                    Some("Mozilla/5.0 (X11; Linux x86_64) confab-test"),
                    None
                ),
                ("/", None, None, None),
                ("/app", None, Some("curl/8"), Some(alice.id)),
            ]
        );
    }
);
