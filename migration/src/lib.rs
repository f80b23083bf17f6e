//! Schema migrations, one per capability. They run unchanged on SQLite and Postgres. On
//! Postgres each runs in a transaction (sea-orm-migration's default there), so a failing
//! one leaves nothing behind, and they create their objects in the connection's first
//! `search_path` schema (confab's own, see `confab::db`), naming no schema themselves
//! except Supabase's `auth`.

pub use sea_orm_migration::prelude::*;

mod capability_support;
mod m20261122_000001_core;
mod m20261122_000002_core_policies;
mod m20261122_000003_teams;
mod m20261123_000001_tasks;
mod m20261123_000001_wellness;
mod m20261123_000002_credits;
mod m20261123_000002_workspace;
mod m20261123_000003_public_forms;
mod m20261207_000001_auth_users;
mod m20261207_000001_realtime_outbox;
mod m20261207_000001_search;
mod m20261208_000001_files;
mod m20261208_000002_policy_parity;
mod m20261208_000005_files_policies;
pub mod search_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_core::Migration),
            Box::new(m20261122_000002_core_policies::Migration),
            Box::new(m20261122_000003_teams::Migration),
            Box::new(m20261123_000001_tasks::Migration),
            Box::new(m20261123_000002_workspace::Migration),
            Box::new(m20261123_000001_wellness::Migration),
            Box::new(m20261123_000002_credits::Migration),
            Box::new(m20261123_000003_public_forms::Migration),
            Box::new(m20261207_000001_auth_users::Migration),
            Box::new(m20261207_000001_search::Migration),
            Box::new(m20261207_000001_realtime_outbox::Migration),
            Box::new(m20261208_000001_files::Migration),
            Box::new(m20261208_000002_policy_parity::Migration),
            Box::new(m20261208_000005_files_policies::Migration),
        ]
    }
}
