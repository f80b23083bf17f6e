//! Persisted queries: automatic persisted queries (APQ v1), where a query is stored under
//! its SHA-256 hash and can then be sent by hash alone, over GET, POST or WebSocket; and
//! trusted documents, a manifest read once at start whose documents can be sent by hash
//! without being registered first.
//!
//! In persisted-only mode only documents already known run: a trusted document or one in
//! the APQ store, sent by hash or as its exact text. Any other text, and any attempt to
//! register a new persisted query, is refused ([`ApqError::NotTrusted`],
//! [`ApqError::RegistrationRefused`]). Cost: one SHA-256 of the text per request that
//! sends one (bounded by the body limit); the store holds at most its capacity in
//! queries and in bytes (`--apq-max-bytes`), dropping the least recently used first; the
//! manifest holds what the file holds.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

#[derive(Debug, PartialEq, Eq)]
pub enum ApqError {
    /// A hash without a query that is not stored.
    NotFound,
    /// A hash that does not match its query.
    Mismatch,
    /// Neither a query nor a persisted-query hash.
    Missing,
    /// Persisted-only mode: a document text that is not trusted.
    NotTrusted,
    /// Persisted-only mode: a new persisted query sent to be registered.
    RegistrationRefused,
}

/// What a client is told when persisted-only mode refuses its request.
pub fn refusal(err: &ApqError) -> &'static str {
    match err {
        ApqError::RegistrationRefused => {
            "this server runs only trusted documents: registering a persisted query is refused"
        }
        _ => {
            "this server runs only trusted documents: send a trusted document's \
             extensions.persistedQuery.sha256Hash (or its exact text)"
        }
    }
}

/// Trusted documents by their SHA-256 (lowercase hex): what a manifest file holds.
pub type TrustedDocuments = HashMap<String, String>;

/// The hash persisted queries are named by: SHA-256 of the text, lowercase hex.
pub fn hash_of(document: &str) -> String {
    hex::encode(Sha256::digest(document.as_bytes()))
}

/// Reads a trusted-documents manifest: a JSON object `{ "<sha256 hex>": "<document>" }`
/// (what GraphQL Code Generator's persisted documents and Relay's `persisted_queries.json`
/// hold), or Apollo's persisted-query manifest (`{ "format":
/// "apollo-persisted-query-manifest", "operations": [{ "id", "body", ... }] }`). Every
/// hash must be the SHA-256 of its document and every document must parse; the error
/// says which entry is wrong, for the operator.
pub fn load_trusted_documents(path: &Path) -> Result<TrustedDocuments, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the trusted documents file {shown}: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("the trusted documents file {shown} is not JSON: {e}"))?;
    let entries: Vec<(String, String)> = match &json {
        serde_json::Value::Object(map) if map.contains_key("operations") => map["operations"]
            .as_array()
            .ok_or_else(|| format!("{shown}: `operations` must be a list"))?
            .iter()
            .map(|op| match (op["id"].as_str(), op["body"].as_str()) {
                (Some(id), Some(body)) => Ok((id.to_owned(), body.to_owned())),
                _ => Err(format!(
                    "{shown}: every operation needs a string `id` and `body`"
                )),
            })
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(hash, document)| match document.as_str() {
                Some(document) => Ok((hash.clone(), document.to_owned())),
                None => Err(format!("{shown}: the document of {hash} is not a string")),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(format!(
                "{shown}: expected a JSON object {{ \"<sha256 hex>\": \"<document>\" }}"
            ))
        }
    };
    let mut trusted = TrustedDocuments::with_capacity(entries.len());
    for (hash, document) in entries {
        let actual = hash_of(&document);
        if hash.to_ascii_lowercase() != actual {
            return Err(format!(
                "{shown}: the hash {hash} does not match its document (its SHA-256 is {actual})"
            ));
        }
        if let Err(err) = async_graphql::parser::parse_query(&document) {
            return Err(format!(
                "{shown}: the document {hash} does not parse: {err}"
            ));
        }
        trusted.insert(actual, document);
    }
    Ok(trusted)
}

/// How much the store may hold: registered queries, and their bytes.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub queries: usize,
    pub bytes: usize,
}

/// What one stored query costs beyond its text: its hash (64 bytes of hex) and the map's
/// and list's bookkeeping, rounded up.
const ENTRY_OVERHEAD: usize = 128;

/// Registered queries, least recently used first out, and the bytes they take.
struct Store {
    queries: lru::LruCache<String, String>,
    bytes: usize,
}

/// A bounded store of persisted queries, the trusted documents beside it, and the mode.
pub struct PersistedQueries {
    store: Mutex<Store>,
    limits: StoreLimits,
    trusted: TrustedDocuments,
    persisted_only: bool,
}

fn entry_bytes(query: &str) -> usize {
    query.len() + ENTRY_OVERHEAD
}

impl PersistedQueries {
    /// An empty store within `limits`, no trusted documents.
    pub fn new(limits: StoreLimits) -> Self {
        Self::with_trusted(limits, TrustedDocuments::new(), false)
    }

    /// A store that also knows `trusted` documents; with `persisted_only`, only known
    /// documents run and nothing new is registered.
    pub fn with_trusted(
        limits: StoreLimits,
        trusted: TrustedDocuments,
        persisted_only: bool,
    ) -> Self {
        PersistedQueries {
            store: Mutex::new(Store {
                queries: lru::LruCache::unbounded(),
                bytes: 0,
            }),
            limits,
            trusted,
            persisted_only,
        }
    }

    /// Registered queries and the bytes they take.
    pub fn stored(&self) -> (usize, usize) {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        (store.queries.len(), store.bytes)
    }

    /// Registers `query` under `hash`, dropping the least recently used ones until it fits;
    /// a query larger than the whole store runs but is not kept.
    fn register(&self, hash: String, query: &str) {
        let cost = entry_bytes(query);
        if cost > self.limits.bytes || self.limits.queries == 0 {
            return;
        }
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        while store.bytes + cost > self.limits.bytes || store.queries.len() >= self.limits.queries {
            let Some((_, dropped)) = store.queries.pop_lru() else {
                break;
            };
            store.bytes -= entry_bytes(&dropped);
        }
        if let Some(replaced) = store.queries.put(hash, query.to_owned()) {
            store.bytes -= entry_bytes(&replaced);
        }
        store.bytes += cost;
    }

    pub fn persisted_only(&self) -> bool {
        self.persisted_only
    }

    /// The document with this hash, trusted or registered.
    fn known(&self, hash: &str) -> Option<String> {
        if let Some(document) = self.trusted.get(hash) {
            return Some(document.clone());
        }
        self.store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queries
            .get(hash)
            .cloned()
    }

    /// The query to run for a request's `query` and `extensions`.
    pub fn resolve(
        &self,
        query: Option<String>,
        extensions: Option<&serde_json::Value>,
    ) -> Result<String, ApqError> {
        let hash = extensions
            .and_then(|e| e.get("persistedQuery"))
            .filter(|p| p.get("version").and_then(|v| v.as_i64()) == Some(1))
            .and_then(|p| p.get("sha256Hash"))
            .and_then(|h| h.as_str())
            .map(|h| h.to_ascii_lowercase());
        let query = query.filter(|q| !q.is_empty());
        match (query, hash) {
            (Some(q), None) if self.persisted_only => match self.known(&hash_of(&q)) {
                Some(_) => Ok(q),
                None => Err(ApqError::NotTrusted),
            },
            (Some(q), None) => Ok(q),
            (None, None) => Err(ApqError::Missing),
            (Some(q), Some(hash)) => {
                if hash_of(&q) != hash {
                    return Err(ApqError::Mismatch);
                }
                if self.known(&hash).is_some() {
                    return Ok(q);
                }
                if self.persisted_only {
                    return Err(ApqError::RegistrationRefused);
                }
                self.register(hash, &q);
                Ok(q)
            }
            (None, Some(hash)) => self.known(&hash).ok_or(ApqError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(hash: &str) -> serde_json::Value {
        serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
    }

    const SMALL: StoreLimits = StoreLimits {
        queries: 10,
        bytes: 1 << 20,
    };

    #[test]
    fn stores_by_hash_and_refuses_mismatches() {
        let apq = PersistedQueries::new(SMALL);
        let query = "{ viewer { id } }";
        let hash = hex::encode(Sha256::digest(query.as_bytes()));
        assert_eq!(
            apq.resolve(None, Some(&ext(&hash))),
            Err(ApqError::NotFound)
        );
        assert_eq!(
            apq.resolve(Some(query.into()), Some(&ext(&hash)))
                .as_deref(),
            Ok(query)
        );
        assert_eq!(apq.resolve(None, Some(&ext(&hash))).as_deref(), Ok(query));
        assert_eq!(
            apq.resolve(Some("{ other }".into()), Some(&ext(&hash))),
            Err(ApqError::Mismatch)
        );
        assert_eq!(apq.resolve(None, None), Err(ApqError::Missing));
    }

    #[test]
    fn persisted_only_runs_known_documents_and_registers_nothing() {
        let trusted_query = "{ viewer { id } }";
        let trusted_hash = hash_of(trusted_query);
        let other = "{ viewer { email } }";
        let other_hash = hash_of(other);
        let apq = PersistedQueries::with_trusted(
            SMALL,
            TrustedDocuments::from([(trusted_hash.clone(), trusted_query.to_owned())]),
            true,
        );
        assert!(apq.persisted_only());
        assert_eq!(
            apq.resolve(None, Some(&ext(&trusted_hash))).as_deref(),
            Ok(trusted_query)
        );
        assert_eq!(
            apq.resolve(None, Some(&ext(&trusted_hash.to_ascii_uppercase())))
                .as_deref(),
            Ok(trusted_query)
        );
        assert_eq!(
            apq.resolve(Some(trusted_query.into()), None).as_deref(),
            Ok(trusted_query)
        );
        assert_eq!(
            apq.resolve(Some(trusted_query.into()), Some(&ext(&trusted_hash)))
                .as_deref(),
            Ok(trusted_query)
        );
        assert_eq!(
            apq.resolve(Some(other.into()), None),
            Err(ApqError::NotTrusted)
        );
        assert_eq!(
            apq.resolve(Some(other.into()), Some(&ext(&other_hash))),
            Err(ApqError::RegistrationRefused)
        );
        assert_eq!(
            apq.resolve(None, Some(&ext(&other_hash))),
            Err(ApqError::NotFound)
        );
        assert_eq!(
            apq.resolve(Some(other.into()), Some(&ext(&trusted_hash))),
            Err(ApqError::Mismatch)
        );
    }

    #[test]
    fn trusted_documents_are_served_by_hash_without_persisted_only() {
        let query = "{ viewer { id } }";
        let hash = hash_of(query);
        let apq = PersistedQueries::with_trusted(
            SMALL,
            TrustedDocuments::from([(hash.clone(), query.to_owned())]),
            false,
        );
        assert_eq!(apq.resolve(None, Some(&ext(&hash))).as_deref(), Ok(query));
        assert_eq!(
            apq.resolve(Some("{ other }".into()), None).as_deref(),
            Ok("{ other }")
        );
    }

    /// A query of `len` bytes that parses, distinct per `n`.
    fn big_query(n: usize, len: usize) -> String {
        let head = format!("{{ viewer {{ id }} }} # {n} ");
        format!("{head}{}", "x".repeat(len.saturating_sub(head.len())))
    }

    fn register(apq: &PersistedQueries, query: &str) {
        let hash = hash_of(query);
        assert_eq!(
            apq.resolve(Some(query.into()), Some(&ext(&hash)))
                .as_deref(),
            Ok(query)
        );
    }

    /// The case (300 registrations of 900 KB kept 263 MiB), scaled down a hundred
    /// times so that the debug build hashes it quickly: the store keeps at most its byte
    /// budget, the most recently used first.
    #[test]
    fn the_store_is_bounded_in_bytes_least_recently_used_out() {
        const SIZE: usize = 9 * 1024;
        let budget = 160 << 10;
        let apq = PersistedQueries::new(StoreLimits {
            queries: 10_000,
            bytes: budget,
        });
        let first = big_query(0, SIZE);
        register(&apq, &first);
        for n in 1..300 {
            register(&apq, &big_query(n, SIZE));
            // The first one stays in use: it is never the least recently used.
            assert!(apq.resolve(None, Some(&ext(&hash_of(&first)))).is_ok());
        }
        let (count, bytes) = apq.stored();
        assert!(bytes <= budget, "{bytes} bytes kept");
        assert_eq!(count, budget / entry_bytes(&first));
        assert_eq!(bytes, count * entry_bytes(&first));
        let oldest_unused = hash_of(&big_query(1, SIZE));
        assert_eq!(
            apq.resolve(None, Some(&ext(&oldest_unused))),
            Err(ApqError::NotFound)
        );
        let newest = hash_of(&big_query(299, SIZE));
        assert!(apq.resolve(None, Some(&ext(&newest))).is_ok());

        // Larger than the whole store: it runs, and is not kept.
        let huge = big_query(1000, budget);
        register(&apq, &huge);
        assert_eq!(
            apq.resolve(None, Some(&ext(&hash_of(&huge)))),
            Err(ApqError::NotFound)
        );
        assert_eq!(apq.stored(), (count, bytes));

        // The count bound holds too.
        let apq = PersistedQueries::new(StoreLimits {
            queries: 3,
            bytes: budget,
        });
        for n in 0..5 {
            register(&apq, &big_query(n, 100));
        }
        assert_eq!(apq.stored(), (3, 3 * entry_bytes(&big_query(0, 100))));
    }

    fn manifest(contents: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("trusted.json");
        std::fs::write(&path, contents).expect("write the manifest");
        (dir, path)
    }

    #[test]
    fn manifests_load_in_both_formats() {
        let query = "query Me { viewer { id } }";
        let hash = hash_of(query);
        let (_dir, path) = manifest(&serde_json::json!({ hash.clone(): query }).to_string());
        let loaded = load_trusted_documents(&path).expect("a flat manifest loads");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded.get(&hash).map(String::as_str), Some(query));

        let apollo = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": hash.to_ascii_uppercase(), "name": "Me", "type": "query", "body": query }]
        });
        let (_dir, path) = manifest(&apollo.to_string());
        let loaded = load_trusted_documents(&path).expect("an Apollo manifest loads");
        assert_eq!(loaded.get(&hash).map(String::as_str), Some(query));
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let query = "{ viewer { id } }";
        let wrong = hash_of("{ viewer { email } }");
        let (_dir, path) = manifest(&serde_json::json!({ wrong.clone(): query }).to_string());
        let err = load_trusted_documents(&path).expect_err("a wrong hash is refused");
        assert!(
            err.contains(&format!("the hash {wrong} does not match its document"))
                && err.contains(&hash_of(query)),
            "{err}"
        );

        let broken = "{ viewer { id }";
        let (_dir, path) = manifest(&serde_json::json!({ hash_of(broken): broken }).to_string());
        let err = load_trusted_documents(&path).expect_err("a broken document is refused");
        assert!(err.contains("does not parse"), "{err}");

        let (_dir, path) = manifest("[1, 2]");
        let err = load_trusted_documents(&path).expect_err("a list is refused");
        assert!(err.contains("expected a JSON object"), "{err}");

        let (_dir, path) = manifest("{ not json");
        let err = load_trusted_documents(&path).expect_err("non-JSON is refused");
        assert!(err.contains("is not JSON"), "{err}");

        let err = load_trusted_documents(Path::new("/nonexistent/trusted.json"))
            .expect_err("a missing file is refused");
        assert!(
            err.starts_with("cannot read the trusted documents file /nonexistent/trusted.json"),
            "{err}"
        );
    }
}
