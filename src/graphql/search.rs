//! GraphQL part of the [search] section: `viewer.searchMessages`. Thin: arguments in, the
//! `search` operation, a `MessageConnection` out (with a snippet on each edge).

use async_graphql::{Context, Object, Result};
use uuid::Uuid;

use crate::domain::search::{self, SearchRequest, SearchSettings};
use crate::graphql::connection::TotalCount;
use crate::graphql::types::MessageConnection;
use crate::graphql::{page_cost, RequestCtx};

/// The [search] fields of `Viewer`.
pub struct ViewerSearch;

#[Object]
impl ViewerSearch {
    /// Full-text search over the messages the viewer may read (their own chats and their
    /// teams' chats); encrypted conversations are never searched. Every word of `query`
    /// must match (stemmed, case-insensitive; operators and quotes are plain text); best
    /// match first, then newest. `query`: 1 to 256 characters, not blank (else
    /// `BAD_USER_INPUT`); stop words only: no hits. `conversationId` narrows the search to
    /// one chat (one the viewer may not read: no hits). `first` at most the maximum page
    /// size. Each edge has a `snippet`.
    #[graphql(complexity = "page_cost(first, None) * child_complexity + 1")]
    async fn search_messages(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
        conversation_id: Option<Uuid>,
    ) -> Result<MessageConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let settings = ctx.data::<SearchSettings>()?;
        let (page, matches) = search::search_messages(
            &rc.db,
            &rc.viewer,
            settings,
            rc.limits,
            SearchRequest {
                query,
                conversation_id,
                first,
                after,
            },
        )
        .await?;
        let mut snippets = std::collections::HashMap::new();
        let page = page.map(|hit| {
            if let Some(snippet) = hit.snippet {
                snippets.insert(hit.message.id, snippet);
            }
            hit.message
        });
        Ok(MessageConnection::new(
            page,
            TotalCount::Select(Box::new(matches)),
            snippets,
        ))
    }
}
