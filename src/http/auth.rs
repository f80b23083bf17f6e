//! Who is calling: the one place where a request's token becomes a [`Viewer`] through the
//! app's [`Authenticator`](crate::auth::Authenticator) and a signed-in user's profile and
//! settings rows are made on their first request. HTTP handlers take [`Authenticated`] as
//! a parameter; the WebSocket handshake calls [`authenticate`] with the token of its
//! `connection_init` payload or, when that has none, the upgrade request's headers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{media_of, refuse, refuse_with, AppState};
use crate::auth::{AuthError, Viewer};
use crate::error::{AppError, ErrorCode, ResponseMedia};

/// Where the token is read from; the two places spell it differently.
#[derive(Clone, Copy)]
pub enum Credentials<'a> {
    /// A request's headers: `Authorization: Bearer <jwt>`, else `apikey: <jwt>`, else no
    /// token (the anonymous viewer).
    Headers(&'a HeaderMap),
    /// A token given as text (a WebSocket `connection_init` payload): `<jwt>` or
    /// `Bearer <jwt>`.
    Token(&'a str),
}

/// Why a caller is not let in.
#[derive(Debug)]
pub enum Refusal {
    /// The token is refused (or the keys to check it are unavailable); the text of the
    /// [`AuthError`] is safe to show.
    Token(AuthError),
    /// The user's rows could not be made: the server's failure, not the caller's.
    Failed(AppError),
}

/// The viewer the credentials name, with their token's expiry (seconds since the Unix
/// epoch) when there is a token, after making sure a signed-in user's rows exist.
pub async fn authenticate(
    state: &AppState,
    credentials: Credentials<'_>,
) -> Result<(Viewer, Option<u64>), Refusal> {
    let verified = match credentials {
        Credentials::Headers(headers) => state.auth.viewer_and_expiry_from_headers(headers).await,
        Credentials::Token(token) => state.auth.viewer_and_expiry_from_token(token).await,
    };
    let (viewer, exp) = verified.map_err(Refusal::Token)?;
    if let Viewer::User(user) = &viewer {
        crate::domain::profiles::ensure_user(&state.db, user, state.signup_credits)
            .await
            .map_err(Refusal::Failed)?;
    }
    Ok((viewer, exp))
}

/// The kind of viewer, as the request log names it: never who, only what kind.
pub fn viewer_kind(viewer: &Viewer) -> &'static str {
    match viewer {
        Viewer::Anonymous => "anonymous",
        Viewer::User(_) => "user",
        Viewer::Service => "service",
    }
}

/// The caller of an HTTP request, from its `Authorization` or `apikey` header.
#[derive(Debug)]
pub struct Authenticated(pub Viewer);

/// The answer to a caller [`Authenticated`] refused: 401 `UNAUTHENTICATED` with
/// `WWW-Authenticate: Bearer` for a bad token; when the user's rows could not be made, 503
/// `SERVICE_UNAVAILABLE` with `Retry-After` if the database cannot answer now, else 500.
#[derive(Debug)]
pub struct AuthRejection {
    refusal: Refusal,
    media: ResponseMedia,
}

impl AuthRejection {
    /// Whether the token itself was refused (rather than the server failing).
    pub fn is_bad_token(&self) -> bool {
        matches!(self.refusal, Refusal::Token(_))
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(state, Credentials::Headers(&parts.headers)).await {
            Ok((viewer, _)) => {
                tracing::Span::current().record("viewer", viewer_kind(&viewer));
                Ok(Authenticated(viewer))
            }
            Err(refusal) => Err(AuthRejection {
                refusal,
                media: media_of(&parts.headers),
            }),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self.refusal {
            Refusal::Token(err) => {
                let mut response = refuse(ErrorCode::Unauthenticated, &err.to_string(), self.media);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Refusal::Failed(err) => {
                let code = err.code();
                // The conversion logs an internal cause and keeps it out of the message.
                let gql: async_graphql::Error = err.into();
                let status = if code.is_retryable() {
                    code.http_status(self.media)
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                refuse_with(status, code, &gql.message, self.media)
            }
        }
    }
}
