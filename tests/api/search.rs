//! [search]: `viewer.searchMessages` on both backends: every word must match (stemmed,
//! case-insensitive), best match first then newest, only readable and unencrypted chats,
//! hostile queries as plain text, the index following every write, the statements a
//! search costs, and user B searching for user A's words.

use rand::{Rng, SeedableRng};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::documents::{
    ADD_TEAM_MEMBER, CREATE_TEAM_PROJECT, DELETE_MESSAGE, REMOVE_TEAM_MEMBER, VIEWER_ID,
};
use crate::harness::{self, TestApp, User};
use crate::on_both;

const SEARCH: &str = r#"
    query Search($q: String!, $first: Int, $after: String, $c: UUID) {
        viewer {
            searchMessages(query: $q, first: $first, after: $after, conversationId: $c) {
                totalCount
                edges { cursor snippet node { id content conversationId } }
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            }
        }
    }
"#;

const SEARCH_CONTENTS: &str = r#"
    query SearchContents($q: String!, $first: Int, $c: UUID) {
        viewer {
            searchMessages(query: $q, first: $first, conversationId: $c) {
                nodes { content }
            }
        }
    }
"#;

const SEARCH_COUNT: &str = r#"
    query SearchCount($q: String!) {
        viewer { searchMessages(query: $q) { totalCount nodes { id } } }
    }
"#;

const CREATE_ENCRYPTED_CHAT: &str = r#"
    mutation CreateEncryptedChat($t: String) {
        createConversation(input: {title: $t, encrypted: true}) { id }
    }
"#;

const EDIT_MESSAGE: &str = r#"
    mutation EditMessage($id: UUID!, $m: String!) {
        updateMessage(id: $id, input: {content: $m}) { id }
    }
"#;

const SEND_AT: &str = r#"
    mutation SendAt($c: UUID!, $m: String!, $s: Int!) {
        sendMessage(input: {conversationId: $c, role: ASSISTANT, content: $m, sequence: $s}) { id }
    }
"#;

const DELETE_CHAT: &str = "mutation DeleteChat($id: UUID!) { deleteConversation(id: $id) }";

const CHAT_MESSAGES: &str = r#"
    query ChatMessages($c: UUID!) {
        conversation(id: $c) { messages(first: 1) { pageInfo { endCursor } } }
    }
"#;

/// The contents the viewer finds for `query` (default page), best first.
async fn found(app: &TestApp, user: &User, query: &str) -> Vec<String> {
    found_in(app, user, query, None).await
}

async fn found_in(app: &TestApp, user: &User, query: &str, chat: Option<Uuid>) -> Vec<String> {
    let data = app
        .ok(user, SEARCH_CONTENTS, json!({ "q": query, "c": chat }))
        .await;
    data["viewer"]["searchMessages"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["content"].as_str().expect("content").to_owned())
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn message_id(sent: &Value) -> Uuid {
    harness::uuid(&sent["id"])
}

const BEST: &str = "dog runs dog runs dog runs";
const TIE: &str = "Dogs RUN";
const WEAK: &str = "the dog sat quietly by the old stone wall while somebody far away was running";

/// Alice's chats: one with the best hit and an older tie, one with the newer tie and the
/// weak hit, one with near misses (one word only), one encrypted with a perfect hit.
struct Corpus {
    first: Uuid,
    second: Uuid,
    encrypted: Uuid,
}

async fn corpus(app: &TestApp, alice: &User) -> Corpus {
    let first = app.create_chat(alice, "first", None).await;
    let second = app.create_chat(alice, "second", None).await;
    let misses = app.create_chat(alice, "misses", None).await;
    let data = app
        .ok(alice, CREATE_ENCRYPTED_CHAT, json!({ "t": "secret" }))
        .await;
    let encrypted = harness::uuid(&data["createConversation"]["id"]);
    app.send(alice, first, BEST).await;
    app.send(alice, first, TIE).await;
    app.send(alice, second, TIE).await;
    app.send(alice, second, WEAK).await;
    app.send(alice, misses, "only a dog here").await;
    app.send(alice, misses, "only running here").await;
    app.send(alice, encrypted, BEST).await;
    Corpus {
        first,
        second,
        encrypted,
    }
}

on_both!(
    every_word_matches_best_first_then_newest,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chats = corpus(&app, &alice).await;
        // Stemmed and case-insensitive: "DOG running" finds dogs/run/runs.
        let data = app
            .ok(&alice, SEARCH, json!({ "q": "DOG running", "first": 2 }))
            .await;
        let conn = &data["viewer"]["searchMessages"];
        assert_eq!(conn["totalCount"], 4);
        let edges = conn["edges"].as_array().unwrap();
        let contents: Vec<&str> = edges
            .iter()
            .map(|e| e["node"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, [BEST, TIE]);
        // The tie: the newer message (in the second chat) first.
        assert_eq!(
            harness::uuid(&edges[1]["node"]["conversationId"]),
            chats.second
        );
        assert_eq!(conn["pageInfo"]["hasNextPage"], true);
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], false);
        let after = conn["pageInfo"]["endCursor"].clone();
        let data = app
            .ok(
                &alice,
                SEARCH,
                json!({ "q": "DOG running", "first": 2, "after": after }),
            )
            .await;
        let conn = &data["viewer"]["searchMessages"];
        let rest: Vec<(&str, Uuid)> = conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["content"].as_str().unwrap(),
                    harness::uuid(&e["node"]["conversationId"]),
                )
            })
            .collect();
        assert_eq!(rest, [(TIE, chats.first), (WEAK, chats.second)]);
        // Exactly at the end: no next page.
        assert_eq!(conn["pageInfo"]["hasNextPage"], false);
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], true);
        let all = app
            .ok(&alice, SEARCH, json!({ "q": "dog run", "first": 4 }))
            .await;
        assert_eq!(
            all["viewer"]["searchMessages"]["pageInfo"]["hasNextPage"],
            false
        );
        // conversationId narrows to one chat; the encrypted chat is never searched.
        assert_eq!(
            found_in(&app, &alice, "dog run", Some(chats.second)).await,
            strings(&[TIE, WEAK])
        );
        assert!(found_in(&app, &alice, "dog run", Some(chats.encrypted))
            .await
            .is_empty());
        // One word alone finds the near misses too.
        assert_eq!(found(&app, &alice, "dog run").await.len(), 4);
        assert_eq!(found(&app, &alice, "dog").await.len(), 5);
    }
);

on_both!(snippets_mark_the_matched_words, |app: TestApp| async move {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "snippets", None).await;
    app.send(&alice, chat, r#"My dog & the "cat" run <3"#).await;
    let data = app.ok(&alice, SEARCH, json!({ "q": "dogs running" })).await;
    let edges = &data["viewer"]["searchMessages"]["edges"];
    assert_eq!(
        edges[0]["snippet"],
        "My <mark>dog</mark> &amp; the &quot;cat&quot; <mark>run</mark> &lt;3"
    );
    // Other message lists have no snippet.
    let listed = app
        .ok(
            &alice,
            "query Listed($c: UUID!) { conversation(id: $c) { messages { edges { snippet } } } }",
            json!({ "c": chat }),
        )
        .await;
    assert_eq!(
        listed["conversation"]["messages"]["edges"][0]["snippet"],
        Value::Null
    );
});
