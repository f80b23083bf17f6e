//! Authentication: turns a request's token into a [`Viewer`] (anonymous, a user, or the
//! service role), or refuses it. Nothing else in confab reads tokens.
//!
//! Tokens are Supabase Auth JWTs. HS256 tokens are verified with the configured secret only;
//! ES256 and RS256 tokens only with a key of the matching type from the configured JWKS
//! (see [`jwks`]). The token header's `alg` only selects among what the configuration allows,
//! so `alg: none`, other algorithms, and HS256 tokens "signed" with a public key are refused.
//!
//! Supabase's opaque API keys (`sb_publishable_...`, `sb_secret_...`) are not JWTs: the
//! ones configured as anon keys mean anonymous and those configured as service keys mean
//! the service role; a token without dots is compared with every configured key in
//! constant time (the `subtle` crate) and refused when none matches.
//!
//! Error policy: every [`AuthError`]'s `Display` text is safe to show to a client (it names
//! the failed check, never key material or internal details). A bad token is an error,
//! never [`Viewer::Anonymous`].

mod jwks;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};
use uuid::Uuid;

use self::jwks::Jwks;

/// The longest token accepted, in bytes.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The shortest HS256 secret accepted, in bytes.
const MIN_SECRET_LEN: usize = 32;
/// The largest clock-skew allowance accepted, in seconds.
const MAX_LEEWAY_SECS: u64 = 600;
/// The longest lifetime `mint_token` gives a token: one year.
const MAX_MINT_TTL_SECS: u64 = 366 * 24 * 3600;

/// Who is making a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// No token, or Supabase's anon key.
    Anonymous,
    /// A signed-in user (also one signed in anonymously).
    User(UserClaims),
    /// Supabase's service_role key: backend jobs and admin.
    Service,
}

/// What confab takes from a user's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserClaims {
    pub id: Uuid,
    pub email: Option<String>,
    pub is_anonymous: bool,
}

/// Token verification settings.
#[derive(Clone)]
pub struct AuthConfig {
    /// HS256 secret (at least 32 bytes).
    pub hs256_secret: Option<Vec<u8>>,
    /// JWKS URL for ES256/RS256 keys; `https`, or `http` on loopback only.
    pub jwks_url: Option<String>,
    /// JWKS file for ES256/RS256 keys (read when the authenticator is built).
    pub jwks_file: Option<PathBuf>,
    /// The audience user tokens must name (`aud`), usually `authenticated`.
    pub audience: String,
    /// If not empty, tokens must carry exactly one of these `iss` (a Supabase project's
    /// user tokens and its anon/service keys carry different ones).
    pub issuers: Vec<String>,
    /// Opaque API keys (Supabase's `sb_publishable_...`) that mean the anonymous viewer.
    pub anon_keys: Vec<String>,
    /// Opaque API keys (Supabase's `sb_secret_...`) that mean the service role.
    pub service_keys: Vec<String>,
    /// Clock-skew allowance for `exp`/`nbf`, in seconds (at most 600).
    pub leeway_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            hs256_secret: None,
            jwks_url: None,
            jwks_file: None,
            audience: "authenticated".to_owned(),
            issuers: Vec::new(),
            anon_keys: Vec::new(),
            service_keys: Vec::new(),
            leeway_secs: 30,
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("jwks_url", &self.jwks_url)
            .field("jwks_file", &self.jwks_file)
            .field("audience", &self.audience)
            .field("issuers", &self.issuers)
            .field("anon_keys", &self.anon_keys.len())
            .field("service_keys", &self.service_keys.len())
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

/// Why a token (or the configuration) was refused. The text is safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid authorization header")]
    InvalidAuthorizationHeader,
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("token algorithm does not match its signing key")]
    KeyMismatch,
    #[error("invalid token signature")]
    InvalidSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` lies further in the future than the leeway: a token from a wrong clock or a
    /// forger's, which would otherwise stay usable until a far `exp`.
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("missing `{0}` claim")]
    MissingClaim(&'static str),
    #[error("invalid `{0}` claim")]
    InvalidClaim(&'static str),
    #[error("unknown API key")]
    UnknownApiKey,
    #[error("invalid token issuer")]
    InvalidIssuer,
    #[error("invalid token audience")]
    InvalidAudience,
    #[error("token has no audience")]
    MissingAudience,
    #[error("missing role")]
    MissingRole,
    #[error("unknown role")]
    UnknownRole,
    #[error("token subject is not a user id")]
    InvalidSubject,
    /// The JWKS could not be loaded (host down, bad response); a server-side problem.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// Bad settings, reported by [`Authenticator::new`] (for operators, not clients).
    #[error("invalid authentication configuration: {0}")]
    Config(String),
    /// [`mint_token`] refused its input.
    #[error("cannot mint token: {0}")]
    Mint(&'static str),
}

impl AuthError {
    /// True when the failure is the server's (keys unavailable, bad configuration) rather
    /// than the token's.
    pub fn is_server_error(&self) -> bool {
        matches!(self, AuthError::KeysUnavailable | AuthError::Config(_))
    }
}

/// Claims for [`mint_token`].
#[derive(Clone, Debug)]
pub struct MintClaims {
    pub sub: Option<Uuid>,
    pub role: String,
    pub email: Option<String>,
    pub ttl_secs: u64,
    pub audience: Option<String>,
    pub issuer: Option<String>,
}

impl MintClaims {
    /// A signed-in user's claims (`authenticated`, audience `authenticated`) for an hour.
    pub fn user(id: Uuid, email: String) -> Self {
        MintClaims {
            sub: Some(id),
            role: "authenticated".to_owned(),
            email: Some(email),
            ttl_secs: 3600,
            audience: Some("authenticated".to_owned()),
            issuer: None,
        }
    }
}

/// Verifies tokens. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    audience: String,
    issuers: Vec<String>,
    /// Opaque API keys and the viewer each means.
    api_keys: Vec<(Vec<u8>, Viewer)>,
    leeway_secs: u64,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("hs256", &self.inner.hs256.is_some())
            .field("jwks", &self.inner.jwks.is_some())
            .field("audience", &self.inner.audience)
            .field("issuers", &self.inner.issuers)
            .field("api_keys", &self.inner.api_keys.len())
            .finish()
    }
}

fn use_rust_crypto() {
    // Pin jsonwebtoken's crypto backend, so a second backend enabled elsewhere in the
    // dependency graph cannot make it panic. Failing means one is already chosen: fine.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// The shortest opaque API key accepted, in bytes (Supabase's are about 46).
const MIN_API_KEY_LEN: usize = 24;

/// An opaque API key must be long, printable and without dots (a JWT has two).
fn check_api_key(key: &str) -> Result<(), String> {
    let shown: String = key.chars().take(12).collect();
    if key.len() < MIN_API_KEY_LEN || key.len() > MAX_TOKEN_LEN {
        return Err(format!(
            "API key `{shown}...` must be {MIN_API_KEY_LEN} to {MAX_TOKEN_LEN} bytes"
        ));
    }
    if key.contains('.') || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "API key `{shown}...` is not an opaque key (printable, no dots); JWT keys need no configuration"
        ));
    }
    Ok(())
}

fn check_secret(secret: &[u8]) -> Result<(), &'static str> {
    if secret.len() < MIN_SECRET_LEN {
        return Err("the HS256 secret must be at least 32 bytes");
    }
    Ok(())
}

impl Authenticator {
    /// Checks the settings; reads and parses a JWKS file now, a JWKS URL when first needed.
    pub fn new(cfg: AuthConfig) -> Result<Self, AuthError> {
        use_rust_crypto();
        if cfg.audience.is_empty() {
            return Err(AuthError::Config(
                "the audience must not be empty".to_owned(),
            ));
        }
        if cfg.issuers.iter().any(String::is_empty) {
            return Err(AuthError::Config("an issuer must not be empty".to_owned()));
        }
        let mut api_keys = Vec::new();
        for (keys, viewer) in [
            (&cfg.anon_keys, Viewer::Anonymous),
            (&cfg.service_keys, Viewer::Service),
        ] {
            for key in keys {
                check_api_key(key).map_err(AuthError::Config)?;
                if api_keys
                    .iter()
                    .any(|(known, _): &(Vec<u8>, Viewer)| known == key.as_bytes())
                {
                    return Err(AuthError::Config(
                        "an API key is configured twice".to_owned(),
                    ));
                }
                api_keys.push((key.as_bytes().to_vec(), viewer.clone()));
            }
        }
        if cfg.leeway_secs > MAX_LEEWAY_SECS {
            return Err(AuthError::Config(format!(
                "the leeway must be at most {MAX_LEEWAY_SECS} seconds"
            )));
        }
        let hs256 = match &cfg.hs256_secret {
            Some(secret) => {
                check_secret(secret).map_err(|why| AuthError::Config(why.to_owned()))?;
                Some(DecodingKey::from_secret(secret))
            }
            None => None,
        };
        let jwks = match (&cfg.jwks_url, &cfg.jwks_file) {
            (Some(_), Some(_)) => {
                return Err(AuthError::Config(
                    "set a JWKS URL or a JWKS file, not both".to_owned(),
                ))
            }
            (Some(url), None) => Some(Jwks::from_url(url)?),
            (None, Some(path)) => Some(Jwks::from_file(path)?),
            (None, None) => None,
        };
        if hs256.is_none() && jwks.is_none() && api_keys.is_empty() {
            return Err(AuthError::Config(
                "no token verification key: set an HS256 secret, a JWKS URL or a JWKS file"
                    .to_owned(),
            ));
        }
        Ok(Authenticator {
            inner: Arc::new(Inner {
                hs256,
                jwks,
                audience: cfg.audience,
                issuers: cfg.issuers,
                api_keys,
                leeway_secs: cfg.leeway_secs,
            }),
        })
    }

    /// Authorization: Bearer <jwt>; else the `apikey` header (bare jwt); else Ok(Viewer::Anonymous).
    pub async fn viewer_from_headers(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Viewer, AuthError> {
        Ok(self.viewer_and_expiry_from_headers(headers).await?.0)
    }

    /// As [`viewer_from_headers`](Self::viewer_from_headers), with the token's expiry
    /// (seconds since the Unix epoch) when there is a token.
    pub async fn viewer_and_expiry_from_headers(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<(Viewer, Option<u64>), AuthError> {
        let token = match token_from_headers(headers)? {
            Some(token) => token,
            None => return Ok((Viewer::Anonymous, None)),
        };
        self.verify_with_expiry(token).await
    }

    /// Accepts "<jwt>" or "Bearer <jwt>" (used for WebSocket connection_init payloads too).
    pub async fn viewer_from_token(&self, token: &str) -> Result<Viewer, AuthError> {
        Ok(self.viewer_and_expiry_from_token(token).await?.0)
    }

    /// As [`viewer_from_token`](Self::viewer_from_token), with the token's expiry (seconds
    /// since the Unix epoch; none for an opaque API key): a WebSocket connection is closed
    /// when its token expires.
    pub async fn viewer_and_expiry_from_token(
        &self,
        token: &str,
    ) -> Result<(Viewer, Option<u64>), AuthError> {
        let token = token.trim();
        let token = strip_bearer(token).unwrap_or(token);
        self.verify_with_expiry(token).await
    }

    async fn verify_with_expiry(&self, token: &str) -> Result<(Viewer, Option<u64>), AuthError> {
        if !token.contains('.') && !token.is_empty() {
            return self.api_key_viewer(token).map(|viewer| (viewer, None));
        }
        let header = TokenHeader::parse(token)?;
        let (alg, key): (Algorithm, KeyRef<'_>) = match header.alg.as_str() {
            "HS256" => match &self.inner.hs256 {
                Some(key) => (Algorithm::HS256, KeyRef::Borrowed(key)),
                None => return Err(AuthError::UnsupportedAlgorithm),
            },
            "ES256" | "RS256" => {
                let alg = if header.alg == "ES256" {
                    Algorithm::ES256
                } else {
                    Algorithm::RS256
                };
                match &self.inner.jwks {
                    Some(jwks) => (
                        alg,
                        KeyRef::Shared(jwks.key_for(alg, header.kid.as_deref()).await?),
                    ),
                    None => return Err(AuthError::UnsupportedAlgorithm),
                }
            }
            _ => return Err(AuthError::UnsupportedAlgorithm),
        };
        let validation = self.validation(alg);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key.get(), &validation)
            .map_err(from_jwt_error)?;
        let viewer = self.viewer_from_claims(&data.claims)?;
        // `viewer_from_claims` has checked that `exp` is a number.
        let exp = data
            .claims
            .get("exp")
            .and_then(Value::as_f64)
            .map_or(0, |exp| exp.max(0.0) as u64);
        Ok((viewer, Some(exp)))
    }

    /// The viewer an opaque API key means. Every configured key is compared, in constant
    /// time, whatever matched before: the time taken does not say which key nor how much
    /// of one matched. An unconfigured key-shaped token is refused, a dotless one that is
    /// not key-shaped is malformed.
    fn api_key_viewer(&self, token: &str) -> Result<Viewer, AuthError> {
        use subtle::ConstantTimeEq;
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let mut found = None;
        for (key, viewer) in &self.inner.api_keys {
            if bool::from(key.as_slice().ct_eq(token.as_bytes())) {
                found = Some(viewer.clone());
            }
        }
        match found {
            Some(viewer) => Ok(viewer),
            None if token.starts_with("sb_") || !self.inner.api_keys.is_empty() => {
                Err(AuthError::UnknownApiKey)
            }
            None => Err(AuthError::Malformed),
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        // Presence of `exp`, `iss` and `aud` is checked in `viewer_from_claims`; the library
        // checks the signature, and the times (and their types) with the leeway.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = self.inner.leeway_secs;
        validation
    }

    fn viewer_from_claims(&self, claims: &Map<String, Value>) -> Result<Viewer, AuthError> {
        match claims.get("exp") {
            Some(Value::Number(_)) => {}
            None | Some(Value::Null) => return Err(AuthError::MissingClaim("exp")),
            Some(_) => return Err(AuthError::InvalidClaim("exp")),
        }
        // jsonwebtoken checks `exp` and `nbf` but not `iat`.
        match claims.get("iat") {
            None | Some(Value::Null) => {}
            Some(Value::Number(iat)) => {
                let latest = jsonwebtoken::get_current_timestamp()
                    .saturating_add(self.inner.leeway_secs) as f64;
                if iat
                    .as_f64()
                    .is_none_or(|iat| !iat.is_finite() || iat > latest)
                {
                    return Err(AuthError::IssuedInFuture);
                }
            }
            Some(_) => return Err(AuthError::InvalidClaim("iat")),
        }
        if !self.inner.issuers.is_empty() {
            match claims.get("iss") {
                Some(Value::String(iss)) if self.inner.issuers.contains(iss) => {}
                _ => return Err(AuthError::InvalidIssuer),
            }
        }
        let role = match claims.get("role") {
            None | Some(Value::Null) => return Err(AuthError::MissingRole),
            Some(Value::String(role)) => role.as_str(),
            Some(_) => return Err(AuthError::UnknownRole),
        };
        let sub = match claims.get("sub") {
            None | Some(Value::Null) => None,
            Some(Value::String(sub)) => Some(sub.as_str()),
            Some(_) => return Err(AuthError::InvalidSubject),
        };
        match claims.get("aud") {
            None | Some(Value::Null) => {
                // Supabase's project keys (anon, service_role) carry neither `aud` nor `sub`.
                let project_key = matches!(role, "anon" | "service_role") && sub.is_none();
                if !project_key {
                    return Err(AuthError::MissingAudience);
                }
            }
            Some(aud) => {
                if !audience_contains(aud, &self.inner.audience) {
                    return Err(AuthError::InvalidAudience);
                }
            }
        }
        match role {
            "anon" => Ok(Viewer::Anonymous),
            "service_role" => Ok(Viewer::Service),
            "authenticated" => {
                let id = sub
                    .and_then(parse_user_id)
                    .ok_or(AuthError::InvalidSubject)?;
                let email = match claims.get("email") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(email)) if email.is_empty() => None,
                    Some(Value::String(email)) => Some(email.clone()),
                    Some(_) => return Err(AuthError::InvalidClaim("email")),
                };
                let is_anonymous = match claims.get("is_anonymous") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(AuthError::InvalidClaim("is_anonymous")),
                };
                Ok(Viewer::User(UserClaims {
                    id,
                    email,
                    is_anonymous,
                }))
            }
            _ => Err(AuthError::UnknownRole),
        }
    }
}

enum KeyRef<'a> {
    Borrowed(&'a DecodingKey),
    Shared(Arc<DecodingKey>),
}

impl KeyRef<'_> {
    fn get(&self) -> &DecodingKey {
        match self {
            KeyRef::Borrowed(key) => key,
            KeyRef::Shared(key) => key,
        }
    }
}

/// The token of a request: `Authorization: Bearer <jwt>`, else the `apikey` header (a
/// bare jwt), else none. More than one of either header is refused.
fn token_from_headers(headers: &http::HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut authorization = headers.get_all(http::header::AUTHORIZATION).iter();
    if let Some(value) = authorization.next() {
        if authorization.next().is_some() {
            return Err(AuthError::InvalidAuthorizationHeader);
        }
        let value = value
            .to_str()
            .map_err(|_| AuthError::InvalidAuthorizationHeader)?;
        return strip_bearer(value.trim())
            .map(Some)
            .ok_or(AuthError::InvalidAuthorizationHeader);
    }
    let mut apikey = headers.get_all("apikey").iter();
    if let Some(value) = apikey.next() {
        if apikey.next().is_some() {
            return Err(AuthError::InvalidAuthorizationHeader);
        }
        let value = value
            .to_str()
            .map_err(|_| AuthError::InvalidAuthorizationHeader)?;
        return Ok(Some(value.trim()));
    }
    Ok(None)
}

/// The token after a case-insensitive `Bearer ` prefix, if there is one.
fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

/// A user id: a non-nil UUID in its hyphenated form.
fn parse_user_id(sub: &str) -> Option<Uuid> {
    if sub.len() != 36 {
        return None;
    }
    Uuid::try_parse(sub).ok().filter(|id| !id.is_nil())
}

fn audience_contains(aud: &Value, expected: &str) -> bool {
    match aud {
        Value::String(aud) => aud == expected,
        Value::Array(auds) => auds
            .iter()
            .any(|aud| matches!(aud, Value::String(aud) if aud == expected)),
        _ => false,
    }
}

/// The parts of a token's header that choose the key, read before any verification.
struct TokenHeader {
    alg: String,
    kid: Option<String>,
}

impl TokenHeader {
    fn parse(token: &str) -> Result<Self, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let base64url = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !base64url(header) || !base64url(payload) {
            return Err(AuthError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| AuthError::Malformed)?;
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(AuthError::Malformed);
        };
        let alg = match fields.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            _ => return Err(AuthError::UnsupportedAlgorithm),
        };
        if !matches!(alg.as_str(), "HS256" | "ES256" | "RS256") {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        if !base64url(signature) {
            // Also refuses an empty signature, whatever the header claims.
            return Err(AuthError::Malformed);
        }
        // No header extensions are understood, so none may be critical (RFC 7515 4.1.11).
        if fields.contains_key("crit") {
            return Err(AuthError::Malformed);
        }
        let kid = match fields.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(AuthError::Malformed),
        };
        Ok(TokenHeader { alg, kid })
    }
}

fn from_jwt_error(err: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::InvalidIssuer,
        ErrorKind::InvalidAudience => AuthError::InvalidAudience,
        ErrorKind::InvalidClaimFormat(claim) | ErrorKind::MissingRequiredClaim(claim) => {
            match claim.as_str() {
                "exp" => AuthError::InvalidClaim("exp"),
                "nbf" => AuthError::InvalidClaim("nbf"),
                _ => AuthError::Malformed,
            }
        }
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::UnsupportedAlgorithm,
        // A key that cannot verify (it was checked when loaded, so this is unexpected).
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            tracing::warn!("token verification failed: unusable key");
            AuthError::InvalidSignature
        }
        _ => AuthError::Malformed,
    }
}

/// Makes an HS256 token (for `confab token`, the demo seed and tests).
pub fn mint_token(secret: &[u8], claims: &MintClaims) -> Result<String, AuthError> {
    use_rust_crypto();
    check_secret(secret).map_err(AuthError::Mint)?;
    match claims.role.as_str() {
        "anon" | "service_role" => {}
        "authenticated" => {
            if claims.sub.is_none_or(|sub| sub.is_nil()) {
                return Err(AuthError::Mint("an authenticated token needs a user id"));
            }
        }
        _ => return Err(AuthError::Mint("unknown role")),
    }
    if claims.ttl_secs == 0 || claims.ttl_secs > MAX_MINT_TTL_SECS {
        return Err(AuthError::Mint("the lifetime must be 1 second to 1 year"));
    }
    let now = jsonwebtoken::get_current_timestamp();
    let mut payload = Map::new();
    if let Some(sub) = claims.sub {
        payload.insert("sub".to_owned(), Value::from(sub.to_string()));
    }
    payload.insert("role".to_owned(), Value::from(claims.role.clone()));
    if let Some(email) = &claims.email {
        payload.insert("email".to_owned(), Value::from(email.clone()));
    }
    if let Some(aud) = &claims.audience {
        payload.insert("aud".to_owned(), Value::from(aud.clone()));
    }
    if let Some(iss) = &claims.issuer {
        payload.insert("iss".to_owned(), Value::from(iss.clone()));
    }
    payload.insert("iat".to_owned(), Value::from(now));
    payload.insert(
        "exp".to_owned(),
        Value::from(now.saturating_add(claims.ttl_secs)),
    );
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &payload,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|_| AuthError::Mint("signing failed"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests;
