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

on_both!(
    team_chats_are_searched_by_members_only,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let bob = harness::user("bob");
        let carol = harness::user("carol");
        app.ok(&bob, VIEWER_ID, json!({})).await;
        let team = app.create_team(&alice, "crew").await;
        app.ok(
            &alice,
            ADD_TEAM_MEMBER,
            json!({ "t": team, "e": bob.email }),
        )
        .await;
        let data = app
            .ok(
                &alice,
                CREATE_TEAM_PROJECT,
                json!({ "t": team, "title": "shared" }),
            )
            .await;
        let project = harness::uuid(&data["createProject"]["id"]);
        let chat = app.create_chat(&alice, "team chat", Some(project)).await;
        app.send(&alice, chat, "the quarterly roadmap draft").await;
        assert_eq!(
            found(&app, &bob, "roadmap drafts").await,
            strings(&["the quarterly roadmap draft"])
        );
        assert_eq!(
            found_in(&app, &bob, "roadmap", Some(chat)).await,
            strings(&["the quarterly roadmap draft"])
        );
        assert!(found(&app, &carol, "roadmap").await.is_empty());
        // Bob removed from the team: the next search no longer sees the team's chat.
        app.ok(
            &alice,
            REMOVE_TEAM_MEMBER,
            json!({ "t": team, "u": bob.id }),
        )
        .await;
        assert!(found(&app, &bob, "roadmap").await.is_empty());
        assert!(found_in(&app, &bob, "roadmap", Some(chat)).await.is_empty());
    }
);

on_both!(
    another_user_finds_nothing_of_alices,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let mallory = harness::user("mallory");
        let chats = corpus(&app, &alice).await;
        let own = app.create_chat(&mallory, "mine", None).await;
        app.send(&mallory, own, "my dog runs too").await;
        let alices = app
            .ok(&alice, SEARCH, json!({ "q": "dog run", "first": 1 }))
            .await;
        let alice_cursor = alices["viewer"]["searchMessages"]["pageInfo"]["endCursor"].clone();
        // Alice's words, her chats' ids, a forged id, her cursor: only Mallory's own hit,
        // or nothing, and never an error that tells the chats exist.
        for chat in [
            None,
            Some(chats.first),
            Some(chats.second),
            Some(chats.encrypted),
        ] {
            let reply = app
                .as_user(&mallory, SEARCH, json!({ "q": "dog run", "c": chat }))
                .await;
            let conn = &reply.data()["viewer"]["searchMessages"];
            let expected: Vec<&str> = if chat.is_none() {
                vec!["my dog runs too"]
            } else {
                vec![]
            };
            let contents: Vec<&str> = conn["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["content"].as_str().unwrap())
                .collect();
            assert_eq!(contents, expected, "conversationId {chat:?}");
            assert_eq!(conn["totalCount"], expected.len());
        }
        assert!(found_in(&app, &mallory, "dog", Some(Uuid::new_v4()))
            .await
            .is_empty());
        let reply = app
            .as_user(
                &mallory,
                SEARCH,
                json!({ "q": "dog run", "after": alice_cursor }),
            )
            .await;
        for edge in reply.data()["viewer"]["searchMessages"]["edges"]
            .as_array()
            .unwrap()
        {
            assert_eq!(harness::uuid(&edge["node"]["conversationId"]), own);
        }
        // The anonymous and the service role have no viewer to search as.
        for token in [harness::anon_key(), harness::service_token()] {
            let reply = app
                .post(Some(&token), SEARCH, json!({ "q": "dog run" }))
                .await;
            assert_eq!(reply.data()["viewer"], Value::Null);
        }
    }
);

/// Pieces of hostile queries: every operator of tsquery and FTS5, quotes, escapes, SQL
/// comment and placeholder characters, control and format characters, emoji.
const HOSTILE: &[&str] = &[
    "\"", "'", "''", "&", "|", "!", "(", ")", ":", "*", ":*", "<->", "<#>", "^", "\\", "\\\\", "-",
    "+", "{", "}", "[", "]", ",", ";", "--", "/*", "*/", "%", "?", "@@", "~", "`", "\u{0}", "\t",
    "🙂", "\u{202E}", "\u{FEFF}", "\"\"\"", "'\\''", "&&", "||", "!!",
];

/// Words, some of them FTS5 keywords (as words they must match as words) and stop words.
const WORDS: &[&str] = &[
    "dog",
    "runs",
    "stone",
    "NEAR",
    "near",
    "AND",
    "OR",
    "NOT",
    "café",
    "日本語",
    "Dogs",
];

/// Characters glued to a word.
const GLUE: &[&str] = &["\"", "(", ")", "*", ":", "^", "!", "'", ":*", "\\"];

on_both!(
    hostile_queries_are_text_never_syntax,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "hostile", None).await;
        for content in [
            "the dog runs near the stone",
            "café 日本語 dog",
            "NOT AND OR near",
            "stone soup",
            r#"quotes " and ' and \ backslashes & ops | ! ( ) : * <-> ^"#,
        ] {
            app.send(&alice, chat, content).await;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut nonempty = 0;
        for round in 0..80 {
            let mut pieces = Vec::new();
            let mut words = Vec::new();
            for _ in 0..rng.random_range(1..10) {
                if rng.random_bool(0.4) {
                    let word = WORDS[rng.random_range(0..WORDS.len())];
                    words.push(word);
                    let glued = if rng.random_bool(0.5) {
                        let glue = GLUE[rng.random_range(0..GLUE.len())];
                        if rng.random_bool(0.5) {
                            format!("{glue}{word}")
                        } else {
                            format!("{word}{glue}")
                        }
                    } else {
                        word.to_owned()
                    };
                    pieces.push(glued);
                } else {
                    pieces.push(HOSTILE[rng.random_range(0..HOSTILE.len())].to_owned());
                }
            }
            let hostile = pieces.join(" ");
            let reply = app
                .as_user(&alice, SEARCH_CONTENTS, json!({ "q": hostile }))
                .await;
            // Blank, or holding a NUL (which the document guard refuses for every input).
            if hostile.trim().is_empty() || hostile.contains('\0') {
                assert_eq!(reply.code(), "BAD_USER_INPUT", "round {round}: {hostile:?}");
                continue;
            }
            assert!(
                reply.body.get("errors").is_none(),
                "round {round}: {hostile:?} gave {}",
                reply.body
            );
            let got = reply.data()["viewer"]["searchMessages"]["nodes"].clone();
            let expected = if words.is_empty() {
                json!([])
            } else {
                app.ok(&alice, SEARCH_CONTENTS, json!({ "q": words.join(" ") }))
                    .await["viewer"]["searchMessages"]["nodes"]
                    .clone()
            };
            assert_eq!(got, expected, "round {round}: {hostile:?} vs {words:?}");
            if got.as_array().is_some_and(|a| !a.is_empty()) {
                nonempty += 1;
            }
        }
        // The fuzz exercised real matches, not only empty answers.
        assert!(nonempty >= 20, "only {nonempty} rounds found something");
        // Operators quoted as words find the message holding them only by its words.
        assert_eq!(
            found(&app, &alice, r#"quotes " backslashes & | <-> ^"#).await,
            strings(&[r#"quotes " and ' and \ backslashes & ops | ! ( ) : * <-> ^"#])
        );
        assert_eq!(
            found(&app, &alice, "NEAR(dog stone)").await,
            strings(&["the dog runs near the stone"])
        );
        assert_eq!(
            found(&app, &alice, "CAFÉ 日本語").await,
            strings(&["café 日本語 dog"])
        );
    }
);

on_both!(query_bounds_and_stop_words, |app: TestApp| async move {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "bounds", None).await;
    app.send(&alice, chat, "the and of it is").await;
    for blank in ["", " ", " \t\n  "] {
        let reply = app.as_user(&alice, SEARCH, json!({ "q": blank })).await;
        assert_eq!(reply.code(), "BAD_USER_INPUT", "{blank:?}");
        assert_eq!(reply.body["data"]["viewer"], Value::Null);
    }
    let long = "é".repeat(257);
    let reply = app.as_user(&alice, SEARCH, json!({ "q": long })).await;
    assert_eq!(reply.code(), "BAD_USER_INPUT");
    let longest = "é".repeat(256);
    let reply = app.as_user(&alice, SEARCH, json!({ "q": longest })).await;
    assert_eq!(reply.data()["viewer"]["searchMessages"]["totalCount"], 0);
    // Stop words only: an empty connection, not an error.
    let reply = app
        .as_user(&alice, SEARCH, json!({ "q": "The AND of" }))
        .await;
    let conn = &reply.data()["viewer"]["searchMessages"];
    assert_eq!(conn["totalCount"], 0);
    assert_eq!(conn["edges"], json!([]));
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    // Page arguments as every connection checks them.
    for (first, after) in [
        (json!(101), Value::Null),
        (json!(-1), Value::Null),
        (Value::Null, json!("not a cursor")),
    ] {
        let reply = app
            .as_user(
                &alice,
                SEARCH,
                json!({ "q": "dog", "first": first, "after": after }),
            )
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT", "{first} {after}");
    }
    // A cursor of another list, and a forged one with a rank that is not a number.
    let data = app.ok(&alice, CHAT_MESSAGES, json!({ "c": chat })).await;
    let other = data["conversation"]["messages"]["pageInfo"]["endCursor"].clone();
    use base64::Engine;
    let nan = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        json!({ "o": "search:rank", "k": [{ "F": f64::NAN.to_bits() }, { "T": 0 }], "id": Uuid::new_v4() })
            .to_string(),
    );
    for cursor in [other, json!(nan)] {
        let reply = app
            .as_user(&alice, SEARCH, json!({ "q": "dog", "after": cursor }))
            .await;
        assert_eq!(reply.code(), "BAD_USER_INPUT", "{cursor}");
    }
});

async fn set_encrypted(app: &TestApp, chat: Uuid) {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let update = Query::update()
        .table(Alias::new("conversations"))
        .value(Alias::new("encrypted"), true)
        .and_where(Expr::col(Alias::new("id")).eq(chat))
        .to_owned();
    let result = app.db.execute(&update).await.expect("update the chat");
    assert_eq!(result.rows_affected(), 1);
}

on_both!(the_index_follows_the_messages, |app: TestApp| async move {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "changing", None).await;
    let edited = message_id(&app.send(&alice, chat, "alpha version").await);
    app.send(&alice, chat, "bravo version").await;
    let doomed = message_id(&app.send(&alice, chat, "charlie version").await);
    assert_eq!(found(&app, &alice, "version").await.len(), 3);
    // Edited: the old words are gone, the new ones found.
    app.ok(
        &alice,
        EDIT_MESSAGE,
        json!({ "id": edited, "m": "delta release" }),
    )
    .await;
    assert!(found(&app, &alice, "alpha").await.is_empty());
    assert_eq!(
        found(&app, &alice, "deltas").await,
        strings(&["delta release"])
    );
    // Upserted at an existing sequence (2, bravo's): replaced in the index.
    app.ok(
        &alice,
        SEND_AT,
        json!({ "c": chat, "m": "echo release", "s": 2 }),
    )
    .await;
    assert!(found(&app, &alice, "bravo").await.is_empty());
    assert_eq!(
        found(&app, &alice, "echo").await,
        strings(&["echo release"])
    );
    // Deleted.
    app.ok(&alice, DELETE_MESSAGE, json!({ "id": doomed }))
        .await;
    assert!(found(&app, &alice, "charlie").await.is_empty());
    assert_eq!(
        found(&app, &alice, "release").await,
        strings(&["echo release", "delta release"])
    );
    // A chat that becomes encrypted, and a deleted chat.
    let other = app.create_chat(&alice, "other", None).await;
    app.send(&alice, other, "foxtrot release").await;
    assert_eq!(found(&app, &alice, "release").await.len(), 3);
    set_encrypted(&app, chat).await;
    assert_eq!(
        found(&app, &alice, "release").await,
        strings(&["foxtrot release"])
    );
    app.ok(&alice, DELETE_CHAT, json!({ "id": other })).await;
    assert!(found(&app, &alice, "release").await.is_empty());
    // The deleted chat's messages left the index itself, not only the results.
    let sql = if app.database_url.starts_with("sqlite:") {
        r#"SELECT COUNT(*) AS n FROM messages_fts WHERE messages_fts MATCH '"foxtrot"'"#
    } else {
        "SELECT COUNT(*) AS n FROM messages WHERE search_vector @@ plainto_tsquery('english', 'foxtrot')"
    };
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            sql,
        ))
        .await
        .expect("count index entries")
        .expect("a row");
    assert_eq!(row.try_get::<i64>("", "n").expect("a count"), 0);
});

/// Statements one request sends.
async fn statements(app: &TestApp, user: &User, query: &str, variables: Value) -> (u64, Value) {
    let before = app.statement_count();
    let data = app.ok(user, query, variables).await;
    (app.statement_count() - before, data)
}

on_both!(a_search_costs_one_statement, |app: TestApp| async move {
    let alice = harness::user("alice");
    for c in 0..3 {
        let chat = app.create_chat(&alice, &format!("chat {c}"), None).await;
        for m in 0..4 {
            app.send(&alice, chat, &format!("counting sheep {c} {m}"))
                .await;
        }
    }
    app.ok(&alice, VIEWER_ID, json!({})).await;
    let (baseline, _) = statements(&app, &alice, VIEWER_ID, json!({})).await;
    let (page, data) = statements(
        &app,
        &alice,
        SEARCH_CONTENTS,
        json!({ "q": "sheep counting", "first": 5 }),
    )
    .await;
    assert_eq!(
        data["viewer"]["searchMessages"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(page - baseline, 1, "the page, snippets included");
    let (counted, data) = statements(&app, &alice, SEARCH_COUNT, json!({ "q": "sheep" })).await;
    assert_eq!(data["viewer"]["searchMessages"]["totalCount"], 12);
    assert_eq!(counted - baseline, 2, "the page and totalCount");
    let first = app
        .ok(&alice, SEARCH, json!({ "q": "sheep", "first": 5 }))
        .await;
    let after = first["viewer"]["searchMessages"]["pageInfo"]["endCursor"].clone();
    let (next, _) = statements(
        &app,
        &alice,
        SEARCH,
        json!({ "q": "sheep", "first": 5, "after": after }),
    )
    .await;
    assert_eq!(
        next - baseline,
        3,
        "the page, totalCount and hasPreviousPage"
    );
});

on_both!(
    the_migration_indexes_existing_messages,
    |app: TestApp| async move {
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "older", None).await;
        // The index as before the search migration, messages written, then the migration's
        // own step that creates the index (and indexes what exists).
        migration::search_index::drop(&app.db)
            .await
            .expect("undo the search index");
        app.send(&alice, chat, "written before the index existed")
            .await;
        app.send(&alice, chat, "another old message").await;
        migration::search_index::create(&app.db, migration::search_index::DEFAULT_CONFIG)
            .await
            .expect("create the search index as the migration does");
        assert_eq!(
            found(&app, &alice, "written index").await,
            strings(&["written before the index existed"])
        );
        assert_eq!(
            found(&app, &alice, "old").await,
            strings(&["another old message"])
        );
    }
);

async fn simple_config(app: TestApp) {
    let alice = harness::user("alice");
    let chat = app.create_chat(&alice, "simple", None).await;
    app.send(&alice, chat, "The dogs ran").await;
    // No stemmer, no stop words: only the words as written (case folded).
    assert_eq!(
        found(&app, &alice, "DOGS").await,
        strings(&["The dogs ran"])
    );
    assert!(found(&app, &alice, "dog").await.is_empty());
    assert_eq!(found(&app, &alice, "the").await, strings(&["The dogs ran"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_simple_configuration_rebuilds_the_index_sqlite() {
    simple_config(harness::sqlite_with(|s| s.search_config = "simple".into()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_simple_configuration_rebuilds_the_index_postgres() {
    if let Some(app) = harness::postgres_with(|s| s.search_config = "simple".into()).await {
        simple_config(app).await;
    }
}

on_both!(
    unknown_configurations_stop_the_start,
    |app: TestApp| async move {
        use confab::domain::search::{prepare_index, SearchSettings};
        let refused = if app.database_url.starts_with("sqlite:") {
            "german"
        } else {
            "klingon"
        };
        let err = prepare_index(
            &app.db,
            &SearchSettings {
                config: refused.into(),
            },
        )
        .await
        .expect_err("an unknown configuration is refused");
        let expected = if app.database_url.starts_with("sqlite:") {
            "SQLite searches with `english` (Porter stemmer) or `simple`, not `german`"
        } else {
            "the text-search configuration `klingon` (--search-config, CONFAB_SEARCH_CONFIG) \
         does not exist on this Postgres server"
        };
        assert!(err.to_string().contains(expected), "{err}");
        // The index is still the one built with `english`.
        let alice = harness::user("alice");
        let chat = app.create_chat(&alice, "still", None).await;
        app.send(&alice, chat, "running").await;
        assert_eq!(found(&app, &alice, "runs").await, strings(&["running"]));
    }
);

#[test]
fn search_config_names_are_identifiers() {
    use clap::Parser;
    for bad in [
        "English",
        "english; DROP TABLE messages",
        "",
        "1simple",
        "a'b",
    ] {
        assert!(
            confab::config::Cli::try_parse_from(["confab", "--search-config", bad]).is_err(),
            "{bad:?}"
        );
    }
    let cli = confab::config::Cli::try_parse_from(["confab", "--search-config", "simple"])
        .expect("simple is a name");
    assert_eq!(cli.settings.search_config, "simple");
}
