//! The guard's document passes on their own (the schema-aware walk is tested over HTTP in
//! `tests/api/hardening.rs`).

use async_graphql::Variables;

use super::*;

fn parse(query: &str) -> ExecutableDocument {
    async_graphql::parser::parse_query(query).expect("the test document parses")
}

fn limits(max_selections: u64) -> GuardLimits {
    GuardLimits {
        max_selections,
        ..GuardLimits::NONE
    }
}

fn code(result: ServerResult<()>) -> Option<ErrorCode> {
    result
        .err()
        .map(|e| crate::graphql::errors::code_of(&e).expect("coded"))
}

/// 30 fragments, each spreading the previous one twice: 2^30 fields once expanded.
fn fan_out(levels: usize) -> String {
    let mut doc = String::from("query { viewer { ...F0 } }\nfragment F0 on Viewer { id }\n");
    for i in 1..=levels {
        doc.push_str(&format!(
            "fragment F{i} on Viewer {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    doc
}

#[test]
fn expanded_sizes_are_memoised_and_bounded() {
    let doc = parse(&fan_out(30));
    let started = std::time::Instant::now();
    assert_eq!(
        code(expanded_sizes(&doc, &limits(10_000))),
        Some(ErrorCode::QueryTooComplex)
    );
    // Linear: far below a second even unoptimised (the unmemoised walk takes minutes).
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // 2^13 = 8192 fields under F13 fit 10,000; 2^14 do not.
    assert_eq!(
        code(expanded_sizes(&parse(&fan_out(13)), &limits(10_000))),
        None
    );
    assert_eq!(
        code(expanded_sizes(&parse(&fan_out(14)), &limits(10_000))),
        Some(ErrorCode::QueryTooComplex)
    );
    // 200 levels saturate instead of overflowing.
    assert_eq!(
        code(expanded_sizes(&parse(&fan_out(200)), &limits(u64::MAX - 1))),
        Some(ErrorCode::QueryTooComplex)
    );
}

#[test]
fn fragment_cycles_are_refused() {
    for doc in [
        "query { viewer { ...A } } fragment A on Viewer { id ...A }",
        "query { viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ... on Viewer { ...A } }",
        // Unused fragments too: the validator would walk them.
        "query { viewer { id } } fragment A on Viewer { ...B ...B } fragment B on Viewer { ...A }",
    ] {
        let err = expanded_sizes(&parse(doc), &limits(10_000)).expect_err(doc);
        assert_eq!(
            crate::graphql::errors::code_of(&err),
            Some(ErrorCode::GraphqlValidationFailed)
        );
        assert!(err.message.starts_with("Cannot spread fragment"), "{}", err.message);
    }
}

#[test]
fn the_operation_must_exist() {
    let two = parse("query A { viewer { id } } query B { viewer { id } }");
    assert!(selected(&two, Some("A")).is_ok());
    for (doc, name) in [
        (&two, Some("C")),
        (&two, None),
        (&parse("{ viewer { id } }"), Some("A")),
    ] {
        let err = selected(doc, name).expect_err("refused");
        assert_eq!(
            crate::graphql::errors::code_of(&err),
            Some(ErrorCode::BadUserInput)
        );
    }
}

#[test]
fn nul_characters_are_refused_wherever_they_hide() {
    let clean = parse(r#"query($a: String = "x") { project(id: "y") { id } }"#);
    assert_eq!(code(storable_input(&clean, &Variables::default())), None);
    for doc in [
        r#"query { project(id: "a\u0000b") { id } }"#,
        r#"query($a: JSON = {k: "\u0000"}) { viewer { id } }"#,
        r#"query { viewer { id @include(if: true) ... on Viewer @skip(if: false) { email } } } fragment F on Viewer { projects(filter: {titleContains: "\u0000"}) { totalCount } }"#,
        r#"mutation { updateSettings(input: {theme: {list: ["ok", {deep: "\u0000"}]}}) { model } }"#,
    ] {
        assert_eq!(
            code(storable_input(&parse(doc), &Variables::default())),
            Some(ErrorCode::BadUserInput),
            "{doc}"
        );
    }
    for variables in [
        serde_json::json!({ "a": "x\u{0}" }),
        serde_json::json!({ "a": { "nested": ["ok", "x\u{0}"] } }),
        serde_json::json!({ "a": { "key\u{0}": 1 } }),
    ] {
        assert_eq!(
            code(storable_input(
                &clean,
                &Variables::from_json(variables.clone())
            )),
            Some(ErrorCode::BadUserInput),
            "{variables}"
        );
    }
}
