//! Every setting, from flags with environment twins, validated once at start.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "confab",
    version,
    about = "GraphQL API gateway for AI chat products"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

impl Cli {
    /// The settings of the serve command (given as `confab serve ...` or as plain
    /// `confab ...`).
    pub fn serve_settings(&self) -> &Settings {
        match &self.command {
            Some(Command::Serve(settings)) => settings,
            _ => &self.settings,
        }
    }
}

/// Each command takes only the flags it uses, so its `--help` lists only those; plain
/// `confab` takes the serve flags.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start
pub enum Command {
    /// Apply pending migrations, then serve (the default).
    Serve(Settings),
    /// Apply pending migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Schema checks that need no database.
    Schema(SchemaArgs),
    /// Mint a token signed with the configured HS256 secret.
    Token(TokenArgs),
    /// Load a data set.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SchemaCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// List breaking, dangerous and safe changes from OLD to NEW; exit 1 on a breaking
    /// change, 2 when a file cannot be read or parsed.
    Diff(SchemaDiffArgs),
}

#[derive(Debug, Args)]
pub struct SchemaDiffArgs {
    /// The old SDL file (a contract or a previous schema.graphql).
    pub old: PathBuf,
    /// The new SDL file; default: the schema of this build.
    pub new: Option<PathBuf>,
    /// Keep only the OLD lines tagged with these sections (comma-separated); default: all.
    #[arg(long, value_delimiter = ',')]
    pub sections: Vec<String>,
    /// A directory of saved client operations (*.graphql): then only a change that breaks
    /// one of them fails the run.
    #[arg(long, value_name = "DIR")]
    pub operations: Option<PathBuf>,
}

/// The database flags of `migrate`, `token` and `seed` (as `serve` spells them).
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE or postgres://...
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Maximum pool size.
    #[arg(long, env = "CONFAB_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Postgres: the schema of confab's tables, functions and policies.
    #[arg(long, env = "CONFAB_DATABASE_SCHEMA", default_value = DEFAULT_SCHEMA, value_parser = schema_name)]
    pub database_schema: String,
    /// Text-search configuration the full-text index is built with (see `serve --help`).
    #[arg(
        long,
        env = "CONFAB_SEARCH_CONFIG",
        default_value = migration::search_index::DEFAULT_CONFIG,
        value_parser = parse_search_config
    )]
    pub search_config: String,
}

/// The token flags `token` and `seed` mint with (as `serve` spells them).
#[derive(Debug, Clone, Args)]
pub struct MintArgs {
    /// HS256 secret (Supabase's JWT secret); none: the development secret kept beside the
    /// database.
    #[arg(long, env = "CONFAB_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Set when tokens come from your identity provider (then none are minted here).
    #[arg(long, env = "CONFAB_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Set when tokens come from your identity provider (then none are minted here).
    #[arg(long, env = "CONFAB_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// `aud` of minted user tokens.
    #[arg(long, env = "CONFAB_JWT_AUDIENCE", default_value = "authenticated")]
    pub jwt_audience: String,
    /// Accepted issuers; minted tokens carry the first.
    #[arg(long, env = "CONFAB_JWT_ISSUER", value_delimiter = ',')]
    pub jwt_issuer: Vec<String>,
}

impl DatabaseArgs {
    /// Settings for a command that takes these flags (and, to mint tokens, `mint`'s): the
    /// defaults for everything else.
    pub fn settings(&self, mint: Option<&MintArgs>) -> Settings {
        let mut settings = Settings::for_database(&self.database_url);
        settings.db_max_connections = self.db_max_connections;
        settings.database_schema = self.database_schema.clone();
        settings.search_config = self.search_config.clone();
        if let Some(mint) = mint {
            settings.jwt_secret = mint.jwt_secret.clone();
            settings.jwks_url = mint.jwks_url.clone();
            settings.jwks_file = mint.jwks_file.clone();
            settings.jwt_audience = mint.jwt_audience.clone();
            settings.jwt_issuer = mint.jwt_issuer.clone();
        }
        settings
    }
}

/// confab's own Postgres schema.
pub const DEFAULT_SCHEMA: &str = "confab";

/// `--database-schema`: a plain lower-case identifier, so it needs no quoting rules.
fn schema_name(text: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !text.starts_with("pg_");
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a schema name confab uses: lower-case letters, digits and _, \
             at most 63, not starting with a digit or pg_"
        ))
    }
}

/// `sqlite://confab.db` in the working directory.
const DEFAULT_DATABASE_URL: &str = "sqlite://confab.db?mode=rwc";

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub claims: TokenClaims,
    /// The database whose development secret signs the token (without --jwt-secret).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    #[command(flatten)]
    pub mint: MintArgs,
}

/// What a minted token says.
#[derive(Debug, Args)]
pub struct TokenClaims {
    /// The user id (`sub`); required for the authenticated role.
    #[arg(long)]
    pub sub: Option<uuid::Uuid>,
    /// anon, authenticated or service_role.
    #[arg(long, default_value = "authenticated")]
    pub role: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// A small demo data set for one demo user; prints that user's token.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub mint: MintArgs,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to serve on: HOST:PORT, the host a name (`localhost`) or an IP address
    /// (`[::1]` for IPv6).
    #[arg(
        long,
        env = "CONFAB_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = listen_address
    )]
    pub listen: String,
    /// Database URL: sqlite://FILE or postgres://...
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL
    )]
    pub database_url: String,
    /// Maximum pool size.
    #[arg(long, env = "CONFAB_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
    /// Postgres: the schema of confab's tables, functions and policies (created when
    /// missing; an earlier install in `public` is kept there).
    #[arg(long, env = "CONFAB_DATABASE_SCHEMA", default_value = DEFAULT_SCHEMA, value_parser = schema_name)]
    pub database_schema: String,
    /// Seconds a request waits for a pool connection before it is answered 503
    /// `SERVICE_UNAVAILABLE` (fractions allowed).
    #[arg(
        long,
        env = "CONFAB_DB_ACQUIRE_TIMEOUT",
        default_value = "5",
        value_parser = parse_seconds
    )]
    pub db_acquire_timeout: Duration,
    /// SQLite: seconds a statement waits for another connection's lock (`busy_timeout`)
    /// before it is answered 503 `SERVICE_UNAVAILABLE` (fractions allowed).
    #[arg(
        long,
        env = "CONFAB_SQLITE_BUSY_TIMEOUT",
        default_value = "5",
        value_parser = parse_seconds
    )]
    pub sqlite_busy_timeout: Duration,
    /// Seconds a client has to send a request's headers (from the connection's start, or
    /// the end of its previous request); then the connection is closed.
    #[arg(
        long,
        env = "CONFAB_HEADER_READ_TIMEOUT",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub header_read_timeout: Duration,
    /// Seconds a client has to send a request's whole body once its headers arrived; then
    /// 408 and the connection is closed.
    #[arg(
        long,
        env = "CONFAB_BODY_READ_TIMEOUT",
        default_value = "20",
        value_parser = parse_seconds
    )]
    pub body_read_timeout: Duration,
    /// Connections open at once (WebSockets included); more wait in the listen backlog.
    #[arg(
        long,
        env = "CONFAB_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections: u32,
    /// Seconds a shutdown (SIGTERM, ctrl-c) waits for requests in flight before it drops
    /// what is left and exits.
    #[arg(
        long,
        env = "CONFAB_DRAIN_TIMEOUT",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub drain_timeout: Duration,
    /// Bytes the automatic persisted-query store may hold (texts plus 128 bytes each); the
    /// least recently used queries go first.
    #[arg(
        long,
        env = "CONFAB_APQ_MAX_BYTES",
        default_value_t = 16 * 1024 * 1024
    )]
    pub apq_max_bytes: usize,
    /// Largest GraphQL response body sent over HTTP, bytes; a larger one is refused with
    /// `QUERY_TOO_COMPLEX` instead of being sent.
    #[arg(
        long,
        env = "CONFAB_MAX_RESPONSE_BYTES",
        default_value_t = 16 * 1024 * 1024
    )]
    pub max_response_bytes: usize,
    /// Bytes (about) queued for one subscriber before it is dropped as too slow.
    #[arg(
        long,
        env = "CONFAB_SUBSCRIBER_QUEUE_BYTES",
        default_value_t = 8 * 1024 * 1024
    )]
    pub subscriber_queue_bytes: usize,
    /// HS256 secret for user tokens (Supabase's JWT secret).
    #[arg(long, env = "CONFAB_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// JWKS URL for ES256/RS256 tokens.
    #[arg(long, env = "CONFAB_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// JWKS file for ES256/RS256 tokens.
    #[arg(long, env = "CONFAB_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Expected `aud` of user tokens.
    #[arg(long, env = "CONFAB_JWT_AUDIENCE", default_value = "authenticated")]
    pub jwt_audience: String,
    /// Accepted `iss` values; repeat the flag or separate by commas (a Supabase project:
    /// `https://<ref>.supabase.co/auth/v1` for user tokens and `supabase` for its anon and
    /// service_role keys). None set: any issuer.
    #[arg(
        long,
        env = "CONFAB_JWT_ISSUER",
        value_name = "ISS",
        value_delimiter = ','
    )]
    pub jwt_issuer: Vec<String>,
    /// Opaque API keys meaning the anonymous viewer (Supabase's publishable keys,
    /// `sb_publishable_...`); repeat or separate by commas. Compared in constant time.
    #[arg(
        long,
        env = "CONFAB_ANON_KEY",
        value_name = "KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub anon_key: Vec<String>,
    /// Opaque API keys meaning the service role (Supabase's secret keys, `sb_secret_...`);
    /// repeat or separate by commas. Compared in constant time.
    #[arg(
        long,
        env = "CONFAB_SERVICE_KEY",
        value_name = "KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub service_key: Vec<String>,
    /// Clock leeway for exp/nbf/iat, seconds (an `iat` further ahead is refused).
    #[arg(long, env = "CONFAB_JWT_LEEWAY", default_value_t = 30)]
    pub jwt_leeway: u64,
    /// Largest `first`/`last` a connection accepts.
    #[arg(long, env = "CONFAB_MAX_PAGE_SIZE", default_value_t = 100)]
    pub max_page_size: u32,
    /// Page size when neither `first` nor `last` is given.
    #[arg(long, env = "CONFAB_DEFAULT_PAGE_SIZE", default_value_t = 100)]
    pub default_page_size: u32,
    /// Deepest query accepted.
    #[arg(long, env = "CONFAB_MAX_DEPTH", default_value_t = 15)]
    pub max_depth: usize,
    /// Highest query complexity accepted.
    #[arg(long, env = "CONFAB_MAX_COMPLEXITY", default_value_t = 250_000)]
    pub max_complexity: usize,
    /// Fields an operation (or fragment) may select once its fragments are expanded; more:
    /// `QUERY_TOO_COMPLEX` before validation. Checking costs one pass over the document.
    #[arg(long, env = "CONFAB_MAX_SELECTIONS", default_value_t = 10_000)]
    pub max_selections: u64,
    /// Highest database cost of an operation: 2 per field returning an object (a lookup or
    /// loader key) and per mutation field, a connection 2 plus its page size and its rows'
    /// selections times the page size; more: `QUERY_TOO_COMPLEX` before execution.
    #[arg(long, env = "CONFAB_MAX_COST", default_value_t = 25_000)]
    pub max_cost: u64,
    /// Aliased fields an operation may have.
    #[arg(long, env = "CONFAB_MAX_ALIASES", default_value_t = 100)]
    pub max_aliases: u64,
    /// Fields at the root of an operation.
    #[arg(long, env = "CONFAB_MAX_ROOT_FIELDS", default_value_t = 50)]
    pub max_root_fields: u64,
    /// Mutation fields a request by a user or the service role may run.
    #[arg(long, env = "CONFAB_MAX_MUTATION_FIELDS", default_value_t = 20)]
    pub max_mutation_fields: u64,
    /// Mutation fields an anonymous request may run.
    #[arg(
        long,
        env = "CONFAB_MAX_ANONYMOUS_MUTATION_FIELDS",
        default_value_t = 2
    )]
    pub max_anonymous_mutation_fields: u64,
    /// Requests (and WebSocket operations) per second one caller may send, in this
    /// process; 0 turns the limit off. Callers: a user, the service role, or an anonymous
    /// client address.
    #[arg(long, env = "CONFAB_RATE_LIMIT_REQUESTS", default_value_t = 100)]
    pub rate_limit_requests: u32,
    /// Requests one caller may send at once before `--rate-limit-requests` paces them.
    #[arg(
        long,
        env = "CONFAB_RATE_LIMIT_REQUESTS_BURST",
        default_value_t = 2_000
    )]
    pub rate_limit_requests_burst: u32,
    /// Mutation fields per second one caller may run, in this process; 0 turns it off.
    #[arg(long, env = "CONFAB_RATE_LIMIT_WRITES", default_value_t = 50)]
    pub rate_limit_writes: u32,
    /// Mutation fields one caller may run at once before `--rate-limit-writes` paces them.
    #[arg(long, env = "CONFAB_RATE_LIMIT_WRITES_BURST", default_value_t = 1_000)]
    pub rate_limit_writes_burst: u32,
    /// Credits a user's account starts with on their first request.
    #[arg(
        long,
        env = "CONFAB_SIGNUP_CREDITS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(i32::MAX))
    )]
    pub signup_credits: u32,
    /// Largest request body, bytes.
    #[arg(long, env = "CONFAB_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Seconds between keep-alive pings on an idle WebSocket connection.
    #[arg(long, env = "CONFAB_WS_KEEPALIVE", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_keepalive: u64,
    /// Seconds a WebSocket client has to send `connection_init`.
    #[arg(long, env = "CONFAB_WS_INIT_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_init_timeout: u64,
    /// Concurrent subscriptions one WebSocket connection may hold.
    #[arg(
        long,
        env = "CONFAB_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_subscriptions_per_connection: usize,
    /// Events queued for one subscriber before it is dropped as too slow.
    #[arg(long, env = "CONFAB_SUBSCRIBER_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub subscriber_queue: u64,
    /// Seconds the Postgres realtime outbox keeps events, so a gateway whose `LISTEN`
    /// connection was down replays what it missed; pruned every half window (at most every
    /// minute).
    #[arg(long, env = "CONFAB_REALTIME_RETENTION", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400 * 7))]
    pub realtime_retention: u64,
    /// Realtime events: `off` publishes nothing on writes (no outbox row, no NOTIFY),
    /// opens no `LISTEN` connection and refuses subscriptions with `BAD_USER_INPUT`.
    #[arg(
        long,
        env = "CONFAB_REALTIME",
        value_enum,
        default_value_t = Switch::On
    )]
    pub realtime: Switch,
    /// Whether `__schema` and `__type` are answered (and `/graphql/schema.graphql` is
    /// served); off refuses them with `GRAPHQL_VALIDATION_FAILED`. Costs nothing per request.
    #[arg(
        long,
        env = "CONFAB_INTROSPECTION",
        value_enum,
        default_value_t = Introspection::On
    )]
    pub introspection: Introspection,
    /// Run only trusted documents (`--trusted-documents`), by hash or by their exact text;
    /// anything else is refused with `PERSISTED_QUERY_REQUIRED`. One SHA-256 per request
    /// that sends a text.
    #[arg(
        long,
        env = "CONFAB_PERSISTED_ONLY",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub persisted_only: bool,
    /// A JSON manifest of trusted documents, `{ "<sha256 hex>": "<document>" }` (or Apollo's
    /// persisted-query manifest), read once at start and held in memory; each hash is checked.
    #[arg(long, env = "CONFAB_TRUSTED_DOCUMENTS", value_name = "FILE")]
    pub trusted_documents: Option<PathBuf>,
    /// Origins whose web pages may call the gateway (CORS): `https://app.example.com`,
    /// `http://localhost:*` (any port) or `*`; repeat the flag or separate by commas.
    /// Default: `http://localhost:*` and `http://127.0.0.1:*` in development mode, none
    /// otherwise. A preflight costs no database or schema work.
    #[arg(
        long = "cors-origin",
        env = "CONFAB_CORS_ORIGINS",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Text-search configuration of `searchMessages`: how words are split, stemmed and
    /// which are stop words. Postgres: any configuration the server has (`english`,
    /// `simple` for languages without a stemmer, `german`, ...); SQLite: `english` (Porter
    /// stemmer) or `simple`. A change rebuilds the index at the next start.
    #[arg(
        long,
        env = "CONFAB_SEARCH_CONFIG",
        default_value = migration::search_index::DEFAULT_CONFIG,
        value_parser = parse_search_config
    )]
    pub search_config: String,
    /// Log lines on stderr: `text` or `json` (one object per line); default: text when
    /// stderr is a terminal, else json. One line per request, filtered by `RUST_LOG`.
    #[arg(long, env = "CONFAB_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::telemetry::LogFormat>,
    /// [files] Where uploads are stored: `s3://BUCKET[/PREFIX]` for an S3-compatible
    /// store (see the `--s3-*` flags), else a local directory (default: `storage/` beside
    /// the SQLite file, or in the working directory on Postgres).
    #[arg(long, env = "CONFAB_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// S3: the endpoint of an S3-compatible server (MinIO, moto, R2, ...); default AWS.
    #[arg(long, env = "CONFAB_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3: the region.
    #[arg(long, env = "CONFAB_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3: the access key id (default: the AWS_* environment and instance credentials).
    #[arg(long, env = "CONFAB_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// S3: the secret access key.
    #[arg(long, env = "CONFAB_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// S3: answer downloads with a redirect to a presigned S3 URL (`on`) or proxy the
    /// bytes through the gateway (`off`).
    #[arg(long, env = "CONFAB_S3_REDIRECT", value_enum, default_value = "on")]
    pub s3_redirect: Switch,
    /// The key that signs private download URLs (at least 32 characters; not the JWT
    /// secret). Default: one generated once and kept beside the SQLite file (or in the
    /// working directory), like the development JWT secret.
    #[arg(long, env = "CONFAB_STORAGE_SIGNING_KEY", hide_env_values = true)]
    pub storage_signing_key: Option<String>,
    /// How long a signed download URL stays valid, seconds.
    #[arg(long, env = "CONFAB_STORAGE_URL_TTL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=7 * 86_400))]
    pub storage_url_ttl: u64,
    /// Largest project file, bytes.
    #[arg(long, env = "CONFAB_PROJECT_FILE_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub project_file_max_bytes: u64,
    /// Types a project file may have (`type/*` patterns; `text/*` is any UTF-8 text).
    #[arg(
        long,
        env = "CONFAB_PROJECT_FILE_TYPES",
        value_delimiter = ',',
        default_value = "image/*,application/pdf,text/*,application/json"
    )]
    pub project_file_types: Vec<String>,
    /// Largest avatar, bytes.
    #[arg(long, env = "CONFAB_AVATAR_MAX_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub avatar_max_bytes: u64,
    /// Types an avatar may have.
    #[arg(
        long,
        env = "CONFAB_AVATAR_TYPES",
        value_delimiter = ',',
        default_value = "image/png,image/jpeg,image/gif,image/webp,image/avif"
    )]
    pub avatar_types: Vec<String>,
    /// Largest chat attachment (images, PDF, text), bytes.
    #[arg(long, env = "CONFAB_ATTACHMENT_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub attachment_max_bytes: u64,
    /// Types a chat attachment may have.
    #[arg(
        long,
        env = "CONFAB_ATTACHMENT_TYPES",
        value_delimiter = ',',
        default_value = "image/*,application/pdf,text/*,application/json"
    )]
    pub attachment_types: Vec<String>,
    /// Largest voice recording, bytes.
    #[arg(long, env = "CONFAB_AUDIO_MAX_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub audio_max_bytes: u64,
    /// Types a voice recording may have.
    #[arg(
        long,
        env = "CONFAB_AUDIO_TYPES",
        value_delimiter = ',',
        default_value = "audio/*,video/webm"
    )]
    pub audio_types: Vec<String>,
    /// Files in one multipart request, at most.
    #[arg(long, env = "CONFAB_UPLOAD_MAX_FILES", default_value_t = 4)]
    pub upload_max_files: usize,
    /// A whole multipart request (operations, map and files), bytes at most.
    #[arg(long, env = "CONFAB_UPLOAD_MAX_REQUEST_BYTES", default_value_t = 60 * 1024 * 1024)]
    pub upload_max_request_bytes: u64,
    /// Bytes each user may store in all buckets together; default: no quota.
    #[arg(long, env = "CONFAB_STORAGE_QUOTA_BYTES")]
    pub storage_quota_bytes: Option<u64>,
    /// Seconds between sweeps for objects no row names (also run at start).
    #[arg(long, env = "CONFAB_STORAGE_SWEEP_INTERVAL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub storage_sweep_interval: u64,
    /// An object no row names is removed once it is this many seconds old (uploads in
    /// flight are younger).
    #[arg(long, env = "CONFAB_STORAGE_SWEEP_GRACE", default_value_t = 3600)]
    pub storage_sweep_grace: u64,
}

/// A text-search configuration name: a lowercase identifier (it is written into DDL).
fn parse_search_config(value: &str) -> Result<String, String> {
    if migration::search_index::is_valid_config_name(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "`{value}` is not a text-search configuration name (lowercase letters, digits and \
             `_`, starting with a letter, at most 63)"
        ))
    }
}

impl Settings {
    /// Settings for tests and embedding: the defaults, on the given database.
    pub fn for_database(url: &str) -> Self {
        let cli = Cli::parse_from(["confab", "--database-url", url]);
        cli.settings
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Where development-mode state (the generated secret) is kept: beside the SQLite
    /// file, else the working directory.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(rest) = self.database_url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if !path.is_empty() && path != ":memory:" {
                if let Some(parent) = PathBuf::from(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        return parent.to_path_buf();
                    }
                }
            }
        }
        PathBuf::from(".")
    }

    /// True when no token key is configured: serve generates a secret and says so.
    pub fn development_mode(&self) -> bool {
        self.jwt_secret.is_none() && self.jwks_url.is_none() && self.jwks_file.is_none()
    }
}

/// `--listen`: `HOST:PORT` with a port number; the host is resolved when binding.
fn listen_address(text: &str) -> Result<String, String> {
    let bad =
        || format!("`{text}` is not HOST:PORT (e.g. 127.0.0.1:8080, localhost:8080, [::1]:8080)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || (host.contains(':') && !bracketed) || host.contains(['/', ' ']) {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// An on/off setting (`--realtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `--introspection on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Introspection {
    On,
    Off,
}

/// A duration given in seconds, fractions allowed (`0.25`, `5`): positive and at most an
/// hour, so that a typo cannot make a timeout that never fires.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(format!("`{text}`: give between 0 and 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        // clap's own checks (duplicate flags, a global flag in a subcommand's flags, ...).
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert_eq!(schema_name("confab").as_deref(), Ok("confab"));
        assert_eq!(schema_name("app_2").as_deref(), Ok("app_2"));
        for bad in [
            "",
            "Confab",
            "2x",
            "pg_catalog",
            "a-b",
            "a\"; drop",
            &"x".repeat(64),
        ] {
            assert!(schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_addresses_need_a_port() {
        for good in ["127.0.0.1:8080", "localhost:8080", "[::1]:0", "0.0.0.0:80"] {
            assert_eq!(listen_address(good).as_deref(), Ok(good));
        }
        for bad in [
            "localhost",
            "localhost:",
            ":8080",
            "::1:8080",
            "host:99999",
            "a b:1",
        ] {
            assert!(listen_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_take_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "NaN", "inf", "3601", "five", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
