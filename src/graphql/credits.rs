//! GraphQL parts of the [credits] section: the viewer's account and ledger, spending and
//! (service role) granting. Thin resolvers over `crate::domain::credits`.

use async_graphql::{Context, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::credit_transaction;
use entity::enums::CreditKind;
use uuid::Uuid;

use crate::domain::credits::{self, Grant, Spend};
use crate::graphql::connection::connection;
use crate::graphql::connection::root_page;
use crate::graphql::graphql_int;
use crate::graphql::{page_cost, RequestCtx};
use crate::paging::PageArgs;

#[derive(Clone)]
pub struct CreditTransaction(pub credit_transaction::Model);

#[Object]
impl CreditTransaction {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Signed: negative for USAGE.
    async fn amount(&self) -> i32 {
        graphql_int(self.0.amount)
    }
    async fn balance_after(&self) -> i32 {
        graphql_int(self.0.balance_after)
    }
    async fn kind(&self) -> CreditKind {
        self.0.kind
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

connection!(
    CreditTransactionConnection,
    CreditTransactionEdge,
    CreditTransaction,
    credit_transaction::Model
);

/// The viewer's credits; each field reads only what it needs.
pub struct CreditAccount;

#[Object]
impl CreditAccount {
    async fn balance(&self, ctx: &Context<'_>) -> Result<i32> {
        let rc = ctx.data::<RequestCtx>()?;
        Ok(graphql_int(
            credits::viewer_balance(&rc.db, &rc.viewer).await?,
        ))
    }

    /// Newest first.
    #[graphql(complexity = "page_cost(first, last) * child_complexity + 1")]
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CreditTransactionConnection> {
        let rc = ctx.data::<RequestCtx>()?;
        let base = credits::viewer_transactions_query(&rc.viewer)?;
        let (page, total) = root_page(
            rc,
            base,
            &credits::transaction_sort(),
            PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await?;
        Ok(CreditTransactionConnection::new(page, total))
    }
}

/// The [credits] fields of `Viewer`.
pub struct ViewerCredits;

#[Object]
impl ViewerCredits {
    async fn credits(&self) -> CreditAccount {
        CreditAccount
    }
}

#[derive(InputObject)]
pub struct SpendCreditsInput {
    /// Positive number of credits to take.
    pub amount: i32,
    pub description: Option<String>,
    pub reference: Option<String>,
    /// A retry with the same key returns the first transaction and takes nothing more.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct GrantCreditsInput {
    pub user_id: Uuid,
    /// Positive for GRANT, PURCHASE, REFUND; any sign for ADJUSTMENT; never below zero.
    pub amount: i32,
    #[graphql(default_with = "Some(CreditKind::Grant)")]
    pub kind: Option<CreditKind>,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub idempotency_key: String,
}

#[derive(Default)]
pub struct CreditsMutation;

#[Object]
impl CreditsMutation {
    /// INSUFFICIENT_CREDITS when the balance is too low; never leaves a negative balance.
    async fn spend_credits(
        &self,
        ctx: &Context<'_>,
        input: SpendCreditsInput,
    ) -> Result<CreditTransaction> {
        let rc = ctx.data::<RequestCtx>()?;
        let saved = credits::spend(
            &rc.db,
            &rc.viewer,
            Spend {
                amount: input.amount,
                description: input.description,
                reference: input.reference,
                idempotency_key: input.idempotency_key,
            },
        )
        .await?;
        Ok(CreditTransaction(saved))
    }

    /// Service role only.
    async fn grant_credits(
        &self,
        ctx: &Context<'_>,
        input: GrantCreditsInput,
    ) -> Result<CreditTransaction> {
        let rc = ctx.data::<RequestCtx>()?;
        let saved = credits::grant(
            &rc.db,
            &rc.viewer,
            Grant {
                user_id: input.user_id,
                amount: input.amount,
                kind: input.kind.unwrap_or(CreditKind::Grant),
                description: input.description,
                reference: input.reference,
                idempotency_key: input.idempotency_key,
            },
        )
        .await?;
        Ok(CreditTransaction(saved))
    }
}
