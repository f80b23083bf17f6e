//! Keyset pagination: page arguments, opaque cursors, and the two fetchers every list
//! uses: one page of a single list, and page windows of many parents in one statement.
//! A window is the page of one parent, fetched with that parent's own `ORDER BY ... LIMIT`:
//! on Postgres a `LATERAL` subquery per parent (an index scan that stops after the page),
//! on SQLite, which has no `LATERAL`, `ROW_NUMBER() OVER (PARTITION BY parent ...)`.
//!
//! Order is always total: every sort ends with the row id in the sort's direction. A
//! cursor carries the sort's name, the row's sort-key values as the database computed
//! them, and its id; a cursor from another sort is `BAD_USER_INPUT`. A page keeps each
//! row's [`Position`] (those values, unencoded) and encodes a cursor only when one is
//! asked for.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, Condition, Expr, ExprTrait, JoinType, Order, OverStatement, Query,
    SelectStatement, ValueTuple, WindowStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Value};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// What kind of value a sort key holds (how it is read back and compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Timestamp,
    Integer,
    Text,
    /// A double-precision score (a search rank), compared exactly.
    Float,
}

#[derive(Debug, Clone)]
pub struct SortPart {
    pub expr: Expr,
    pub desc: bool,
    pub kind: KeyKind,
}

/// A total order: named parts, then the id in the direction of the first part.
#[derive(Debug, Clone)]
pub struct Sort {
    pub name: &'static str,
    pub parts: Vec<SortPart>,
    pub id: Expr,
}

impl Sort {
    pub fn new(name: &'static str, id: Expr) -> Self {
        Sort {
            name,
            parts: Vec::new(),
            id,
        }
    }

    pub fn then(mut self, expr: Expr, desc: bool, kind: KeyKind) -> Self {
        self.parts.push(SortPart { expr, desc, kind });
        self
    }

    fn id_desc(&self) -> bool {
        self.parts.first().map(|p| p.desc).unwrap_or(false)
    }

    /// (expression, descending) for each key, id last; reversed when paging backward.
    fn keys(&self, reversed: bool) -> Vec<(Expr, bool)> {
        let mut keys: Vec<(Expr, bool)> = self
            .parts
            .iter()
            .map(|p| (p.expr.clone(), p.desc != reversed))
            .collect();
        keys.push((self.id.clone(), self.id_desc() != reversed));
        keys
    }
}

/// One sort-key value inside a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyValue {
    /// Microseconds since the epoch.
    T(i64),
    I(i64),
    S(String),
    /// The bits of an `f64`, so the value comes back exactly as the database computed it.
    F(u64),
}

impl KeyValue {
    fn to_value(&self) -> AppResult<Value> {
        Ok(match self {
            KeyValue::T(micros) => {
                let ts = Utc
                    .timestamp_micros(*micros)
                    .single()
                    .ok_or_else(|| AppError::bad_input("invalid cursor"))?;
                Value::from(ts)
            }
            KeyValue::I(i) => Value::from(*i),
            KeyValue::S(s) => Value::from(s.clone()),
            KeyValue::F(bits) => {
                let score = f64::from_bits(*bits);
                if !score.is_finite() {
                    return Err(AppError::bad_input("invalid cursor"));
                }
                Value::from(score)
            }
        })
    }

    fn kind(&self) -> KeyKind {
        match self {
            KeyValue::T(_) => KeyKind::Timestamp,
            KeyValue::I(_) => KeyKind::Integer,
            KeyValue::S(_) => KeyKind::Text,
            KeyValue::F(_) => KeyKind::Float,
        }
    }
}

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "o")]
    pub sort: String,
    #[serde(rename = "k")]
    pub keys: Vec<KeyValue>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        encode_cursor(self)
    }

    pub fn decode(text: &str, sort: &Sort) -> AppResult<Self> {
        let bad = || AppError::bad_input("invalid cursor");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.sort != sort.name {
            return Err(AppError::bad_input(
                "cursor belongs to another order or list",
            ));
        }
        let kinds_match = cursor.keys.len() == sort.parts.len()
            && cursor
                .keys
                .iter()
                .zip(&sort.parts)
                .all(|(k, p)| k.kind() == p.kind);
        if !kinds_match {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// The opaque text of a cursor: its JSON in URL-safe base64.
fn encode_cursor(cursor: &impl Serialize) -> String {
    let json = serde_json::to_vec(cursor).expect("a cursor always serializes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Where a row stands in its sort: what its cursor says, kept unencoded until a cursor
/// is asked for (`edges.cursor`, `pageInfo.startCursor`/`endCursor`). Sorts have one key
/// part, search two: the first part is held inline, so a position allocates nothing for
/// the usual timestamp or integer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    sort: &'static str,
    first: Option<KeyValue>,
    rest: Vec<KeyValue>,
    id: Uuid,
}

impl Position {
    /// The cursor of this row: the same text as [`Cursor::encode`] of its decoded form.
    pub fn cursor(&self) -> String {
        encode_cursor(self)
    }
}

/// Serialized exactly as [`Cursor`] is.
impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Keys<'a>(&'a Position);
        impl Serialize for Keys<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.first.iter().chain(&self.0.rest))
            }
        }
        let mut out = serializer.serialize_struct("Cursor", 3)?;
        out.serialize_field("o", self.sort)?;
        out.serialize_field("k", &Keys(self))?;
        out.serialize_field("id", &self.id)?;
        out.end()
    }
}

/// Relay arguments as the resolvers receive them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// Page limits from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub max: u32,
    pub default: u32,
}

/// A validated page request for one sort.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub sort: &'static str,
    pub limit: u64,
    pub backward: bool,
    pub after: Option<Cursor>,
    pub before: Option<Cursor>,
}

impl PageRequest {
    pub fn new(args: &PageArgs, sort: &Sort, limits: PageLimits) -> AppResult<Self> {
        let check = |name: &str, n: Option<i32>| -> AppResult<Option<u64>> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Err(AppError::bad_input(format!(
                    "`{name}` must not be negative"
                ))),
                Some(n) if n as u32 > limits.max => Err(AppError::bad_input(format!(
                    "`{name}` must be at most {}",
                    limits.max
                ))),
                Some(n) => Ok(Some(n as u64)),
            }
        };
        let first = check("first", args.first)?;
        let last = check("last", args.last)?;
        let (limit, backward) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input("give `first` or `last`, not both"))
            }
            (Some(n), None) => (n, false),
            (None, Some(n)) => (n, true),
            (None, None) => (
                std::cmp::min(limits.default, limits.max) as u64,
                args.before.is_some() && args.after.is_none(),
            ),
        };
        let after = args
            .after
            .as_deref()
            .map(|c| Cursor::decode(c, sort))
            .transpose()?;
        let before = args
            .before
            .as_deref()
            .map(|c| Cursor::decode(c, sort))
            .transpose()?;
        Ok(PageRequest {
            sort: sort.name,
            limit,
            backward,
            after,
            before,
        })
    }
}

/// One fetched page: its rows in order, and beside them each row's position (its cursor,
/// not yet encoded).
#[derive(Debug, Clone)]
pub struct Page<M> {
    pub rows: Vec<M>,
    pub positions: Vec<Position>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<M> Default for Page<M> {
    fn default() -> Self {
        Page {
            rows: Vec::new(),
            positions: Vec::new(),
            has_next: false,
            has_previous: false,
        }
    }
}

impl<M> Page<M> {
    /// The same page with each row turned into `f(row)`, moved, not copied.
    pub fn map<N>(self, f: impl FnMut(M) -> N) -> Page<N> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            positions: self.positions,
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }

    fn push(&mut self, row: M, position: Position) {
        self.rows.push(row);
        self.positions.push(position);
    }

    /// Keeps the first `limit` rows; whether there were more.
    fn truncate(&mut self, limit: u64) -> bool {
        let more = self.rows.len() as u64 > limit;
        self.rows.truncate(limit as usize);
        self.positions.truncate(limit as usize);
        more
    }

    fn reverse(&mut self) {
        self.rows.reverse();
        self.positions.reverse();
    }
}

/// Rows strictly after `cursor` in the sort (in reverse when `reversed`).
fn beyond(sort: &Sort, cursor: &Cursor, reversed: bool) -> AppResult<Condition> {
    beyond_or_at(sort, cursor, reversed, false)
}

/// Rows after `cursor` in the sort (in reverse when `reversed`), the cursor's own row
/// included when `inclusive`.
fn beyond_or_at(
    sort: &Sort,
    cursor: &Cursor,
    reversed: bool,
    inclusive: bool,
) -> AppResult<Condition> {
    let keys = sort.keys(reversed);
    let mut values: Vec<Value> = cursor
        .keys
        .iter()
        .map(KeyValue::to_value)
        .collect::<AppResult<_>>()?;
    values.push(Value::from(cursor.id));
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(keys[j].0.clone().eq(values[j].clone()));
        }
        let (expr, desc) = &keys[i];
        let last = i + 1 == keys.len();
        let step = match (*desc, inclusive && last) {
            (true, false) => expr.clone().lt(values[i].clone()),
            (true, true) => expr.clone().lte(values[i].clone()),
            (false, false) => expr.clone().gt(values[i].clone()),
            (false, true) => expr.clone().gte(values[i].clone()),
        };
        any = any.add(all.add(step));
    }
    Ok(any)
}

const KEY_PREFIX: &str = "__k";

fn key_alias(i: usize) -> String {
    format!("{KEY_PREFIX}{i}")
}

/// Adds the sort-key columns, the cursor bounds and the order to a base select.
fn shape(
    select: &mut SelectStatement,
    sort: &Sort,
    req: &PageRequest,
    order: bool,
) -> AppResult<()> {
    for (i, part) in sort.parts.iter().enumerate() {
        select.expr_as(part.expr.clone(), Alias::new(key_alias(i)));
    }
    if let Some(after) = &req.after {
        select.cond_where(beyond(sort, after, false)?);
    }
    if let Some(before) = &req.before {
        select.cond_where(beyond(sort, before, true)?);
    }
    if order {
        for (expr, desc) in sort.keys(req.backward) {
            select.order_by_expr(expr, if desc { Order::Desc } else { Order::Asc });
        }
    }
    Ok(())
}

/// The names of the sort-key columns, as `shape` selects them.
const KEY_ALIASES: [&str; 2] = ["__k0", "__k1"];

fn read_key(row: &QueryResult, i: usize, kind: KeyKind) -> AppResult<KeyValue> {
    let owned;
    let alias = match KEY_ALIASES.get(i) {
        Some(alias) => *alias,
        None => {
            owned = key_alias(i);
            owned.as_str()
        }
    };
    Ok(match kind {
        KeyKind::Timestamp => {
            let ts: DateTime<Utc> = row.try_get("", alias)?;
            KeyValue::T(ts.timestamp_micros())
        }
        KeyKind::Integer => KeyValue::I(i64::from(row.try_get::<i32>("", alias)?)),
        KeyKind::Text => KeyValue::S(row.try_get::<String>("", alias)?),
        KeyKind::Float => KeyValue::F(row.try_get::<f64>("", alias)?.to_bits()),
    })
}

fn read_position(row: &QueryResult, sort: &Sort, id: Uuid) -> AppResult<Position> {
    let mut first = None;
    let mut rest = Vec::new();
    for (i, part) in sort.parts.iter().enumerate() {
        let value = read_key(row, i, part.kind)?;
        if i == 0 {
            first = Some(value);
        } else {
            rest.push(value);
        }
    }
    Ok(Position {
        sort: sort.name,
        first,
        rest,
        id,
    })
}

/// A model that pages: it knows its id.
pub trait Keyed: FromQueryResult + Send + Sync {
    fn key_id(&self) -> Uuid;
}

/// One page of a single list. `base` selects the model's columns with its scope applied.
pub async fn fetch_page<M: Keyed>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    sort: &Sort,
    req: &PageRequest,
) -> AppResult<Page<M>> {
    let mut select = base.clone();
    shape(&mut select, sort, req, true)?;
    select.limit(req.limit + 1);
    fetch_shaped(db, base, select, sort, req).await
}

const ID_ALIAS: &str = "__kid";

/// One page of a single list, like [`fetch_page`], with columns that are costly to compute
/// (a search snippet) computed for the page's rows only. `decorate` receives the page's
/// select (ordered and limited, its columns those of `base` plus the keys) and returns a
/// select over it as a subquery that keeps all its columns and adds its own; the page's
/// order is applied to that outer select.
pub async fn fetch_page_decorated<M: Keyed>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    sort: &Sort,
    req: &PageRequest,
    decorate: impl FnOnce(SelectStatement) -> SelectStatement,
) -> AppResult<Page<M>> {
    let mut inner = base.clone();
    shape(&mut inner, sort, req, true)?;
    inner.expr_as(sort.id.clone(), Alias::new(ID_ALIAS));
    inner.limit(req.limit + 1);
    let mut outer = decorate(inner);
    let aliases = (0..sort.parts.len())
        .map(key_alias)
        .chain(std::iter::once(ID_ALIAS.to_owned()));
    for (alias, (_, desc)) in aliases.zip(sort.keys(req.backward)) {
        outer.order_by(
            Alias::new(alias),
            if desc { Order::Desc } else { Order::Asc },
        );
    }
    fetch_shaped(db, base, outer, sort, req).await
}

/// Runs a page's select (limit + 1 rows) and works out the page around it.
async fn fetch_shaped<M: Keyed>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    select: SelectStatement,
    sort: &Sort,
    req: &PageRequest,
) -> AppResult<Page<M>> {
    let results = db.query_all(&select).await?;
    let mut page = Page {
        rows: Vec::with_capacity(results.len()),
        positions: Vec::with_capacity(results.len()),
        ..Page::default()
    };
    for row in &results {
        let model = M::from_query_result(row, "")?;
        let position = read_position(row, sort, model.key_id())?;
        page.push(model, position);
    }
    drop(results);
    let more = page.truncate(req.limit);
    // Whether rows exist on the other side of the cursor the page starts from (the
    // cursor's own row included: it is outside the page).
    let (opposite, reversed_for_opposite) = if req.backward {
        (&req.before, false)
    } else {
        (&req.after, true)
    };
    let beyond_start = match opposite {
        Some(cursor) => {
            let mut probe = base;
            probe.cond_where(beyond_or_at(sort, cursor, reversed_for_opposite, true)?);
            probe.limit(1);
            db.query_one(&probe).await?.is_some()
        }
        None => false,
    };
    if req.backward {
        page.reverse();
        page.has_next = beyond_start;
        page.has_previous = more;
    } else {
        page.has_next = more;
        page.has_previous = beyond_start;
    }
    Ok(page)
}

const PARENT: &str = "__parent";
const ROW_NUMBER: &str = "__rn";
/// The parents as a table of one column (`VALUES`, whose column both backends name
/// `column1`), and the alias of each parent's rows beside it.
const PARENTS: &str = "__parents";
const PARENT_COLUMN: &str = "column1";
const WINDOW: &str = "__window";

/// Page windows for many parents in one statement. `base` selects the model's columns
/// with its scope applied; `parent` is the expression giving each row's parent id.
pub async fn fetch_windows<M: Keyed>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
    sort: &Sort,
    req: &PageRequest,
) -> AppResult<HashMap<Uuid, Page<M>>> {
    let mut pages: HashMap<Uuid, Page<M>> = window_rows(
        db,
        base.clone(),
        parent.clone(),
        parents,
        sort,
        req,
        req.limit + 1,
    )
    .await?;
    if parents.is_empty() {
        return Ok(pages);
    }
    let (opposite, reversed_for_opposite) = if req.backward {
        (&req.before, false)
    } else {
        (&req.after, true)
    };
    let mut beyond_start: HashSet<Uuid> = HashSet::new();
    if let Some(cursor) = opposite {
        let mut probe = base;
        probe.clear_selects();
        probe
            .expr_as(parent.clone(), Alias::new(PARENT))
            .and_where(parent.clone().is_in(parents.iter().copied()))
            .cond_where(beyond_or_at(sort, cursor, reversed_for_opposite, true)?)
            .add_group_by([parent.clone()]);
        for row in db.query_all(&probe).await? {
            beyond_start.insert(row.try_get("", PARENT)?);
        }
    }
    for parent_id in parents {
        let page = pages.entry(*parent_id).or_default();
        let more = page.truncate(req.limit);
        let before_start = beyond_start.contains(parent_id);
        if req.backward {
            page.reverse();
            page.has_next = before_start;
            page.has_previous = more;
        } else {
            page.has_next = more;
            page.has_previous = before_start;
        }
    }
    Ok(pages)
}

/// The first row of each parent's list in `sort` (the last one when `backward`), in one
/// statement: a window of one row per parent, without page information.
pub async fn fetch_window_heads<M: Keyed>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
    sort: &Sort,
    backward: bool,
) -> AppResult<HashMap<Uuid, M>> {
    let req = PageRequest {
        sort: sort.name,
        limit: 1,
        backward,
        after: None,
        before: None,
    };
    let pages: HashMap<Uuid, Page<M>> =
        window_rows(db, base, parent, parents, sort, &req, 1).await?;
    Ok(pages
        .into_iter()
        .filter_map(|(id, page)| page.rows.into_iter().next().map(|row| (id, row)))
        .collect())
}

/// Up to `take` rows of each parent's list, in the page's order (reversed when paging
/// backward), between the page's cursors; parents without rows are absent.
async fn window_rows<M: Keyed>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
    sort: &Sort,
    req: &PageRequest,
    take: u64,
) -> AppResult<HashMap<Uuid, Page<M>>> {
    let mut pages: HashMap<Uuid, Page<M>> = HashMap::new();
    if parents.is_empty() {
        return Ok(pages);
    }
    let select = match db.get_database_backend() {
        DbBackend::Postgres => lateral_windows(base, parent, parents, sort, req, take)?,
        _ => numbered_windows(base, parent, parents, sort, req, take)?,
    };
    for row in db.query_all(&select).await? {
        let parent_id: Uuid = row.try_get("", PARENT)?;
        let model = M::from_query_result(&row, "")?;
        let position = read_position(&row, sort, model.key_id())?;
        pages.entry(parent_id).or_default().push(model, position);
    }
    Ok(pages)
}

/// Postgres: each parent's rows by their own `ORDER BY ... LIMIT` in a `LATERAL`
/// subquery, so an index on (parent, sort key) is read for the page's rows only, however
/// long the list. The outer order puts each parent's rows back in the page's order.
fn lateral_windows(
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
    sort: &Sort,
    req: &PageRequest,
    take: u64,
) -> AppResult<SelectStatement> {
    let mut rows = base;
    rows.and_where(parent.eq(Expr::col((Alias::new(PARENTS), Alias::new(PARENT_COLUMN)))));
    shape(&mut rows, sort, req, true)?;
    rows.expr_as(sort.id.clone(), Alias::new(ID_ALIAS));
    rows.limit(take);
    let mut outer = Query::select();
    outer
        .expr_as(
            Expr::col((Alias::new(PARENTS), Alias::new(PARENT_COLUMN))),
            Alias::new(PARENT),
        )
        .column((Alias::new(WINDOW), Asterisk))
        .from_values(
            parents.iter().map(|id| ValueTuple::One(Value::from(*id))),
            Alias::new(PARENTS),
        )
        .join_lateral(
            JoinType::InnerJoin,
            rows,
            Alias::new(WINDOW),
            Expr::cust("TRUE"),
        )
        .order_by(Alias::new(PARENT), Order::Asc);
    let aliases = (0..sort.parts.len())
        .map(key_alias)
        .chain(std::iter::once(ID_ALIAS.to_owned()));
    for (alias, (_, desc)) in aliases.zip(sort.keys(req.backward)) {
        outer.order_by(
            Alias::new(alias),
            if desc { Order::Desc } else { Order::Asc },
        );
    }
    Ok(outer.to_owned())
}

/// SQLite (no `LATERAL`): every row of the parents numbered in the page's order by
/// `ROW_NUMBER() OVER (PARTITION BY parent ...)`, the first `take` of each kept.
fn numbered_windows(
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
    sort: &Sort,
    req: &PageRequest,
    take: u64,
) -> AppResult<SelectStatement> {
    let mut inner = base;
    inner.expr_as(parent.clone(), Alias::new(PARENT));
    inner.and_where(parent.clone().is_in(parents.iter().copied()));
    shape(&mut inner, sort, req, false)?;
    let mut window = WindowStatement::new();
    window.add_partition_by(parent);
    for (expr, desc) in sort.keys(req.backward) {
        window.order_by_expr(expr, if desc { Order::Desc } else { Order::Asc });
    }
    inner.expr_window_as(Expr::cust("ROW_NUMBER()"), window, Alias::new(ROW_NUMBER));
    Ok(Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("w"))
        .and_where(Expr::col(Alias::new(ROW_NUMBER)).lte(take as i64))
        .order_by(Alias::new(PARENT), Order::Asc)
        .order_by(Alias::new(ROW_NUMBER), Order::Asc)
        .to_owned())
}

/// Rows per parent in one grouped statement. `base` is a scoped select; `parent` gives
/// each row's parent id.
pub async fn count_by_parent(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
) -> AppResult<HashMap<Uuid, i64>> {
    let mut counts = HashMap::new();
    if parents.is_empty() {
        return Ok(counts);
    }
    let mut select = base;
    select.clear_selects();
    select
        .expr_as(parent.clone(), Alias::new(PARENT))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("__n"))
        .and_where(parent.clone().is_in(parents.iter().copied()))
        .add_group_by([parent]);
    for row in db.query_all(&select).await? {
        let id: Uuid = row.try_get("", PARENT)?;
        counts.insert(id, row.try_get::<i64>("", "__n")?);
    }
    Ok(counts)
}

/// Rows of `base` (with its model columns) tagged by parent, for small one-to-many lists
/// that are not paged. Returns them grouped by parent in the select's order.
pub async fn fetch_grouped<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    base: SelectStatement,
    parent: Expr,
    parents: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<M>>> {
    let mut grouped: HashMap<Uuid, Vec<M>> = HashMap::new();
    if parents.is_empty() {
        return Ok(grouped);
    }
    let mut select = base;
    select
        .expr_as(parent.clone(), Alias::new(PARENT))
        .and_where(parent.is_in(parents.iter().copied()));
    for row in db.query_all(&select).await? {
        let id: Uuid = row.try_get("", PARENT)?;
        grouped
            .entry(id)
            .or_default()
            .push(M::from_query_result(&row, "")?);
    }
    Ok(grouped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_encodes_the_cursor_it_stands_for() {
        let id = Uuid::from_u128(7);
        let sort = Sort::new("test:two", Expr::cust("id"))
            .then(Expr::cust("a"), true, KeyKind::Text)
            .then(Expr::cust("b"), true, KeyKind::Timestamp);
        let keys = vec![
            KeyValue::S("x".to_owned()),
            KeyValue::T(1_700_000_000_000_000),
        ];
        let position = Position {
            sort: "test:two",
            first: Some(keys[0].clone()),
            rest: vec![keys[1].clone()],
            id,
        };
        let cursor = Cursor {
            sort: "test:two".to_owned(),
            keys,
            id,
        };
        assert_eq!(position.cursor(), cursor.encode());
        let decoded = Cursor::decode(&position.cursor(), &sort).expect("the cursor decodes");
        assert_eq!(decoded, cursor);
        let unsorted = Position {
            sort: "test:none",
            first: None,
            rest: Vec::new(),
            id,
        };
        let bare = Cursor {
            sort: "test:none".to_owned(),
            keys: Vec::new(),
            id,
        };
        assert_eq!(unsorted.cursor(), bare.encode());
    }
}
