//! Every setting, from flags with environment twins, validated once at start.

use std::net::SocketAddr;
use std::path::PathBuf;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
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

#[derive(Debug, Args)]
pub struct TokenArgs {
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
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to serve on.
    #[arg(
        long,
        env = "CONFAB_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// Database URL: sqlite://FILE or postgres://...
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://confab.db?mode=rwc",
        global = true
    )]
    pub database_url: String,
    /// Maximum pool size.
    #[arg(
        long,
        env = "CONFAB_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,
    /// HS256 secret for user tokens (Supabase's JWT secret).
    #[arg(long, env = "CONFAB_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// JWKS URL for ES256/RS256 tokens.
    #[arg(long, env = "CONFAB_JWKS_URL", global = true)]
    pub jwks_url: Option<String>,
    /// JWKS file for ES256/RS256 tokens.
    #[arg(long, env = "CONFAB_JWKS_FILE", global = true)]
    pub jwks_file: Option<PathBuf>,
    /// Expected `aud` of user tokens.
    #[arg(
        long,
        env = "CONFAB_JWT_AUDIENCE",
        default_value = "authenticated",
        global = true
    )]
    pub jwt_audience: String,
    /// Expected `iss`, if set.
    #[arg(long, env = "CONFAB_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Clock leeway for exp/nbf, seconds.
    #[arg(long, env = "CONFAB_JWT_LEEWAY", default_value_t = 30, global = true)]
    pub jwt_leeway: u64,
    /// Largest `first`/`last` a connection accepts.
    #[arg(
        long,
        env = "CONFAB_MAX_PAGE_SIZE",
        default_value_t = 100,
        global = true
    )]
    pub max_page_size: u32,
    /// Page size when neither `first` nor `last` is given.
    #[arg(
        long,
        env = "CONFAB_DEFAULT_PAGE_SIZE",
        default_value_t = 100,
        global = true
    )]
    pub default_page_size: u32,
    /// Deepest query accepted.
    #[arg(long, env = "CONFAB_MAX_DEPTH", default_value_t = 15, global = true)]
    pub max_depth: usize,
    /// Highest query complexity accepted.
    #[arg(
        long,
        env = "CONFAB_MAX_COMPLEXITY",
        default_value_t = 250_000,
        global = true
    )]
    pub max_complexity: usize,
    /// Credits a user's account starts with on their first request.
    #[arg(
        long,
        env = "CONFAB_SIGNUP_CREDITS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(i32::MAX)),
        global = true
    )]
    pub signup_credits: u32,
    /// Largest request body, bytes.
    #[arg(long, env = "CONFAB_BODY_LIMIT", default_value_t = 1024 * 1024, global = true)]
    pub body_limit: usize,
    /// Seconds between keep-alive pings on an idle WebSocket connection.
    #[arg(long, env = "CONFAB_WS_KEEPALIVE", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub ws_keepalive: u64,
    /// Seconds a WebSocket client has to send `connection_init`.
    #[arg(long, env = "CONFAB_WS_INIT_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub ws_init_timeout: u64,
    /// Concurrent subscriptions one WebSocket connection may hold.
    #[arg(
        long,
        env = "CONFAB_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100,
        global = true
    )]
    pub max_subscriptions_per_connection: usize,
    /// Events queued for one subscriber before it is dropped as too slow.
    #[arg(long, env = "CONFAB_SUBSCRIBER_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub subscriber_queue: u64,
    /// Seconds the Postgres realtime outbox keeps events, so a gateway whose `LISTEN`
    /// connection was down replays what it missed; pruned every half window (at most every
    /// minute).
    #[arg(long, env = "CONFAB_REALTIME_RETENTION", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400 * 7), global = true)]
    pub realtime_retention: u64,
    /// Realtime events: `off` publishes nothing on writes (no outbox row, no NOTIFY),
    /// opens no `LISTEN` connection and refuses subscriptions with `BAD_USER_INPUT`.
    #[arg(
        long,
        env = "CONFAB_REALTIME",
        value_enum,
        default_value_t = Switch::On,
        global = true
    )]
    pub realtime: Switch,
    /// Whether `__schema` and `__type` are answered (and `/graphql/schema.graphql` is
    /// served); off refuses them with `GRAPHQL_VALIDATION_FAILED`. Costs nothing per request.
    #[arg(
        long,
        env = "CONFAB_INTROSPECTION",
        value_enum,
        default_value_t = Introspection::On,
        global = true
    )]
    pub introspection: Introspection,
    /// Run only trusted documents (`--trusted-documents`), by hash or by their exact text;
    /// anything else is refused with `PERSISTED_QUERY_REQUIRED`. One SHA-256 per request
    /// that sends a text.
    #[arg(
        long,
        env = "CONFAB_PERSISTED_ONLY",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue,
        global = true
    )]
    pub persisted_only: bool,
    /// A JSON manifest of trusted documents, `{ "<sha256 hex>": "<document>" }` (or Apollo's
    /// persisted-query manifest), read once at start and held in memory; each hash is checked.
    #[arg(
        long,
        env = "CONFAB_TRUSTED_DOCUMENTS",
        value_name = "FILE",
        global = true
    )]
    pub trusted_documents: Option<PathBuf>,
    /// Log lines on stderr: `text` or `json` (one object per line); default: text when
    /// stderr is a terminal, else json. One line per request, filtered by `RUST_LOG`.
    #[arg(long, env = "CONFAB_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<crate::telemetry::LogFormat>,
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
