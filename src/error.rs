//! The one error type of the gateway, and the one list of the codes clients see in
//! `extensions.code` with the HTTP status each is answered with.
//!
//! Policy: every error a client sees carries one of DESIGN.md's codes. Messages of
//! `Internal` errors are replaced by a generic text before they leave the process; the
//! cause (SQL, paths, driver messages) goes to the log only. Constraint violations are
//! turned into `CONFLICT` here, in one place, not at each call site.
//!
//! The conversion into GraphQL errors lives with the GraphQL layer (its `errors` module);
//! this module does not know the GraphQL engine.

use std::fmt;
use std::str::FromStr;

use http::StatusCode;
use sea_orm::{DbErr, SqlErr};

/// Every `extensions.code` the gateway answers: DESIGN.md's codes, then those of the
/// GraphQL document and the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    InsufficientCredits,
    RateLimited,
    QueryTooComplex,
    Internal,
    /// The document is not GraphQL.
    GraphqlParseFailed,
    /// The document does not validate against the schema.
    GraphqlValidationFailed,
    /// An automatic persisted query the gateway does not hold (the client resends it
    /// with its text).
    PersistedQueryNotFound,
    /// Persisted-only mode (`--persisted-only`): the request sent a document that is not
    /// a trusted one, or tried to register a new persisted query.
    PersistedQueryRequired,
    /// The database is down, its pool exhausted, or it is locked or read-only past the
    /// configured timeouts: retry later (`Retry-After`).
    ServiceUnavailable,
    /// An upload that would take the user's stored bytes past their quota
    /// (`--storage-quota-bytes`).
    QuotaExceeded,
}

/// Which JSON media type a response is sent as (the client's `Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/json`, the legacy one: refusals of the document other than a parse
    /// failure are answered with 200.
    Json,
    /// `application/graphql-response+json`: every refusal of the document is 400.
    GraphqlResponse,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::BadUserInput,
        ErrorCode::Conflict,
        ErrorCode::InsufficientCredits,
        ErrorCode::RateLimited,
        ErrorCode::QueryTooComplex,
        ErrorCode::Internal,
        ErrorCode::GraphqlParseFailed,
        ErrorCode::GraphqlValidationFailed,
        ErrorCode::PersistedQueryNotFound,
        ErrorCode::PersistedQueryRequired,
        ErrorCode::ServiceUnavailable,
        ErrorCode::QuotaExceeded,
    ];

    /// The code as clients see it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InsufficientCredits => "INSUFFICIENT_CREDITS",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            ErrorCode::PersistedQueryRequired => "PERSISTED_QUERY_REQUIRED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
        }
    }

    /// The code a client saw, read back (from an error's extensions); None for a string
    /// that is not one of ours.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// Whether an error with this code refused the operation before it ran: the document
    /// did not parse or validate, or is too deep or complex, or is not a trusted document
    /// in persisted-only mode.
    pub const fn is_pre_execution(self) -> bool {
        matches!(
            self,
            ErrorCode::GraphqlParseFailed
                | ErrorCode::GraphqlValidationFailed
                | ErrorCode::QueryTooComplex
                | ErrorCode::PersistedQueryRequired
        )
    }

    /// The HTTP status of a request the gateway answers with an error of this code and no
    /// operation run: a refused token (401), a request that is not a GraphQL request
    /// (400; the transport names 405, 413 or 415 where one of those says more), a
    /// document refused before it ran ([`is_pre_execution`](Self::is_pre_execution): 400,
    /// but only a parse failure or an untrusted document in persisted-only mode on legacy
    /// `application/json`), a server failure (500), a database that cannot answer now (503,
    /// also when an operation that ran met it, see [`is_retryable`](Self::is_retryable)).
    /// Everything else is reported inside a GraphQL response, which is 200; so are other
    /// errors raised while an operation runs, whatever their code.
    pub const fn http_status(self, media: ResponseMedia) -> StatusCode {
        match self {
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::BadUserInput
            | ErrorCode::GraphqlParseFailed
            | ErrorCode::PersistedQueryRequired => StatusCode::BAD_REQUEST,
            ErrorCode::GraphqlValidationFailed | ErrorCode::QueryTooComplex => match media {
                ResponseMedia::GraphqlResponse => StatusCode::BAD_REQUEST,
                ResponseMedia::Json => StatusCode::OK,
            },
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            // A caller over its request or write bucket, refused before anything ran (a
            // subscription refused on a WebSocket has no status).
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::PersistedQueryNotFound
            | ErrorCode::Forbidden
            | ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::InsufficientCredits
            | ErrorCode::QuotaExceeded => StatusCode::OK,
        }
    }
}

/// Seconds a client is told to wait (`Retry-After`) before retrying a request answered
/// with [`ErrorCode::ServiceUnavailable`].
pub const RETRY_AFTER_SECS: u64 = 5;

impl ErrorCode {
    /// Whether the whole answer is a 503 with `Retry-After` when one of its errors has this
    /// code, even from an operation that ran: a database that cannot answer now.
    pub const fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::ServiceUnavailable)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the gateway's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        ErrorCode::from_code(code).ok_or_else(|| UnknownErrorCode(code.to_owned()))
    }
}

/// A failure an operation reports to its caller.
///
/// Deliberately not `Display`: it converts into a GraphQL error only through the
/// `From` impl of the GraphQL layer's `errors` module, which sets the code and hides
/// internal causes.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    BadUserInput(String),
    Conflict(String),
    InsufficientCredits(String),
    RateLimited(String),
    QueryTooComplex(String),
    /// The database cannot answer now (down, pool exhausted, locked, read-only); the
    /// message is for the log, clients get a generic text.
    ServiceUnavailable(String),
    /// The message is for the log; clients get "internal error".
    Internal(String),
    QuotaExceeded(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::BadUserInput(_) => ErrorCode::BadUserInput,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::InsufficientCredits(_) => ErrorCode::InsufficientCredits,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::QueryTooComplex(_) => ErrorCode::QueryTooComplex,
            AppError::ServiceUnavailable(_) => ErrorCode::ServiceUnavailable,
            AppError::Internal(_) => ErrorCode::Internal,
            AppError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
        }
    }

    /// The text a client may see.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "internal error".to_owned(),
            AppError::ServiceUnavailable(_) => UNAVAILABLE_MESSAGE.to_owned(),
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::BadUserInput(m)
            | AppError::Conflict(m)
            | AppError::InsufficientCredits(m)
            | AppError::RateLimited(m)
            | AppError::QueryTooComplex(m)
            | AppError::QuotaExceeded(m) => m.clone(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn bad_input(msg: impl Into<String>) -> Self {
        AppError::BadUserInput(msg.into())
    }

    pub fn user_required() -> Self {
        AppError::Unauthenticated("sign in as a user to do this".to_owned())
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict("a row with the same key already exists".to_owned())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                AppError::NotFound("a referenced row does not exist".to_owned())
            }
            _ if is_unavailable(&err) => {
                tracing::warn!(error = %err, "database unavailable");
                AppError::ServiceUnavailable(err.to_string())
            }
            _ => {
                tracing::error!(error = %err, "database error");
                AppError::Internal(err.to_string())
            }
        }
    }
}

/// What a client reads for [`AppError::ServiceUnavailable`].
pub const UNAVAILABLE_MESSAGE: &str = "the database is unavailable; retry later";

/// SQLite's primary result codes that mean "not now" rather than "wrong": another
/// connection holds the lock past the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`), the
/// file cannot be written (`SQLITE_READONLY`), disk trouble (`SQLITE_IOERR`, `SQLITE_FULL`,
/// `SQLITE_CANTOPEN`). sqlx reports the extended code; its low byte is the primary one.
const SQLITE_UNAVAILABLE: [i64; 6] = [5, 6, 8, 10, 13, 14];

/// Postgres SQLSTATEs (or their class, two characters) of the same kind: connection
/// exceptions (08), insufficient resources (53), operator intervention (57: shutdown,
/// cannot connect now, statement timeout), a read-only transaction on a standby (25006),
/// a lock not available (55P03).
const POSTGRES_UNAVAILABLE: [&str; 5] = ["08", "53", "57", "25006", "55P03"];

/// Whether a database error means the database cannot answer now (down, pool exhausted,
/// locked past the busy timeout, read-only), so the request may be retried later.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::RuntimeErr;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let sqlx = match runtime {
        RuntimeErr::SqlxError(sqlx) => sqlx,
        // sea-orm's own connection errors (a closed connection).
        RuntimeErr::Internal(_) => return matches!(err, DbErr::Conn(_)),
    };
    match sqlx.as_ref() {
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed => true,
        Sqlx::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if let Ok(extended) = code.parse::<i64>() {
                return SQLITE_UNAVAILABLE.contains(&(extended & 0xff));
            }
            POSTGRES_UNAVAILABLE
                .iter()
                .any(|prefix| code.starts_with(prefix))
        }
        _ => false,
    }
}

/// An error shared by every key of a dataloader batch.
#[derive(Debug, Clone)]
pub struct SharedError(pub std::sync::Arc<AppError>);

impl From<AppError> for SharedError {
    fn from(err: AppError) -> Self {
        SharedError(std::sync::Arc::new(err))
    }
}

impl From<DbErr> for SharedError {
    fn from(err: DbErr) -> Self {
        AppError::from(err).into()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{AppError, ErrorCode, ResponseMedia};

    #[test]
    fn every_code_reads_back_from_its_string() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(code));
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
        }
        assert_eq!(ErrorCode::from_code("bad_user_input"), None);
        assert_eq!(ErrorCode::from_code(""), None);
        assert!("INTERNAL_SERVER_ERROR".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn code_strings_are_unique_and_screaming_snake_case() {
        let strings: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(strings.len(), ErrorCode::ALL.len());
        for s in strings {
            assert!(
                s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && !s.starts_with('_')
                    && !s.ends_with('_'),
                "{s}"
            );
        }
    }

    #[test]
    fn statuses_are_those_the_http_layer_answers() {
        use ResponseMedia::{GraphqlResponse, Json};
        let expected = [
            (ErrorCode::Unauthenticated, 401, 401),
            (ErrorCode::BadUserInput, 400, 400),
            (ErrorCode::GraphqlParseFailed, 400, 400),
            (ErrorCode::GraphqlValidationFailed, 200, 400),
            (ErrorCode::QueryTooComplex, 200, 400),
            (ErrorCode::Internal, 500, 500),
            (ErrorCode::PersistedQueryNotFound, 200, 200),
            (ErrorCode::PersistedQueryRequired, 400, 400),
            (ErrorCode::Forbidden, 200, 200),
            (ErrorCode::NotFound, 200, 200),
            (ErrorCode::Conflict, 200, 200),
            (ErrorCode::InsufficientCredits, 200, 200),
            (ErrorCode::RateLimited, 429, 429),
            (ErrorCode::ServiceUnavailable, 503, 503),
            (ErrorCode::QuotaExceeded, 200, 200),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (code, json, graphql_response) in expected {
            assert_eq!(code.http_status(Json).as_u16(), json, "{code} as JSON");
            assert_eq!(
                code.http_status(GraphqlResponse).as_u16(),
                graphql_response,
                "{code} as graphql-response+json"
            );
        }
        let pre_execution: Vec<ErrorCode> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.is_pre_execution())
            .collect();
        assert_eq!(
            pre_execution,
            [
                ErrorCode::QueryTooComplex,
                ErrorCode::GraphqlParseFailed,
                ErrorCode::GraphqlValidationFailed,
                ErrorCode::PersistedQueryRequired
            ]
        );
    }

    #[test]
    fn app_errors_name_their_code_and_hide_internal_causes() {
        let cases = [
            (AppError::user_required(), ErrorCode::Unauthenticated),
            (AppError::Forbidden("no".into()), ErrorCode::Forbidden),
            (AppError::not_found("project"), ErrorCode::NotFound),
            (AppError::bad_input("bad"), ErrorCode::BadUserInput),
            (AppError::Conflict("dup".into()), ErrorCode::Conflict),
            (
                AppError::InsufficientCredits("poor".into()),
                ErrorCode::InsufficientCredits,
            ),
            (AppError::RateLimited("slow".into()), ErrorCode::RateLimited),
            (
                AppError::QueryTooComplex("big".into()),
                ErrorCode::QueryTooComplex,
            ),
            (AppError::Internal("SQL".into()), ErrorCode::Internal),
            (
                AppError::ServiceUnavailable("pool timed out".into()),
                ErrorCode::ServiceUnavailable,
            ),
        ];
        for (err, code) in &cases {
            assert_eq!(err.code(), *code);
        }
        assert_eq!(cases[2].0.public_message(), "project not found");
        assert_eq!(cases[8].0.public_message(), "internal error");
        assert_eq!(
            cases[9].0.public_message(),
            "the database is unavailable; retry later"
        );
        let retryable: Vec<ErrorCode> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.is_retryable())
            .collect();
        assert_eq!(retryable, [ErrorCode::ServiceUnavailable]);
    }

    #[test]
    fn database_trouble_is_unavailable_not_internal() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        use std::sync::Arc;
        let io = |kind| {
            DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
                std::io::Error::from(kind),
            ))))
        };
        let cases = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            io(std::io::ErrorKind::ConnectionRefused),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(
                sea_orm::sqlx::Error::PoolTimedOut,
            ))),
        ];
        for err in cases {
            assert_eq!(AppError::from(err).code(), ErrorCode::ServiceUnavailable);
        }
        let internal = DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::RowNotFound,
        )));
        assert_eq!(AppError::from(internal).code(), ErrorCode::Internal);
        assert_eq!(
            AppError::from(DbErr::Custom("x".into())).code(),
            ErrorCode::Internal
        );
    }
}
