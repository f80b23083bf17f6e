//! Integration tests: the real router over HTTP, on SQLite and (with TEST_DATABASE_URL)
//! on Postgres, each test in its own database.
#![allow(clippy::unwrap_used)]

mod documents;
mod harness;

mod access_conditions;
mod authentication;
mod browser;
mod capability_policies;
mod cli;
mod connections;
mod core_api;
mod cors;
mod credits;
mod files;
mod hardening;
mod http;
mod identity;
mod isolation;
mod js_client;
mod layout;
mod loading;
mod memory;
mod metrics;
mod otel;
mod pagination;
mod policies;
mod postgres_schema;
mod public_forms;
mod readiness;
mod realtime;
mod realtime_deletions;
mod request_log;
mod rls_parity;
mod rls_probes;
mod schema;
mod schema_controls;
mod schema_diff;
mod search;
mod send_message_cost;
mod supabase;
mod tasks;
mod team_races;
mod teams;
mod text_matching;
mod unavailable;
mod updates;
mod wellness;
mod workspace;
mod ws;
