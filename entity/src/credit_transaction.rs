use sea_orm::entity::prelude::*;

use crate::enums::CreditKind;

/// One append-only ledger row. `sequence` numbers a user's rows 1, 2, 3, ... in the
/// order they changed the balance.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub sequence: i32,
    pub amount: i64,
    pub balance_after: i64,
    pub kind: CreditKind,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
