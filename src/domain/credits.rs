//! [credits]: a balance per user and an append-only ledger.
//!
//! Every change of a balance writes one ledger row in the same transaction, numbered by
//! the account's `entries` counter, so `balanceAfter` of each row is the previous row's
//! plus its `amount`. A write first locks the account (a row lock on Postgres; SQLite's
//! IMMEDIATE transaction already holds the write lock), then looks for the idempotency
//! key, then checks the balance. The update itself is also conditional on the balance and
//! the counter it read, and `(user, idempotencyKey)` and `(user, sequence)` are unique, so
//! no interleaving can overdraw, fork the ledger or charge a key twice: a replay that
//! loses a race rolls back and returns the first transaction.

use entity::credit_transaction::Model as CreditTransaction;
use entity::enums::CreditKind;
use entity::{credit_account, credit_transaction, profile};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, QueryTrait, SqlErr,
};
use uuid::Uuid;

use crate::access;
use crate::auth::Viewer;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::paging::{KeyKind, Keyed, Sort};
use crate::validate;

impl Keyed for credit_transaction::Model {
    fn key_id(&self) -> Uuid {
        self.id
    }
}

const KEY_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 2_000;
const REFERENCE_MAX: usize = 500;
/// Balances are GraphQL `Int`s.
const BALANCE_MAX: i64 = i32::MAX as i64;

/// The ledger: newest first.
pub fn transaction_sort() -> Sort {
    Sort::new(
        "credit:newest",
        Expr::col((credit_transaction::Entity, credit_transaction::Column::Id)),
    )
    .then(
        Expr::col((
            credit_transaction::Entity,
            credit_transaction::Column::Sequence,
        )),
        true,
        KeyKind::Integer,
    )
}

/// The select behind `viewer.credits.transactions`.
pub fn viewer_transactions_query(viewer: &Viewer) -> AppResult<SelectStatement> {
    access::require_user(viewer)?;
    Ok(credit_transaction::Entity::find()
        .filter(access::readable_credit_transactions(viewer))
        .into_query())
}

/// The viewer's balance (0 for an account not opened yet).
pub async fn viewer_balance(db: &impl ConnectionTrait, viewer: &Viewer) -> AppResult<i64> {
    let user = access::require_user(viewer)?;
    let balance = credit_account::Entity::find_by_id(user)
        .filter(access::readable_credit_accounts(viewer))
        .select_only()
        .column(credit_account::Column::Balance)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(balance.unwrap_or(0))
}

/// Opens a new user's account with the signup grant (and its ledger row when positive).
/// Part of the first request's transaction; does nothing for an existing account.
pub async fn open_account(
    db: &impl ConnectionTrait,
    user: Uuid,
    signup_credits: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let grant = std::cmp::Ord::min(i64::from(signup_credits), BALANCE_MAX);
    let opened = credit_account::Entity::insert(credit_account::ActiveModel {
        user_id: Set(user),
        balance: Set(grant),
        entries: Set(if grant > 0 { 1 } else { 0 }),
    })
    .on_conflict(
        OnConflict::column(credit_account::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if opened == 1 && grant > 0 {
        credit_transaction::ActiveModel {
            id: Set(Uuid::new_v4()),
            user_id: Set(user),
            sequence: Set(1),
            amount: Set(grant),
            balance_after: Set(grant),
            kind: Set(CreditKind::Grant),
            description: Set(Some("signup grant".to_owned())),
            reference: Set(None),
            idempotency_key: Set(None),
            created_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// A ledger change requested by a caller.
#[derive(Debug, Clone)]
struct Change {
    user: Uuid,
    amount: i64,
    kind: CreditKind,
    description: Option<String>,
    reference: Option<String>,
    idempotency_key: String,
}

fn check_texts(
    key: &str,
    description: Option<&String>,
    reference: Option<&String>,
) -> AppResult<String> {
    let key = validate::required_text("idempotencyKey", key, KEY_MAX)?;
    if let Some(d) = description {
        validate::text_len("description", d, DESCRIPTION_MAX)?;
    }
    if let Some(r) = reference {
        validate::text_len("reference", r, REFERENCE_MAX)?;
    }
    Ok(key)
}

/// The transaction a key already made for `user`, if any.
async fn find_by_key(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    user: Uuid,
    key: &str,
) -> AppResult<Option<CreditTransaction>> {
    Ok(credit_transaction::Entity::find()
        .filter(access::readable_credit_transactions(viewer))
        .filter(credit_transaction::Column::UserId.eq(user))
        .filter(credit_transaction::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// The account, locked for the rest of the transaction.
async fn lock_account(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    user: Uuid,
) -> AppResult<Option<credit_account::Model>> {
    let mut select =
        credit_account::Entity::find_by_id(user).filter(access::readable_credit_accounts(viewer));
    if db.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    Ok(select.one(db).await?)
}

fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// What one attempt at a change ended with.
enum Outcome {
    Done(CreditTransaction),
    /// Another request with the same key won a race; the caller reads its transaction.
    Replayed,
}

async fn attempt(db: &DatabaseConnection, viewer: &Viewer, change: &Change) -> AppResult<Outcome> {
    let txn = db::begin_write(db).await?;
    let account = lock_account(&txn, viewer, change.user).await?;
    if let Some(first) = find_by_key(&txn, viewer, change.user, &change.idempotency_key).await? {
        txn.commit().await?;
        return Ok(Outcome::Done(first));
    }
    let account_missing = account.is_none();
    let (balance, entries) = match account {
        Some(a) => (a.balance, a.entries),
        None => (0, 0),
    };
    let after = balance + change.amount;
    if after < 0 {
        return Err(AppError::InsufficientCredits(format!(
            "the balance is {balance}; {} credits are not available",
            -change.amount
        )));
    }
    if account_missing {
        // An account the gateway has not opened yet (a profile older than the ledger).
        credit_account::Entity::insert(credit_account::ActiveModel {
            user_id: Set(change.user),
            balance: Set(0),
            entries: Set(0),
        })
        .on_conflict(
            OnConflict::column(credit_account::Column::UserId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    if after > BALANCE_MAX {
        return Err(AppError::bad_input(format!(
            "a balance cannot exceed {BALANCE_MAX}"
        )));
    }
    let sequence = entries
        .checked_add(1)
        .ok_or_else(|| AppError::Conflict("the ledger is full".to_owned()))?;
    let updated = txn
        .execute(
            &Query::update()
                .table(credit_account::Entity)
                .value(credit_account::Column::Balance, after)
                .value(credit_account::Column::Entries, sequence)
                .and_where(
                    Expr::col((credit_account::Entity, credit_account::Column::UserId))
                        .eq(change.user),
                )
                .and_where(
                    Expr::col((credit_account::Entity, credit_account::Column::Balance))
                        .eq(balance),
                )
                .and_where(
                    Expr::col((credit_account::Entity, credit_account::Column::Entries))
                        .eq(entries),
                )
                .cond_where(access::readable_credit_accounts(viewer))
                .to_owned(),
        )
        .await?;
    if updated.rows_affected() != 1 {
        return Err(AppError::Conflict(
            "the balance changed meanwhile; try again".to_owned(),
        ));
    }
    let row = credit_transaction::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(change.user),
        sequence: Set(sequence),
        amount: Set(change.amount),
        balance_after: Set(after),
        kind: Set(change.kind),
        description: Set(change.description.clone()),
        reference: Set(change.reference.clone()),
        idempotency_key: Set(Some(change.idempotency_key.clone())),
        created_at: Set(db::now()),
    };
    match row.insert(&txn).await {
        Ok(saved) => {
            txn.commit().await?;
            Ok(Outcome::Done(saved))
        }
        Err(err) if is_unique_violation(&err) => {
            txn.rollback().await?;
            Ok(Outcome::Replayed)
        }
        Err(err) => Err(err.into()),
    }
}

/// Applies a change once per idempotency key.
async fn apply(
    db: &DatabaseConnection,
    viewer: &Viewer,
    change: Change,
) -> AppResult<CreditTransaction> {
    match attempt(db, viewer, &change).await? {
        Outcome::Done(saved) => Ok(saved),
        Outcome::Replayed => {
            let first = find_by_key(db, viewer, change.user, &change.idempotency_key).await?;
            first.ok_or_else(|| {
                AppError::Conflict("a concurrent write took this ledger position".to_owned())
            })
        }
    }
}

#[derive(Debug, Clone)]
pub struct Spend {
    pub amount: i32,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub idempotency_key: String,
}

/// Takes credits from the viewer's balance: `INSUFFICIENT_CREDITS` (nothing changed) when
/// it is too low; a replayed key returns the first transaction.
pub async fn spend(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: Spend,
) -> AppResult<CreditTransaction> {
    let user = access::require_user(viewer)?;
    if input.amount <= 0 {
        return Err(AppError::bad_input("amount must be positive"));
    }
    let key = check_texts(
        &input.idempotency_key,
        input.description.as_ref(),
        input.reference.as_ref(),
    )?;
    apply(
        db,
        viewer,
        Change {
            user,
            amount: -i64::from(input.amount),
            kind: CreditKind::Usage,
            description: input.description,
            reference: input.reference,
            idempotency_key: key,
        },
    )
    .await
}

#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: Uuid,
    pub amount: i32,
    pub kind: CreditKind,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub idempotency_key: String,
}

/// Adds (or, as an ADJUSTMENT, removes) credits of any user: the service role only.
pub async fn grant(
    db: &DatabaseConnection,
    viewer: &Viewer,
    input: Grant,
) -> AppResult<CreditTransaction> {
    access::require_service(viewer)?;
    let exists = profile::Entity::find_by_id(input.user_id)
        .filter(access::readable_profiles(viewer))
        .select_only()
        .column(profile::Column::Id)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some();
    if !exists {
        return Err(AppError::not_found("user"));
    }
    match input.kind {
        CreditKind::Usage => {
            return Err(AppError::bad_input(
                "USAGE is recorded by spendCredits, not granted",
            ))
        }
        CreditKind::Adjustment => {}
        _ if input.amount <= 0 => {
            return Err(AppError::bad_input(
                "amount must be positive; use kind ADJUSTMENT to take credits away",
            ))
        }
        _ => {}
    }
    let key = check_texts(
        &input.idempotency_key,
        input.description.as_ref(),
        input.reference.as_ref(),
    )?;
    apply(
        db,
        viewer,
        Change {
            user: input.user_id,
            amount: i64::from(input.amount),
            kind: input.kind,
            description: input.description,
            reference: input.reference,
            idempotency_key: key,
        },
    )
    .await
}
