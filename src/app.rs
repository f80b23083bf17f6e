//! Wiring: settings → database, authenticator, schema → router.

use std::path::Path;
use std::sync::Arc;

use rand::RngCore;

use crate::auth::{mint_token, AuthConfig, Authenticator, MintClaims};
use crate::config::{Introspection, Settings, TokenClaims};
use crate::db::{self, StatementCounter};
use crate::domain::search::SearchSettings;
use crate::graphql::{build_schema_with, SchemaLimits};
use crate::http::{self, apq::PersistedQueries, AppState};
use crate::paging::PageLimits;
use crate::rate_limit::{Bucket, RateLimits};

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
/// kept in the data directory (beside the SQLite file).
pub fn hs256_secret(settings: &Settings) -> Result<Option<Vec<u8>>, StartError> {
    secret(settings, true)
}

/// As [`hs256_secret`], but a development secret must already be kept: `confab token`
/// never makes one, since the server would not know it (a token minted with the wrong
/// database URL, or from another directory, fails here rather than later at the server).
pub fn kept_hs256_secret(settings: &Settings) -> Result<Option<Vec<u8>>, StartError> {
    secret(settings, false)
}

fn secret(settings: &Settings, create: bool) -> Result<Option<Vec<u8>>, StartError> {
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
    let path = settings.data_dir().join(DEV_SECRET_FILE);
    if !create && !path.exists() {
        let shown = std::path::absolute(&path).unwrap_or(path);
        return Err(StartError::Config(format!(
            "no development secret at {}: start `confab serve` with the same --database-url \
             (DATABASE_URL) first, or set CONFAB_JWT_SECRET",
            shown.display()
        )));
    }
    load_or_create_dev_secret(&path).map(Some)
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

/// A token for `claims`, signed with the configured HS256 secret or the development
/// secret already kept (`confab token`, the demo token).
pub fn token(settings: &Settings, args: &TokenClaims) -> Result<String, StartError> {
    let secret = kept_hs256_secret(settings)?.ok_or_else(|| {
        StartError::Config(
            "no HS256 secret configured (CONFAB_JWT_SECRET); tokens for JWKS keys come from your identity provider"
                .into(),
        )
    })?;
    if args.role == "authenticated" && args.sub.is_none() {
        return Err(StartError::Config(
            "--sub is required for the authenticated role".into(),
        ));
    }
    let audience = (args.role == "authenticated").then(|| settings.jwt_audience.clone());
    mint_token(
        &secret,
        &MintClaims {
            sub: args.sub,
            role: args.role.clone(),
            email: args.email.clone(),
            ttl_secs: args.ttl,
            audience,
            // The first accepted issuer: the one of user tokens, by the README's order.
            issuer: settings.jwt_issuer.first().cloned(),
        },
    )
    .map_err(|e| StartError::Auth(e.to_string()))
}

/// The demo user's token (valid a week): printed by `confab serve` in development mode
/// and by `confab seed --demo`.
pub fn demo_token(settings: &Settings) -> Result<String, StartError> {
    token(
        settings,
        &TokenClaims {
            sub: Some(crate::seed::DEMO_USER),
            role: "authenticated".into(),
            email: Some(crate::seed::DEMO_EMAIL.into()),
            ttl: 7 * 24 * 3600,
        },
    )
}

pub fn authenticator(settings: &Settings) -> Result<Authenticator, StartError> {
    Authenticator::new(AuthConfig {
        hs256_secret: hs256_secret(settings)?,
        jwks_url: settings.jwks_url.clone(),
        jwks_file: settings.jwks_file.clone(),
        audience: settings.jwt_audience.clone(),
        issuers: settings.jwt_issuer.clone(),
        anon_keys: settings.anon_key.clone(),
        service_keys: settings.service_key.clone(),
        leeway_secs: settings.jwt_leeway,
    })
    .map_err(|e| StartError::Auth(e.to_string()))
}

pub async fn connect(settings: &Settings) -> Result<db::Connected, StartError> {
    let pool = db::PoolSettings {
        max_connections: settings.db_max_connections,
        acquire_timeout: settings.db_acquire_timeout,
        sqlite_busy_timeout: settings.sqlite_busy_timeout,
    };
    Ok(db::connect(&settings.database_url, &pool, &settings.database_schema).await?)
}

/// The accept loop's limits (`crate::http::serve`).
pub fn connection_limits(settings: &Settings) -> http::serve::ConnectionLimits {
    http::serve::ConnectionLimits {
        header_read_timeout: settings.header_read_timeout,
        body_read_timeout: settings.body_read_timeout,
        max_connections: usize::try_from(settings.max_connections).unwrap_or(usize::MAX),
        drain_timeout: settings.drain_timeout,
    }
}

/// Registered automatic persisted queries kept at most (then the least recently used go).
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
        http::apq::StoreLimits {
            queries: APQ_CAPACITY,
            bytes: settings.apq_max_bytes,
        },
        trusted,
        settings.persisted_only,
    ))
}

/// Applies pending migrations, then makes sure the search index uses the configured
/// text-search configuration (rebuilding it if not); returns the search settings.
pub async fn migrate(
    settings: &Settings,
    conn: &sea_orm::DatabaseConnection,
) -> Result<SearchSettings, StartError> {
    db::migrate(conn).await?;
    let search = SearchSettings {
        config: settings.search_config.as_str().into(),
    };
    crate::domain::search::prepare_index(conn, &search).await?;
    Ok(search)
}

/// Connects, migrates and builds the router.
pub async fn build(settings: &Settings) -> Result<App, StartError> {
    if settings.max_page_size == 0 {
        return Err(StartError::Config("max page size must be positive".into()));
    }
    let auth = authenticator(settings)?;
    let cors =
        http::cors::Origins::from_settings(&settings.cors_origins, settings.development_mode())
            .map_err(StartError::Config)?;
    let apq = persisted_queries(settings)?;
    let dev_token = if settings.development_mode() {
        Some(demo_token(settings)?.into())
    } else {
        None
    };
    let connected = connect(settings).await?;
    let search = migrate(settings, &connected.conn).await?;
    let realtime = crate::realtime::Realtime::start(
        connected.conn.clone(),
        &settings.database_url,
        crate::realtime::RealtimeLimits {
            subscriber_queue: usize::try_from(settings.subscriber_queue).unwrap_or(usize::MAX),
            subscriber_queue_bytes: settings.subscriber_queue_bytes,
            retention: std::time::Duration::from_secs(settings.realtime_retention),
            enabled: settings.realtime == crate::config::Switch::On,
        },
    );
    let rate_limits = Arc::new(RateLimits::new(
        Bucket {
            per_second: settings.rate_limit_requests,
            burst: settings.rate_limit_requests_burst,
        },
        Bucket {
            per_second: settings.rate_limit_writes,
            burst: settings.rate_limit_writes_burst,
        },
    ));
    rate_limits.start_housekeeping(crate::rate_limit::HOUSEKEEPING_EVERY);
    let storage = crate::storage::Storage::from_settings(settings, &connected.conn)
        .await
        .map_err(StartError::Config)?;
    start_sweep(&connected.conn, &storage);
    let state = AppState {
        schema: build_schema_with(SchemaLimits::from(settings), search, Some(storage.clone())),
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
        cors,
        dev_token,
        rate_limits,
        max_response_bytes: settings.max_response_bytes,
        storage,
        body_limit: settings.body_limit,
    };
    Ok(App {
        router: http::router(state.clone(), settings.body_limit),
        state,
        statements: connected.statements,
    })
}

/// [files] The sweep for objects no row names: at start, then every
/// `--storage-sweep-interval` (see `domain::files::sweep`).
fn start_sweep(conn: &sea_orm::DatabaseConnection, storage: &crate::storage::Storage) {
    let conn = conn.clone();
    let storage = storage.clone();
    let interval = storage.sweep_interval();
    crate::storage::spawn_periodic(interval, move || {
        let conn = conn.clone();
        let storage = storage.clone();
        async move {
            if let Err(err) = crate::domain::files::sweep(&conn, &storage).await {
                tracing::warn!(error = ?err, "storage sweep failed");
            }
        }
    });
}
