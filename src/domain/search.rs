//! [search]: full-text search over the messages a viewer may read. Every word of the query
//! must match (stemmed, case-insensitive), best match first, then newest; messages of
//! encrypted conversations are never searched. The readable conversations come from
//! `access`; this module adds only the search terms, the rank and the snippet.
//!
//! The query is text, never syntax. Postgres turns it into a `tsquery` with
//! `plainto_tsquery` (the same parser as the index; every operator character is a word
//! separator, the surviving words are joined with `&`); SQLite gets an FTS5 query built
//! here from the query's words, each one double-quoted (a quote inside doubled), so no
//! FTS5 operator (`AND`, `NEAR`, `^`, `*`, `:`, parentheses) is ever read as one.
//!
//! Cost of one search: one statement for the page (the viewer's readable, unencrypted
//! conversations are filtered before ranking), one more for `totalCount` when selected and
//! one for `hasPreviousPage` after a cursor. The snippet is computed for the page's rows
//! only, on Postgres from the first [`SNIPPET_SOURCE_CHARS`] characters of each message.

use std::sync::Arc;

use entity::{conversation, message};
use sea_orm::sea_query::{Alias, Asterisk, Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, JoinType, QueryResult,
    QueryTrait,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};
use crate::paging::{self, KeyKind, Keyed, Page, PageArgs, PageLimits, PageRequest, Sort};

/// Longest query accepted, in characters.
pub const QUERY_MAX_CHARS: usize = 256;

/// Characters of a message that Postgres's `ts_headline` reads for the snippet (it parses
/// all it is given: this bounds its cost per row).
pub const SNIPPET_SOURCE_CHARS: usize = 10_000;

/// Marks around a matched word inside the database's snippet; replaced by `<mark>` and
/// `</mark>` after the rest of the snippet is HTML-escaped.
const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';

const SNIPPET: &str = "snippet";
const ROWID: &str = "__rowid";
const PAGE: &str = "page";

/// How the gateway searches: the text-search configuration (`--search-config`).
#[derive(Debug, Clone)]
pub struct SearchSettings {
    pub config: Arc<str>,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            config: Arc::from(migration::search_index::DEFAULT_CONFIG),
        }
    }
}

/// Makes sure the index was built with the configured text-search configuration, and
/// rebuilds it (re-indexing every message) when it was not. Run once at start, after the
/// migrations. An unknown configuration fails the start.
pub async fn prepare_index(
    db: &impl ConnectionTrait,
    settings: &SearchSettings,
) -> Result<(), DbErr> {
    use migration::search_index;
    let config = &*settings.config;
    // Refuse an unusable configuration before the index is touched.
    if db.get_database_backend() == DbBackend::Postgres {
        let known = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 AS known FROM pg_ts_config WHERE cfgname = $1",
                [config.into()],
            ))
            .await?;
        if known.is_none() {
            return Err(DbErr::Custom(format!(
                "the text-search configuration `{config}` (--search-config, \
                 CONFAB_SEARCH_CONFIG) does not exist on this Postgres server"
            )));
        }
    } else if search_index::sqlite_tokenizer(config).is_none() {
        return Err(DbErr::Custom(search_index::sqlite_refusal(config)));
    }
    if search_index::built_with(db, config).await? {
        return Ok(());
    }
    tracing::warn!(
        config,
        "rebuilding the message search index for a new configuration"
    );
    search_index::drop(db).await?;
    search_index::create(db, config).await
}

/// One hit: the message and its snippet (HTML-escaped, matched words in `<mark>`).
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub message: message::Model,
    pub snippet: Option<String>,
}

impl FromQueryResult for SearchHit {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let raw: Option<String> = row.try_get(pre, SNIPPET)?;
        Ok(SearchHit {
            message: message::Model::from_query_result(row, pre)?,
            snippet: raw.map(|s| marked_html(&s)),
        })
    }
}

impl Keyed for SearchHit {
    fn key_id(&self) -> Uuid {
        self.message.id
    }
}

/// The database's snippet as HTML: the text escaped, the marks as `<mark>` elements.
fn marked_html(raw: &str) -> String {
    let mut html = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            MARK_START => html.push_str("<mark>"),
            MARK_END => html.push_str("</mark>"),
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
    html
}

/// English stop words (Postgres's `english.stop`), left out of SQLite queries under the
/// `english` configuration as Postgres leaves them out, so a query of stop words only
/// finds nothing on both backends.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

/// The query with control characters (NUL included, which Postgres refuses in text)
/// turned into spaces, after the checks: not blank, at most [`QUERY_MAX_CHARS`].
fn checked_query(query: &str) -> AppResult<String> {
    if query.trim().is_empty() {
        return Err(AppError::bad_input("`query` must contain a word"));
    }
    if query.chars().count() > QUERY_MAX_CHARS {
        return Err(AppError::bad_input(format!(
            "`query` must be at most {QUERY_MAX_CHARS} characters"
        )));
    }
    Ok(query
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect())
}

/// The FTS5 query for SQLite: the query's words (runs of letters and digits, as FTS5's
/// `unicode61` tokenizer splits them), stop words left out under `english`, each one a
/// double-quoted string (quotes doubled), joined by spaces (FTS5's implicit AND). `None`
/// when no word is left.
fn fts5_query(query: &str, config: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| config != "english" || !ENGLISH_STOP_WORDS.contains(&&*w.to_lowercase()))
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// What a search needs to know about its terms on each backend.
enum Terms {
    /// Postgres: the configuration and the query text, given to `plainto_tsquery`.
    Postgres { config: String, text: String },
    /// SQLite: the FTS5 query built by [`fts5_query`].
    Sqlite { fts: String },
    /// No word to look for (SQLite, stop words or punctuation only): nothing matches.
    Nothing,
}

impl Terms {
    // Postgres expressions number their placeholders (`$1`), SQLite's use `?`. The query
    // is a scalar subquery so Postgres computes it once per statement: with the
    // configuration bound as text, `CAST(.. AS regconfig)` is only stable, and
    // `plainto_tsquery` would otherwise run again for every row it is compared with.
    fn tsquery(config: &str, text: &str) -> Expr {
        Expr::cust_with_values(
            "(SELECT plainto_tsquery(CAST($1 AS regconfig), $2))",
            [config.to_owned(), text.to_owned()],
        )
    }

    /// The rank, higher is better.
    fn rank(&self) -> Expr {
        match self {
            Terms::Postgres { config, text } => Expr::cust_with_exprs(
                "CAST(ts_rank_cd(messages.search_vector, $1) AS double precision)",
                [Terms::tsquery(config, text)],
            ),
            Terms::Sqlite { .. } => Expr::cust("(-bm25(messages_fts))"),
            Terms::Nothing => Expr::val(0.0f64),
        }
    }

    /// Messages that match, selected from `messages` (joined to the FTS5 table on SQLite).
    fn restrict(&self, select: &mut SelectStatement) {
        match self {
            Terms::Postgres { config, text } => {
                select.and_where(Expr::cust_with_exprs(
                    "messages.search_vector @@ $1",
                    [Terms::tsquery(config, text)],
                ));
            }
            Terms::Sqlite { fts } => {
                select
                    .join(
                        JoinType::InnerJoin,
                        Alias::new("messages_fts"),
                        Expr::cust("messages_fts.rowid = messages.rowid"),
                    )
                    .expr_as(Expr::cust("messages.rowid"), Alias::new(ROWID))
                    .and_where(Expr::cust_with_values(
                        "messages_fts MATCH ?",
                        [fts.clone()],
                    ));
            }
            Terms::Nothing => {
                select.and_where(Expr::cust("1 = 0"));
            }
        }
    }

    /// The page's select wrapped so that each of its rows gets its snippet.
    fn with_snippets(&self, page: SelectStatement) -> SelectStatement {
        let mut outer = Query::select()
            .column((Alias::new(PAGE), Asterisk))
            .from_subquery(page, Alias::new(PAGE))
            .to_owned();
        match self {
            Terms::Postgres { config, text } => {
                let options = format!(
                    "StartSel=\"{MARK_START}\", StopSel=\"{MARK_END}\", MaxWords=24, \
                     MinWords=12"
                );
                outer.expr_as(
                    Expr::cust_with_exprs(
                        format!(
                            "ts_headline(CAST($1 AS regconfig), \
                             left(page.content, {SNIPPET_SOURCE_CHARS}), $2, $3)"
                        ),
                        [
                            Expr::val(config.clone()),
                            Terms::tsquery(config, text),
                            Expr::val(options),
                        ],
                    ),
                    Alias::new(SNIPPET),
                );
            }
            Terms::Sqlite { fts } => {
                outer
                    .join(
                        JoinType::InnerJoin,
                        Alias::new("messages_fts"),
                        Expr::cust(format!("messages_fts.rowid = {PAGE}.{ROWID}")),
                    )
                    .and_where(Expr::cust_with_values(
                        "messages_fts MATCH ?",
                        [fts.clone()],
                    ))
                    .expr_as(
                        Expr::cust(format!(
                            "snippet(messages_fts, 0, '{MARK_START}', '{MARK_END}', '…', 16)"
                        )),
                        Alias::new(SNIPPET),
                    );
            }
            Terms::Nothing => {
                outer.expr_as(Expr::cust("NULL"), Alias::new(SNIPPET));
            }
        }
        outer
    }
}

/// Best match first, then newest, then by id.
fn sort(terms: &Terms) -> Sort {
    Sort::new(
        "search:rank",
        Expr::col((message::Entity, message::Column::Id)),
    )
    .then(terms.rank(), true, KeyKind::Float)
    .then(
        Expr::col((message::Entity, message::Column::CreatedAt)),
        true,
        KeyKind::Timestamp,
    )
}

/// A search as the resolver receives it.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub conversation_id: Option<Uuid>,
    pub first: Option<i32>,
    pub after: Option<String>,
}

/// One page of hits, and the unpaged select of every hit (for `totalCount`).
pub async fn search_messages(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    settings: &SearchSettings,
    limits: PageLimits,
    request: SearchRequest,
) -> AppResult<(Page<SearchHit>, SelectStatement)> {
    let query = checked_query(&request.query)?;
    let config = &*settings.config;
    let terms = match db.get_database_backend() {
        DbBackend::Postgres => Terms::Postgres {
            config: config.to_owned(),
            text: query,
        },
        _ => match fts5_query(&query, config) {
            Some(fts) => Terms::Sqlite { fts },
            None => Terms::Nothing,
        },
    };
    let sort = sort(&terms);
    let req = PageRequest::new(
        &PageArgs {
            first: request.first,
            after: request.after,
            last: None,
            before: None,
        },
        &sort,
        limits,
    )?;

    let mut unencrypted = Condition::all()
        .add(Expr::col((conversation::Entity, conversation::Column::Encrypted)).eq(false));
    if let Some(id) = request.conversation_id {
        unencrypted =
            unencrypted.add(Expr::col((conversation::Entity, conversation::Column::Id)).eq(id));
    }
    let searchable = access::readable_conversation_ids(viewer, unencrypted);
    let mut base = message::Entity::find().into_query();
    let conversation_of = Expr::col((message::Entity, message::Column::ConversationId));
    if let Some(id) = request.conversation_id {
        base.and_where(conversation_of.clone().eq(id));
    }
    base.and_where(conversation_of.in_subquery(searchable));
    terms.restrict(&mut base);

    let page: Page<SearchHit> = match terms {
        Terms::Nothing => Page::default(),
        _ => {
            paging::fetch_page_decorated(db, base.clone(), &sort, &req, |page| {
                terms.with_snippets(page)
            })
            .await?
        }
    };
    Ok((page, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts5_query_quotes_every_word_and_drops_operators() {
        assert_eq!(
            fts5_query(r#"NEAR(a b) "x" ^y* c:d \e AND"#, "simple").as_deref(),
            Some(r#""NEAR" "a" "b" "x" "y" "c" "d" "e" "AND""#)
        );
        assert_eq!(
            fts5_query("Running the dogs", "english").as_deref(),
            Some(r#""Running" "dogs""#)
        );
        assert_eq!(fts5_query("the AND of", "english"), None);
        assert_eq!(fts5_query("& | ! ( ) <->", "english"), None);
    }

    #[test]
    fn snippets_are_escaped_html_with_marks() {
        assert_eq!(
            marked_html("<b>x</b> & \u{E000}dogs\u{E001} 'q\""),
            "&lt;b&gt;x&lt;/b&gt; &amp; <mark>dogs</mark> &#39;q&quot;"
        );
    }

    #[test]
    fn blank_and_long_queries_are_refused() {
        assert!(matches!(
            checked_query(" \t\n"),
            Err(AppError::BadUserInput(_))
        ));
        assert!(matches!(
            checked_query(&"a".repeat(QUERY_MAX_CHARS + 1)),
            Err(AppError::BadUserInput(_))
        ));
        assert_eq!(
            checked_query(&"é".repeat(QUERY_MAX_CHARS))
                .map(|q| q.chars().count())
                .ok(),
            Some(QUERY_MAX_CHARS)
        );
        assert_eq!(checked_query("a\0b").ok().as_deref(), Some("a b"));
    }
}
