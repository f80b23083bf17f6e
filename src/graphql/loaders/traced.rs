//! A `loader` span around every dataloader batch: one child of the request span per
//! batch, naming the loader and its number of keys, with the batch's SQL statements
//! below it. Debug-level under target `confab::loader`, so only the OTLP exporter
//! enables it; disabled, the span is `Span::none()` and the name is never computed.

use std::collections::HashMap;
use std::hash::Hash;

use async_graphql::dataloader::Loader;
use tracing::Instrument;

/// `L`, with a span around each of its batches.
pub struct Traced<L>(pub L);

impl<K, L> Loader<K> for Traced<L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    type Value = L::Value;
    type Error = L::Error;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, Self::Value>, Self::Error> {
        let span = tracing::debug_span!(
            target: "confab::loader",
            "loader",
            loader = %short_type_name(std::any::type_name::<L>()),
            keys = i64::try_from(keys.len()).unwrap_or(i64::MAX),
        );
        self.0.load(keys).instrument(span).await
    }
}

/// A type name without module paths: `PageLoader<ProjectChats>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn module_paths_are_dropped() {
        assert_eq!(
            short_type_name(
                "confab::graphql::loaders::pages::PageLoader<confab::graphql::loaders::ProjectChats>"
            ),
            "PageLoader<ProjectChats>"
        );
        assert_eq!(short_type_name("a::Teams"), "Teams");
    }
}
