//! Helpers of the capability migrations: Row Level Security in the same shape as the core
//! policies (`m20261122_000002_core_policies`, which also creates `auth.uid()` and
//! `auth.role()`; Postgres only, nothing on SQLite), cascading foreign keys and indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// (table, policy name, command, USING, WITH CHECK)
pub type Policy = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

/// Enables RLS on `tables`, lets the service role do everything, and adds `policies`.
pub async fn enable_policies(
    manager: &SchemaManager<'_>,
    tables: &[&str],
    policies: &[Policy],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for table in tables {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\
             CREATE POLICY {table}_service ON {table} FOR ALL \
             USING (auth.role() = 'service_role') WITH CHECK (auth.role() = 'service_role');"
        ))
        .await?;
    }
    for (table, name, command, using, check) in policies {
        let mut sql = format!("CREATE POLICY {name} ON {table} FOR {command}");
        if let Some(using) = using {
            sql.push_str(&format!(" USING ({using})"));
        }
        if let Some(check) = check {
            sql.push_str(&format!(" WITH CHECK ({check})"));
        }
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Undoes `enable_policies`.
pub async fn disable_policies(
    manager: &SchemaManager<'_>,
    tables: &[&str],
    policies: &[Policy],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for (table, name, ..) in policies {
        db.execute_unprepared(&format!("DROP POLICY IF EXISTS {name} ON {table}"))
            .await?;
    }
    for table in tables {
        db.execute_unprepared(&format!(
            "DROP POLICY IF EXISTS {table}_service ON {table};\
             ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;"
        ))
        .await?;
    }
    Ok(())
}

/// Postgres: the schema the migration creates its objects in (the first of the
/// connection's `search_path`), quoted, with `pg_temp` after it: the `search_path` of
/// confab's SECURITY DEFINER functions, so they resolve names as the migration did.
pub async fn current_schema<C: ConnectionTrait>(db: &C) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT quote_ident(current_schema()) AS schema",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no current schema: set a search_path".into()))?;
    let schema: Option<String> = row.try_get("", "schema")?;
    let schema =
        schema.ok_or_else(|| DbErr::Custom("no current schema: set a search_path".into()))?;
    Ok(format!("{schema}, pg_temp"))
}

/// A foreign key that removes the row with the row it points at.
pub fn cascade(
    name: &str,
    from: (&'static str, &'static str),
    to: (&'static str, &'static str),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// Creates a (possibly unique) index on `cols` of `table`.
pub async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).to_owned();
    for col in cols {
        index.col(*col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index).await
}
