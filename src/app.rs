//! Wiring: settings → database, authenticator, schema → router.

use std::path::Path;
use std::sync::Arc;

use rand::RngCore;

use crate::auth::{AuthConfig, Authenticator};
use crate::config::{Introspection, Settings};
use crate::db::{self, StatementCounter};
use crate::graphql::{build_schema, SchemaLimits};
use crate::http::{self, apq::PersistedQueries, AppState};
use crate::paging::PageLimits;

/// A failure while starting: printed to the operator, never sent to clients.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("token verification: {0}")]
    Auth(String),
    #[error("development secret: {0}")]
    DevSecret(std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// A ready gateway: the router and what tests may want to look at.
pub struct App {
    pub router: axum::Router,
    pub state: AppState,
    pub statements: StatementCounter,
}

const DEV_SECRET_FILE: &str = ".confab-dev-secret";

/// The HS256 secret: the configured one, or in development mode one generated once and
/// kept in the data directory.
pub fn hs256_secret(settings: &Settings) -> Result<Option<Vec<u8>>, StartError> {
    if let Some(secret) = &settings.jwt_secret {
        if secret.len() < 32 {
            return Err(StartError::Config(
                "CONFAB_JWT_SECRET must be at least 32 characters".to_owned(),
            ));
        }
        return Ok(Some(secret.as_bytes().to_vec()));
    }
    if !settings.development_mode() {
        return Ok(None);
    }
    let dir = settings.data_dir();
    load_or_create_dev_secret(&dir.join(DEV_SECRET_FILE)).map(Some)
}

fn load_or_create_dev_secret(path: &Path) -> Result<Vec<u8>, StartError> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let trimmed = existing.trim();
        if trimmed.len() >= 32 {
            return Ok(trimmed.as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(StartError::DevSecret)?;
    }
    write_private(path, &secret).map_err(StartError::DevSecret)?;
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

pub fn authenticator(settings: &Settings) -> Result<Authenticator, StartError> {
    Authenticator::new(AuthConfig {
        hs256_secret: hs256_secret(settings)?,
        jwks_url: settings.jwks_url.clone(),
        jwks_file: settings.jwks_file.clone(),
        audience: settings.jwt_audience.clone(),
        issuer: settings.jwt_issuer.clone(),
        leeway_secs: settings.jwt_leeway,
    })
    .map_err(|e| StartError::Auth(e.to_string()))
}

pub async fn connect(settings: &Settings) -> Result<db::Connected, StartError> {
    Ok(db::connect(&settings.database_url, settings.db_max_connections).await?)
}

/// Registered automatic persisted queries kept at most (then the store starts over).
const APQ_CAPACITY: usize = 10_000;

/// The persisted-query store with the trusted documents of `--trusted-documents`; with
/// `--persisted-only` a readable, correct manifest is required.
fn persisted_queries(settings: &Settings) -> Result<PersistedQueries, StartError> {
    let trusted = match &settings.trusted_documents {
        Some(path) => http::apq::load_trusted_documents(path).map_err(StartError::Config)?,
        None if settings.persisted_only => {
            return Err(StartError::Config(
                "--persisted-only (CONFAB_PERSISTED_ONLY) needs --trusted-documents FILE \
                 (CONFAB_TRUSTED_DOCUMENTS), the manifest of the documents to run"
                    .into(),
            ))
        }
        None => Default::default(),
    };
    if settings.trusted_documents.is_some() {
        tracing::info!(
            documents = trusted.len(),
            persisted_only = settings.persisted_only,
            "trusted documents loaded"
        );
    }
    Ok(PersistedQueries::with_trusted(
        APQ_CAPACITY,
        trusted,
        settings.persisted_only,
    ))
}

/// Connects, migrates and builds the router.
pub async fn build(settings: &Settings) -> Result<App, StartError> {
    if settings.max_page_size == 0 {
        return Err(StartError::Config("max page size must be positive".into()));
    }
    let auth = authenticator(settings)?;
    let apq = persisted_queries(settings)?;
    let connected = connect(settings).await?;
    db::migrate(&connected.conn).await?;
    let realtime = crate::realtime::Realtime::start(
        connected.conn.clone(),
        &settings.database_url,
        crate::realtime::RealtimeLimits {
            subscriber_queue: usize::try_from(settings.subscriber_queue).unwrap_or(usize::MAX),
            retention: std::time::Duration::from_secs(settings.realtime_retention),
            enabled: settings.realtime == crate::config::Switch::On,
        },
    );
    let state = AppState {
        schema: build_schema(SchemaLimits::from(settings)),
        db: connected.conn,
        auth,
        limits: PageLimits {
            max: settings.max_page_size,
            default: settings.default_page_size,
        },
        apq: Arc::new(apq),
        signup_credits: settings.signup_credits,
        realtime,
        ws: http::ws::WsSettings {
            keepalive: std::time::Duration::from_secs(settings.ws_keepalive),
            init_timeout: std::time::Duration::from_secs(settings.ws_init_timeout),
            max_subscriptions: settings.max_subscriptions_per_connection,
            max_message: settings.body_limit,
        },
        sdl: (settings.introspection == Introspection::On).then(|| crate::graphql::sdl().into()),
    };
    Ok(App {
        router: http::router(state.clone(), settings.body_limit),
        state,
        statements: connected.statements,
    })
}
