//! Placeholder: replaced by the full verifier.
use uuid::Uuid;

#[derive(Clone, Debug)]
pub enum Viewer {
    Anonymous,
    User(UserClaims),
    Service,
}
#[derive(Clone, Debug)]
pub struct UserClaims {
    pub id: Uuid,
    pub email: Option<String>,
    pub is_anonymous: bool,
}
pub struct AuthConfig {
    pub hs256_secret: Option<Vec<u8>>,
    pub jwks_url: Option<String>,
    pub jwks_file: Option<std::path::PathBuf>,
    pub audience: String,
    pub issuer: Option<String>,
    pub leeway_secs: u64,
}
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid token")]
    Invalid,
}
#[derive(Clone)]
pub struct Authenticator {
    secret: std::sync::Arc<Vec<u8>>,
    audience: String,
}
pub struct MintClaims {
    pub sub: Option<Uuid>,
    pub role: String,
    pub email: Option<String>,
    pub ttl_secs: u64,
    pub audience: Option<String>,
    pub issuer: Option<String>,
}
#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    role: Option<String>,
    email: Option<String>,
    exp: u64,
    aud: Option<String>,
}
impl Authenticator {
    pub fn new(cfg: AuthConfig) -> Result<Self, AuthError> {
        Ok(Self {
            secret: std::sync::Arc::new(cfg.hs256_secret.unwrap_or_default()),
            audience: cfg.audience,
        })
    }
    pub async fn viewer_from_headers(&self, headers: &http::HeaderMap) -> Result<Viewer, AuthError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .or_else(|| headers.get("apikey"))
            .and_then(|v| v.to_str().ok());
        match token {
            None => Ok(Viewer::Anonymous),
            Some(t) => self.viewer_from_token(t).await,
        }
    }
    pub async fn viewer_from_token(&self, token: &str) -> Result<Viewer, AuthError> {
        let token = token.strip_prefix("Bearer ").unwrap_or(token);
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(&self.secret),
            &v,
        )
        .map_err(|_| AuthError::Invalid)?;
        let c = data.claims;
        match c.role.as_deref() {
            Some("anon") => Ok(Viewer::Anonymous),
            Some("service_role") => Ok(Viewer::Service),
            Some("authenticated") if c.aud.as_deref() == Some(self.audience.as_str()) => {
                let id = c
                    .sub
                    .and_then(|s| Uuid::parse_str(&s).ok())
                    .ok_or(AuthError::Invalid)?;
                Ok(Viewer::User(UserClaims {
                    id,
                    email: c.email,
                    is_anonymous: false,
                }))
            }
            _ => Err(AuthError::Invalid),
        }
    }
}
pub fn mint_token(secret: &[u8], claims: &MintClaims) -> Result<String, AuthError> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| AuthError::Invalid)?
        .as_secs()
        + claims.ttl_secs;
    let c = Claims {
        sub: claims.sub.map(|s| s.to_string()),
        role: Some(claims.role.clone()),
        email: claims.email.clone(),
        exp,
        aud: claims.audience.clone(),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &c,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .map_err(|_| AuthError::Invalid)
}
