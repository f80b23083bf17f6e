//! Updates: the tri-state fields of a patch (absent keeps a column, null clears it, a value
//! sets it) and the one guarded read every update starts with.
//!
//! An update operation reads its row once, scoped by a `readable_*` condition and telling
//! in the same statement whether `editable_*` (or any other condition) holds, then writes
//! once, scoped by `editable_*`. The patch arrives as the API decoded it, an `AppResult`:
//! operations open it only after visibility (and, where they did so before, permission)
//! answered, so the shape of an input never tells a caller about a row it may not see.

use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, PrimaryKeyTrait, QueryFilter, QueryResult, QuerySelect, Value,
};

use crate::error::{AppError, AppResult};

/// A patch field that cannot be cleared: absent (keep the column) or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UnrequiredField<T> {
    #[default]
    Absent,
    Some(T),
}

/// A patch field of a nullable column: absent (keep), null (clear) or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UnrequiredNullableField<T> {
    #[default]
    Absent,
    None,
    Some(T),
}

impl<T> UnrequiredField<T> {
    /// The new value, if the field is present.
    pub fn value(&self) -> Option<&T> {
        match self {
            UnrequiredField::Absent => None,
            UnrequiredField::Some(v) => Some(v),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> UnrequiredField<U> {
        match self {
            UnrequiredField::Absent => UnrequiredField::Absent,
            UnrequiredField::Some(v) => UnrequiredField::Some(f(v)),
        }
    }

    /// Checks (and may normalise) a present value.
    pub fn try_map<U>(self, f: impl FnOnce(T) -> AppResult<U>) -> AppResult<UnrequiredField<U>> {
        Ok(match self {
            UnrequiredField::Absent => UnrequiredField::Absent,
            UnrequiredField::Some(v) => UnrequiredField::Some(f(v)?),
        })
    }

    /// Sets `target` to the value; an absent field leaves it as it is.
    pub fn apply(self, target: &mut ActiveValue<T>)
    where
        T: Into<Value>,
    {
        if let UnrequiredField::Some(v) = self {
            *target = ActiveValue::Set(v);
        }
    }
}

impl<T> UnrequiredNullableField<T> {
    /// The new value, if the field is present and not null.
    pub fn value(&self) -> Option<&T> {
        match self {
            UnrequiredNullableField::Some(v) => Some(v),
            _ => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> UnrequiredNullableField<U> {
        match self {
            UnrequiredNullableField::Absent => UnrequiredNullableField::Absent,
            UnrequiredNullableField::None => UnrequiredNullableField::None,
            UnrequiredNullableField::Some(v) => UnrequiredNullableField::Some(f(v)),
        }
    }

    /// Sets `target` to the value or to null; an absent field leaves it as it is.
    pub fn apply(self, target: &mut ActiveValue<Option<T>>)
    where
        Option<T>: Into<Value>,
    {
        match self {
            UnrequiredNullableField::Absent => {}
            UnrequiredNullableField::None => *target = ActiveValue::Set(None),
            UnrequiredNullableField::Some(v) => *target = ActiveValue::Set(Some(v)),
        }
    }
}

impl<T> From<Option<T>> for UnrequiredNullableField<T> {
    fn from(value: Option<T>) -> Self {
        match value {
            Some(v) => UnrequiredNullableField::Some(v),
            None => UnrequiredNullableField::None,
        }
    }
}

/// A row and, for each condition asked about, whether the row satisfies it.
pub struct Checked<M, const N: usize> {
    pub row: M,
    pub holds: [bool; N],
}

const CHECK_COLUMNS: [&str; 4] = ["check_0", "check_1", "check_2", "check_3"];

impl<M: FromQueryResult, const N: usize> FromQueryResult for Checked<M, N> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let mut holds = [false; N];
        for (i, held) in holds.iter_mut().enumerate() {
            *held = res.try_get(pre, CHECK_COLUMNS[i])?;
        }
        Ok(Checked {
            row: M::from_query_result(res, pre)?,
            holds,
        })
    }
}

/// Row `id` of `E` if it satisfies `readable`, with whether it satisfies each of `checks`
/// (at most four), in one statement. `lock` takes a row lock on Postgres for the rest of the
/// transaction (on SQLite the IMMEDIATE write transaction already holds the write lock).
pub async fn find_checked<E, const N: usize>(
    db: &impl ConnectionTrait,
    id: <E::PrimaryKey as PrimaryKeyTrait>::ValueType,
    readable: Condition,
    checks: [Condition; N],
    lock: bool,
) -> AppResult<Option<Checked<E::Model, N>>>
where
    E: EntityTrait,
{
    const { assert!(N <= CHECK_COLUMNS.len(), "at most four checks") };
    let mut select = E::find_by_id(id).filter(readable);
    for (i, check) in checks.into_iter().enumerate() {
        select = select.column_as::<Expr, _>(
            Expr::case(check, true).finally(false).into(),
            CHECK_COLUMNS[i],
        );
    }
    if lock && db.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    Ok(select.into_model::<Checked<E::Model, N>>().one(db).await?)
}

/// Writes the changed columns of `row` while `editable` still holds for it (the write is
/// scoped by the access condition too) and returns the row as stored; `refused()` when
/// it no longer holds.
pub async fn write<A>(
    db: &impl ConnectionTrait,
    row: A,
    editable: Condition,
    refused: impl FnOnce() -> AppError,
) -> AppResult<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    match A::Entity::update(row)
        .validate()?
        .filter(editable)
        .exec(db)
        .await
    {
        Ok(updated) => Ok(updated),
        Err(DbErr::RecordNotUpdated) => Err(refused()),
        Err(e) => Err(e.into()),
    }
}
