//! Row Level Security for a capability's tables on Postgres, in the form
//! `m20261122_000002_core_policies` uses: RLS on, a service-role policy, then the
//! capability's own policies written with `auth.uid()` (whose functions that migration
//! creates). On SQLite both functions do nothing.

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

pub async fn enable(
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

pub async fn disable(
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
