//! Automatic persisted queries (APQ v1): a query is stored under its SHA-256 hash and can
//! then be sent by hash alone, over GET or POST.

use std::collections::HashMap;
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
}

/// A bounded store of persisted queries.
pub struct PersistedQueries {
    queries: Mutex<HashMap<String, String>>,
    capacity: usize,
}

impl PersistedQueries {
    pub fn new(capacity: usize) -> Self {
        PersistedQueries {
            queries: Mutex::new(HashMap::new()),
            capacity,
        }
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
            (Some(q), None) => Ok(q),
            (None, None) => Err(ApqError::Missing),
            (Some(q), Some(hash)) => {
                if hex::encode(Sha256::digest(q.as_bytes())) != hash {
                    return Err(ApqError::Mismatch);
                }
                let mut queries = self.queries.lock().unwrap_or_else(|p| p.into_inner());
                if queries.len() >= self.capacity {
                    queries.clear();
                }
                queries.insert(hash, q.clone());
                Ok(q)
            }
            (None, Some(hash)) => self
                .queries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&hash)
                .cloned()
                .ok_or(ApqError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(hash: &str) -> serde_json::Value {
        serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
    }

    #[test]
    fn stores_by_hash_and_refuses_mismatches() {
        let apq = PersistedQueries::new(10);
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
}
