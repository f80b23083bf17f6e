//! Token verification: every way a token can be wrong, and the ways it can be right.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use axum::routing::get;
use axum::Router;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

use super::*;

const SECRET: &[u8] = b"super-secret-jwt-token-with-at-least-32-characters-long";
const USER_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn config() -> AuthConfig {
    AuthConfig {
        hs256_secret: Some(SECRET.to_vec()),
        ..AuthConfig::default()
    }
}

fn hs_auth() -> Authenticator {
    Authenticator::new(config()).unwrap()
}

fn sign_hs(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn user_claims() -> Value {
    json!({
        "sub": USER_ID,
        "role": "authenticated",
        "aud": "authenticated",
        "exp": now() + 600,
        "iat": now(),
        "email": "ada@example.com",
        "is_anonymous": false,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn anon_key() -> Value {
    json!({"iss": "supabase-demo", "role": "anon", "exp": now() + 600})
}

fn service_key() -> Value {
    json!({"iss": "supabase-demo", "role": "service_role", "exp": now() + 600})
}

fn expect_user(viewer: Viewer) -> UserClaims {
    match viewer {
        Viewer::User(user) => user,
        other => panic!("expected a user, got {other:?}"),
    }
}

async fn refuse(auth: &Authenticator, token: &str) -> AuthError {
    match auth.viewer_from_token(token).await {
        Ok(viewer) => panic!("token accepted as {viewer:?}"),
        Err(err) => err,
    }
}

// ---- keys -------------------------------------------------------------------------

fn ec_key(seed: u8) -> p256::SecretKey {
    p256::SecretKey::from_slice(&[seed; 32]).unwrap()
}

fn ec_jwk(kid: Option<&str>, key: &p256::SecretKey) -> Value {
    let point = key.public_key().to_encoded_point(false);
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": b64(point.x().unwrap()),
        "y": b64(point.y().unwrap()),
        "use": "sig",
        "alg": "ES256",
    });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

fn sign_es(claims: &Value, kid: Option<&str>, key: &p256::SecretKey) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    let der = key.to_pkcs8_der().unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(der.as_bytes())).unwrap()
}

/// One RSA key for the whole test binary: generating one is slow in debug builds.
static RSA_KEY: LazyLock<rsa::RsaPrivateKey> =
    LazyLock::new(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap());

fn rsa_jwk(kid: &str, key: &rsa::RsaPrivateKey) -> Value {
    json!({
        "kty": "RSA",
        "n": b64(&key.n().to_bytes_be()),
        "e": b64(&key.e().to_bytes_be()),
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
    })
}

fn sign_rs(claims: &Value, kid: &str, key: &rsa::RsaPrivateKey) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let der = key.to_pkcs1_der().unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
}

fn jwks_file(keys: &[Value]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), json!({ "keys": keys }).to_string()).unwrap();
    file
}

fn jwks_file_auth(file: &tempfile::NamedTempFile, secret: Option<&[u8]>) -> Authenticator {
    Authenticator::new(AuthConfig {
        hs256_secret: secret.map(<[u8]>::to_vec),
        jwks_file: Some(file.path().to_path_buf()),
        ..AuthConfig::default()
    })
    .unwrap()
}

/// A JWKS endpoint on loopback that counts its fetches and can rotate its set.
struct JwksServer {
    url: String,
    fetches: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
}

impl JwksServer {
    async fn start(keys: &[Value]) -> Self {
        let fetches = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(json!({ "keys": keys }).to_string()));
        let app = {
            let (fetches, body) = (Arc::clone(&fetches), Arc::clone(&body));
            Router::new().route(
                "/.well-known/jwks.json",
                get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = body.lock().unwrap().clone();
                    ([(http::header::CONTENT_TYPE, "application/json")], body)
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        JwksServer {
            url: format!("http://{addr}/.well-known/jwks.json"),
            fetches,
            body,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn serve(&self, keys: &[Value]) {
        *self.body.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    fn auth(&self) -> Authenticator {
        Authenticator::new(AuthConfig {
            jwks_url: Some(self.url.clone()),
            ..AuthConfig::default()
        })
        .unwrap()
    }
}

// ---- HS256: accepted --------------------------------------------------------------

#[tokio::test]
async fn accepts_hs256_user_token() {
    let auth = hs_auth();
    let token = sign_hs(&user_claims(), SECRET);
    let user = expect_user(auth.viewer_from_token(&token).await.unwrap());
    assert_eq!(user.id, Uuid::parse_str(USER_ID).unwrap());
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    assert!(!user.is_anonymous);
}

#[tokio::test]
async fn anonymous_sign_in_is_a_user() {
    let auth = hs_auth();
    let claims = with(without(user_claims(), "is_anonymous"), "email", json!(""));
    let user = expect_user(
        auth.viewer_from_token(&sign_hs(&claims, SECRET))
            .await
            .unwrap(),
    );
    assert_eq!(user.email, None);
    assert!(!user.is_anonymous, "is_anonymous defaults to false");

    let claims = with(user_claims(), "is_anonymous", json!(true));
    let user = expect_user(
        auth.viewer_from_token(&sign_hs(&claims, SECRET))
            .await
            .unwrap(),
    );
    assert!(user.is_anonymous);
}

#[tokio::test]
async fn audience_may_be_an_array() {
    let auth = hs_auth();
    let claims = with(user_claims(), "aud", json!(["other", "authenticated"]));
    let user = expect_user(
        auth.viewer_from_token(&sign_hs(&claims, SECRET))
            .await
            .unwrap(),
    );
    assert_eq!(user.id.to_string(), USER_ID);
}

#[tokio::test]
async fn anon_key_is_anonymous_and_service_key_is_service() {
    let auth = hs_auth();
    let anon = auth
        .viewer_from_token(&sign_hs(&anon_key(), SECRET))
        .await
        .unwrap();
    assert_eq!(anon, Viewer::Anonymous);
    let service = auth
        .viewer_from_token(&sign_hs(&service_key(), SECRET))
        .await
        .unwrap();
    assert_eq!(service, Viewer::Service);
    // With an audience, project keys must name ours.
    let service = with(service_key(), "aud", json!("authenticated"));
    let viewer = auth
        .viewer_from_token(&sign_hs(&service, SECRET))
        .await
        .unwrap();
    assert_eq!(viewer, Viewer::Service);
    let service = with(service_key(), "aud", json!("elsewhere"));
    let err = refuse(&auth, &sign_hs(&service, SECRET)).await;
    assert!(matches!(err, AuthError::InvalidAudience), "{err:?}");
}

#[tokio::test]
async fn token_forms_bare_and_bearer() {
    let auth = hs_auth();
    let token = sign_hs(&user_claims(), SECRET);
    for form in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("  Bearer   {token} "),
    ] {
        let user = expect_user(auth.viewer_from_token(&form).await.unwrap());
        assert_eq!(user.id.to_string(), USER_ID, "form {form:?}");
    }
}

#[tokio::test]
async fn headers_authorization_then_apikey_then_anonymous() {
    let auth = hs_auth();
    let user = sign_hs(&user_claims(), SECRET);
    let service = sign_hs(&service_key(), SECRET);
    let header = |v: &str| http::HeaderValue::from_str(v).unwrap();

    let headers = http::HeaderMap::new();
    assert_eq!(
        auth.viewer_from_headers(&headers).await.unwrap(),
        Viewer::Anonymous
    );

    let mut headers = http::HeaderMap::new();
    headers.insert("apikey", header(&service));
    assert_eq!(
        auth.viewer_from_headers(&headers).await.unwrap(),
        Viewer::Service
    );

    // Authorization wins over apikey.
    headers.insert(
        http::header::AUTHORIZATION,
        header(&format!("Bearer {user}")),
    );
    let viewer = expect_user(auth.viewer_from_headers(&headers).await.unwrap());
    assert_eq!(viewer.id.to_string(), USER_ID);

    // A bad Authorization header is refused, not replaced by the apikey.
    headers.insert(http::header::AUTHORIZATION, header("Bearer not-a-token"));
    let err = auth.viewer_from_headers(&headers).await.unwrap_err();
    assert!(matches!(err, AuthError::Malformed), "{err:?}");
    headers.insert(
        http::header::AUTHORIZATION,
        header(&format!("Basic {user}")),
    );
    let err = auth.viewer_from_headers(&headers).await.unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidAuthorizationHeader),
        "{err:?}"
    );
    headers.insert(http::header::AUTHORIZATION, header(&user));
    let err = auth.viewer_from_headers(&headers).await.unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidAuthorizationHeader),
        "{err:?}"
    );

    // A bad apikey is refused, not anonymous.
    let mut headers = http::HeaderMap::new();
    headers.insert("apikey", header("garbage"));
    let err = auth.viewer_from_headers(&headers).await.unwrap_err();
    assert!(matches!(err, AuthError::Malformed), "{err:?}");
}

// ---- HS256: refused ---------------------------------------------------------------

#[tokio::test]
async fn refuses_wrong_key() {
    let auth = hs_auth();
    let token = sign_hs(
        &user_claims(),
        b"another-secret-that-is-at-least-32-bytes-long",
    );
    let err = refuse(&auth, &token).await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
    assert_eq!(err.to_string(), "invalid token signature");
}

#[tokio::test]
async fn refuses_expired_beyond_leeway() {
    let auth = hs_auth();
    let expired = with(user_claims(), "exp", json!(now() - 120));
    let err = refuse(&auth, &sign_hs(&expired, SECRET)).await;
    assert!(matches!(err, AuthError::Expired), "{err:?}");
    assert_eq!(err.to_string(), "token expired");
    // Within the 30 s leeway: accepted.
    let recent = with(user_claims(), "exp", json!(now() - 10));
    assert!(matches!(
        auth.viewer_from_token(&sign_hs(&recent, SECRET)).await,
        Ok(Viewer::User(_))
    ));
}

#[tokio::test]
async fn refuses_not_yet_valid() {
    let auth = hs_auth();
    let early = with(user_claims(), "nbf", json!(now() + 120));
    let err = refuse(&auth, &sign_hs(&early, SECRET)).await;
    assert!(matches!(err, AuthError::NotYetValid), "{err:?}");
    assert_eq!(err.to_string(), "token not yet valid");
    let nbf_string = with(user_claims(), "nbf", json!("0"));
    let err = refuse(&auth, &sign_hs(&nbf_string, SECRET)).await;
    assert!(matches!(err, AuthError::InvalidClaim("nbf")), "{err:?}");
}

#[tokio::test]
async fn refuses_issued_in_the_future_beyond_leeway() {
    let auth = hs_auth();
    let year_ahead = with(user_claims(), "iat", json!(now() + 365 * 24 * 3600));
    let err = refuse(&auth, &sign_hs(&year_ahead, SECRET)).await;
    assert!(matches!(err, AuthError::IssuedInFuture), "{err:?}");
    assert_eq!(err.to_string(), "token issued in the future");
    let just_beyond = with(user_claims(), "iat", json!(now() + 120));
    let err = refuse(&auth, &sign_hs(&just_beyond, SECRET)).await;
    assert!(matches!(err, AuthError::IssuedInFuture), "{err:?}");
    let service = with(service_key(), "iat", json!(now() + 3600));
    let err = refuse(&auth, &sign_hs(&service, SECRET)).await;
    assert!(matches!(err, AuthError::IssuedInFuture), "{err:?}");
    let iat_string = with(user_claims(), "iat", json!("0"));
    let err = refuse(&auth, &sign_hs(&iat_string, SECRET)).await;
    assert!(matches!(err, AuthError::InvalidClaim("iat")), "{err:?}");
    // Within the 30 s leeway, or absent: accepted.
    for claims in [
        with(user_claims(), "iat", json!(now() + 10)),
        without(user_claims(), "iat"),
    ] {
        assert!(matches!(
            auth.viewer_from_token(&sign_hs(&claims, SECRET)).await,
            Ok(Viewer::User(_))
        ));
    }
}

#[tokio::test]
async fn refuses_wrong_audience() {
    let auth = hs_auth();
    for aud in [
        json!("other"),
        json!(["a", "b"]),
        json!([]),
        json!(42),
        json!({}),
    ] {
        let claims = with(user_claims(), "aud", aud.clone());
        let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
        assert!(
            matches!(err, AuthError::InvalidAudience),
            "aud {aud}: {err:?}"
        );
    }
}

#[tokio::test]
async fn refuses_user_token_without_audience() {
    let auth = hs_auth();
    let err = refuse(&auth, &sign_hs(&without(user_claims(), "aud"), SECRET)).await;
    assert!(matches!(err, AuthError::MissingAudience), "{err:?}");
    // A project key with a `sub` is not a project key.
    let anon_with_sub = with(anon_key(), "sub", json!(USER_ID));
    let err = refuse(&auth, &sign_hs(&anon_with_sub, SECRET)).await;
    assert!(matches!(err, AuthError::MissingAudience), "{err:?}");
}

#[tokio::test]
async fn refuses_alg_none_and_other_algorithms() {
    let auth = hs_auth();
    let payload = b64(user_claims().to_string().as_bytes());
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "HS512"}),
        json!({"alg": "PS256"}),
        json!({"alg": "EdDSA"}),
        json!({"typ": "JWT"}),
        json!({"alg": 256}),
    ] {
        let header = b64(header.to_string().as_bytes());
        for signature in ["", "c2ln"] {
            let token = format!("{header}.{payload}.{signature}");
            let err = refuse(&auth, &token).await;
            assert!(
                matches!(err, AuthError::UnsupportedAlgorithm),
                "{token}: {err:?}"
            );
            assert_eq!(err.to_string(), "unsupported token algorithm");
        }
    }
    // A real HS512 token with the right secret is still refused.
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &user_claims(),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let err = refuse(&auth, &token).await;
    assert!(matches!(err, AuthError::UnsupportedAlgorithm), "{err:?}");
}

#[tokio::test]
async fn refuses_asymmetric_token_without_jwks() {
    let auth = hs_auth();
    let token = sign_es(&user_claims(), Some("k1"), &ec_key(1));
    let err = refuse(&auth, &token).await;
    assert!(matches!(err, AuthError::UnsupportedAlgorithm), "{err:?}");
}

#[tokio::test]
async fn refuses_hs256_signed_with_jwks_public_key() {
    let ec = ec_key(1);
    let rsa_key = &*RSA_KEY;
    let file = jwks_file(&[ec_jwk(Some("ec1"), &ec), rsa_jwk("rsa1", rsa_key)]);
    let ec_public = ec.public_key();
    let rsa_public = rsa_key.to_public_key();
    let forged_secrets: Vec<Vec<u8>> = vec![
        ec_public
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
            .into_bytes(),
        ec_public.to_public_key_der().unwrap().as_bytes().to_vec(),
        ec_public.to_encoded_point(false).as_bytes().to_vec(),
        rsa_public
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
            .into_bytes(),
        rsa_public.to_public_key_der().unwrap().as_bytes().to_vec(),
    ];
    let jwks_only = jwks_file_auth(&file, None);
    let jwks_and_secret = jwks_file_auth(&file, Some(SECRET));
    for forged in &forged_secrets {
        for kid in [None, Some("ec1"), Some("rsa1")] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid.map(str::to_owned);
            let token =
                jsonwebtoken::encode(&header, &user_claims(), &EncodingKey::from_secret(forged))
                    .unwrap();
            let err = refuse(&jwks_only, &token).await;
            assert!(matches!(err, AuthError::UnsupportedAlgorithm), "{err:?}");
            let err = refuse(&jwks_and_secret, &token).await;
            assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
        }
    }
}

#[tokio::test]
async fn refuses_tampered_payload() {
    let auth = hs_auth();
    let token = sign_hs(&user_claims(), SECRET);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(user_claims(), "role", json!("service_role"));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    let err = refuse(&auth, &tampered).await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
    // Tampered signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[0] ^= 1;
    let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    let err = refuse(&auth, &tampered).await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
}

#[tokio::test]
async fn refuses_garbage() {
    let auth = hs_auth();
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    let cases = [
        String::new(),
        "   ".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "abc".to_owned(),
        "a.b".to_owned(),
        "a.b.c".to_owned(),
        "a.b.c.d".to_owned(),
        "..".to_owned(),
        "ey.ey.ey".to_owned(),
        "é.é.é".to_owned(),
        "\u{0}.\u{0}.\u{0}".to_owned(),
        long,
        format!("{header}.e30.AAAA.AAAA"),
        format!("{header}.!!!.AAAA"),
        format!("{header}.e30."),
        format!("{}.e30.AAAA", b64(b"[1,2]")),
        format!("{}.e30.AAAA", b64(b"not json")),
        format!("{}.e30.AAAA", b64(br#"{"alg":"HS256","kid":7}"#)),
        format!("{}.e30.AAAA", b64(br#"{"alg":"HS256","crit":["exp"]}"#)),
    ];
    for token in &cases {
        let err = refuse(&auth, token).await;
        assert!(matches!(err, AuthError::Malformed), "{token:?}: {err:?}");
        assert_eq!(err.to_string(), "malformed token");
    }
    // Correctly signed, but the payload is not a JSON object.
    for payload in [b64(b"not json"), b64(b"[1,2]"), b64(b"\"x\"")] {
        let message = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(SECRET),
            Algorithm::HS256,
        )
        .unwrap();
        let err = refuse(&auth, &format!("{message}.{signature}")).await;
        assert!(matches!(err, AuthError::Malformed), "{payload}: {err:?}");
    }
    // Valid shape, garbage signature bytes.
    let token = sign_hs(&user_claims(), SECRET);
    let (head, _) = token.rsplit_once('.').unwrap();
    let err = refuse(&auth, &format!("{head}.AAAA")).await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
}

#[tokio::test]
async fn refuses_bad_subject() {
    let auth = hs_auth();
    for sub in [
        json!("not-a-uuid"),
        json!("7c9e667974254 0de944be07fc1f90ae7"),
        json!("7c9e6679742540de944be07fc1f90ae7"),
        json!("{7c9e6679-7425-40de-944b-e07fc1f90ae7}"),
        json!("00000000-0000-0000-0000-000000000000"),
        json!(42),
        json!(null),
    ] {
        let claims = with(user_claims(), "sub", sub.clone());
        let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
        assert!(
            matches!(err, AuthError::InvalidSubject),
            "sub {sub}: {err:?}"
        );
    }
    let err = refuse(&auth, &sign_hs(&without(user_claims(), "sub"), SECRET)).await;
    assert!(matches!(err, AuthError::InvalidSubject), "{err:?}");
}

#[tokio::test]
async fn refuses_unknown_or_missing_role() {
    let auth = hs_auth();
    for role in [
        json!("admin"),
        json!("supabase_admin"),
        json!(""),
        json!(["anon"]),
    ] {
        let claims = with(user_claims(), "role", role.clone());
        let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
        assert!(
            matches!(err, AuthError::UnknownRole),
            "role {role}: {err:?}"
        );
        assert_eq!(err.to_string(), "unknown role");
    }
    let err = refuse(&auth, &sign_hs(&without(user_claims(), "role"), SECRET)).await;
    assert!(matches!(err, AuthError::MissingRole), "{err:?}");
    assert_eq!(err.to_string(), "missing role");
}

#[tokio::test]
async fn refuses_bad_exp() {
    let auth = hs_auth();
    let exp_string = with(user_claims(), "exp", json!((now() + 600).to_string()));
    let err = refuse(&auth, &sign_hs(&exp_string, SECRET)).await;
    assert!(matches!(err, AuthError::InvalidClaim("exp")), "{err:?}");
    for exp in [json!(-5), json!(true), json!(null)] {
        let claims = with(user_claims(), "exp", exp.clone());
        let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
        assert!(
            matches!(err, AuthError::InvalidClaim("exp")),
            "exp {exp}: {err:?}"
        );
    }
    let err = refuse(&auth, &sign_hs(&without(user_claims(), "exp"), SECRET)).await;
    assert!(matches!(err, AuthError::MissingClaim("exp")), "{err:?}");
    let err = refuse(&auth, &sign_hs(&without(anon_key(), "exp"), SECRET)).await;
    assert!(matches!(err, AuthError::MissingClaim("exp")), "{err:?}");
}

#[tokio::test]
async fn refuses_badly_typed_email_or_is_anonymous() {
    let auth = hs_auth();
    let claims = with(user_claims(), "email", json!(["a@example.com"]));
    let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
    assert!(matches!(err, AuthError::InvalidClaim("email")), "{err:?}");
    let claims = with(user_claims(), "is_anonymous", json!("false"));
    let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
    assert!(
        matches!(err, AuthError::InvalidClaim("is_anonymous")),
        "{err:?}"
    );
}

#[tokio::test]
async fn checks_issuer_when_configured() {
    let auth = Authenticator::new(AuthConfig {
        issuers: vec!["https://example.supabase.co/auth/v1".to_owned()],
        ..config()
    })
    .unwrap();
    let good = with(
        user_claims(),
        "iss",
        json!("https://example.supabase.co/auth/v1"),
    );
    assert!(matches!(
        auth.viewer_from_token(&sign_hs(&good, SECRET)).await,
        Ok(Viewer::User(_))
    ));
    for claims in [
        with(user_claims(), "iss", json!("https://evil.example/auth/v1")),
        with(
            user_claims(),
            "iss",
            json!(["https://example.supabase.co/auth/v1"]),
        ),
        without(user_claims(), "iss"),
    ] {
        let err = refuse(&auth, &sign_hs(&claims, SECRET)).await;
        assert!(matches!(err, AuthError::InvalidIssuer), "{claims}: {err:?}");
    }
}

// ---- minting and configuration ------------------------------------------------------

#[tokio::test]
async fn minted_tokens_round_trip() {
    let auth = hs_auth();
    let id = Uuid::parse_str(USER_ID).unwrap();
    let token = mint_token(
        SECRET,
        &MintClaims {
            sub: Some(id),
            role: "authenticated".to_owned(),
            email: Some("ada@example.com".to_owned()),
            ttl_secs: 3600,
            audience: Some("authenticated".to_owned()),
            issuer: None,
        },
    )
    .unwrap();
    let user = expect_user(auth.viewer_from_token(&token).await.unwrap());
    assert_eq!(
        user,
        UserClaims {
            id,
            email: Some("ada@example.com".to_owned()),
            is_anonymous: false
        }
    );
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    let exp = claims["exp"].as_u64().unwrap();
    assert!((now() + 3590..=now() + 3600).contains(&exp), "exp {exp}");

    let service = MintClaims {
        sub: None,
        role: "service_role".to_owned(),
        email: None,
        ttl_secs: 60,
        audience: None,
        issuer: None,
    };
    let token = mint_token(SECRET, &service).unwrap();
    assert_eq!(
        auth.viewer_from_token(&token).await.unwrap(),
        Viewer::Service
    );

    let mint_err = |claims: &MintClaims, secret: &[u8]| match mint_token(secret, claims) {
        Err(AuthError::Mint(why)) => why,
        other => panic!("expected a mint error, got {other:?}"),
    };
    assert_eq!(
        mint_err(&service, b"short"),
        "the HS256 secret must be at least 32 bytes"
    );
    let user_without_sub = MintClaims {
        role: "authenticated".to_owned(),
        ..service.clone()
    };
    assert_eq!(
        mint_err(&user_without_sub, SECRET),
        "an authenticated token needs a user id"
    );
    let admin = MintClaims {
        role: "admin".to_owned(),
        ..service.clone()
    };
    assert_eq!(mint_err(&admin, SECRET), "unknown role");
    let forever = MintClaims {
        ttl_secs: u64::MAX,
        ..service.clone()
    };
    assert_eq!(
        mint_err(&forever, SECRET),
        "the lifetime must be 1 second to 1 year"
    );
}

#[test]
fn refuses_bad_configuration() {
    let config_err = |cfg: AuthConfig| match Authenticator::new(cfg) {
        Err(AuthError::Config(why)) => why,
        Ok(_) => panic!("configuration accepted"),
        Err(other) => panic!("expected a configuration error, got {other:?}"),
    };
    assert!(config_err(AuthConfig::default()).starts_with("no token verification key"));
    let short = AuthConfig {
        hs256_secret: Some(b"secret".to_vec()),
        ..AuthConfig::default()
    };
    assert_eq!(
        config_err(short),
        "the HS256 secret must be at least 32 bytes"
    );
    let no_audience = AuthConfig {
        audience: String::new(),
        ..config()
    };
    assert_eq!(config_err(no_audience), "the audience must not be empty");
    let huge_leeway = AuthConfig {
        leeway_secs: u64::MAX,
        ..config()
    };
    assert!(config_err(huge_leeway).starts_with("the leeway must be at most"));
    let both = AuthConfig {
        jwks_url: Some("https://example.com/jwks.json".to_owned()),
        jwks_file: Some("/nonexistent/jwks.json".into()),
        ..config()
    };
    assert_eq!(config_err(both), "set a JWKS URL or a JWKS file, not both");
    let plain_http = AuthConfig {
        jwks_url: Some("http://example.com/jwks.json".to_owned()),
        ..AuthConfig::default()
    };
    assert!(config_err(plain_http).starts_with("JWKS URL must use https"));
    let not_url = AuthConfig {
        jwks_url: Some("not a url".to_owned()),
        ..AuthConfig::default()
    };
    assert_eq!(config_err(not_url), "JWKS URL is not a valid URL");
    let missing = AuthConfig {
        jwks_file: Some("/nonexistent/jwks.json".into()),
        ..AuthConfig::default()
    };
    assert!(config_err(missing).contains("cannot read"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "not json").unwrap();
    let unparsable = AuthConfig {
        jwks_file: Some(file.path().to_path_buf()),
        ..AuthConfig::default()
    };
    assert!(config_err(unparsable).ends_with("not a JSON Web Key Set"));
    // Keys the gateway may not use: wrong declared alg, encryption use, symmetric, P-384.
    let mut declared_hs = ec_jwk(Some("a"), &ec_key(1));
    declared_hs["alg"] = json!("HS256");
    let mut for_encryption = ec_jwk(Some("b"), &ec_key(2));
    for_encryption["use"] = json!("enc");
    let unusable = jwks_file(&[
        declared_hs,
        for_encryption,
        json!({"kty": "oct", "k": b64(SECRET), "kid": "c"}),
        json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])}),
        json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])}),
        json!({"kty": "RSA", "n": b64(&[0xff; 128]), "e": "AQAB"}),
    ]);
    let unusable = AuthConfig {
        jwks_file: Some(unusable.path().to_path_buf()),
        ..AuthConfig::default()
    };
    assert!(config_err(unusable).ends_with("no ES256 (P-256) or RS256 key in the set"));
}

#[test]
fn debug_output_hides_the_secret() {
    let shown = format!("{:?}", config());
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("super-secret"), "{shown}");
    let shown = format!("{:?}", hs_auth());
    assert!(!shown.contains("super-secret"), "{shown}");
}

// ---- JWKS -------------------------------------------------------------------------

#[tokio::test]
async fn jwks_file_verifies_es256_and_rs256() {
    let ec = ec_key(1);
    let rsa_key = &*RSA_KEY;
    let file = jwks_file(&[ec_jwk(Some("ec1"), &ec), rsa_jwk("rsa1", rsa_key)]);
    let auth = jwks_file_auth(&file, None);

    let user = expect_user(
        auth.viewer_from_token(&sign_es(&user_claims(), Some("ec1"), &ec))
            .await
            .unwrap(),
    );
    assert_eq!(user.id.to_string(), USER_ID);
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    let viewer = auth
        .viewer_from_token(&sign_rs(&service_key(), "rsa1", rsa_key))
        .await
        .unwrap();
    assert_eq!(viewer, Viewer::Service);
    // No kid, exactly one EC key in the set: used.
    let viewer = auth
        .viewer_from_token(&sign_es(&anon_key(), None, &ec))
        .await
        .unwrap();
    assert_eq!(viewer, Viewer::Anonymous);

    // Signed by another EC key under a known kid.
    let err = refuse(&auth, &sign_es(&user_claims(), Some("ec1"), &ec_key(9))).await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
    // RS256 header naming the EC key: the key decides, not the header.
    let err = refuse(&auth, &sign_rs(&user_claims(), "ec1", rsa_key)).await;
    assert!(matches!(err, AuthError::KeyMismatch), "{err:?}");
    // Claims are checked as for HS256.
    let expired = with(user_claims(), "exp", json!(now() - 120));
    let err = refuse(&auth, &sign_es(&expired, Some("ec1"), &ec)).await;
    assert!(matches!(err, AuthError::Expired), "{err:?}");
    let err = refuse(
        &auth,
        &sign_es(&without(user_claims(), "aud"), Some("ec1"), &ec),
    )
    .await;
    assert!(matches!(err, AuthError::MissingAudience), "{err:?}");
    // Tampered payload.
    let token = sign_es(&user_claims(), Some("ec1"), &ec);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(
        user_claims(),
        "sub",
        json!("11111111-2222-4333-8444-555555555555"),
    );
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    let err = refuse(&auth, &tampered).await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
}

#[tokio::test]
async fn jwks_file_is_reread_on_unknown_kid() {
    let (old, new) = (ec_key(1), ec_key(2));
    let file = jwks_file(&[ec_jwk(Some("old"), &old)]);
    let auth = jwks_file_auth(&file, None);
    let token = sign_es(&user_claims(), Some("new"), &new);
    let err = refuse(&auth, &token).await;
    assert!(matches!(err, AuthError::UnknownKey), "{err:?}");
    assert_eq!(err.to_string(), "unknown signing key");

    std::fs::write(
        file.path(),
        json!({"keys": [ec_jwk(Some("old"), &old), ec_jwk(Some("new"), &new)]}).to_string(),
    )
    .unwrap();
    let user = expect_user(auth.viewer_from_token(&token).await.unwrap());
    assert_eq!(user.id.to_string(), USER_ID);
}

#[tokio::test]
async fn jwks_url_caches_refetches_and_rate_limits() {
    let (first, second) = (ec_key(1), ec_key(2));
    let server = JwksServer::start(&[ec_jwk(Some("k1"), &first)]).await;
    let auth = server.auth();
    assert_eq!(server.fetches(), 0, "fetched lazily");

    let token = sign_es(&user_claims(), Some("k1"), &first);
    let user = expect_user(auth.viewer_from_token(&token).await.unwrap());
    assert_eq!(user.id.to_string(), USER_ID);
    assert_eq!(server.fetches(), 1);

    let viewer = auth
        .viewer_from_token(&sign_es(&service_key(), Some("k1"), &first))
        .await
        .unwrap();
    assert_eq!(viewer, Viewer::Service);
    assert_eq!(server.fetches(), 1, "second token served from the cache");

    // Rotation: the set now holds k2 only; a k2 token triggers one fetch.
    server.serve(&[ec_jwk(Some("k2"), &second)]);
    let token = sign_es(&user_claims(), Some("k2"), &second);
    let user = expect_user(auth.viewer_from_token(&token).await.unwrap());
    assert_eq!(user.id.to_string(), USER_ID);
    assert_eq!(server.fetches(), 2);
    let viewer = auth
        .viewer_from_token(&sign_es(&anon_key(), Some("k2"), &second))
        .await
        .unwrap();
    assert_eq!(viewer, Viewer::Anonymous);
    assert_eq!(server.fetches(), 2);

    // Random unknown kids: refetches stop once the bucket is empty.
    let refused_before = crate::metrics::rate_limited(crate::metrics::RateLimitReason::JwksRefetch);
    for i in 0..25 {
        let kid = format!("random-{i}");
        let err = refuse(&auth, &sign_es(&user_claims(), Some(&kid), &second)).await;
        assert!(matches!(err, AuthError::UnknownKey), "{err:?}");
    }
    // Burst of 5: the first load, the rotation, then 3 of the 25 (one more if the test
    // took longer than the refill interval).
    let fetches = server.fetches();
    let burst = jwks::REFRESH_BURST as usize;
    assert!(
        (burst..=burst + 1).contains(&fetches),
        "{fetches} fetches for 25 unknown kids"
    );
    // Each skipped reload is counted (no other unit test empties a bucket).
    assert_eq!(
        crate::metrics::rate_limited(crate::metrics::RateLimitReason::JwksRefetch) - refused_before,
        (25 - (fetches - 2)) as u64
    );
    // Known keys still verify from the cache, with no fetch.
    let user = expect_user(auth.viewer_from_token(&token).await.unwrap());
    assert_eq!(user.id.to_string(), USER_ID);
    assert_eq!(server.fetches(), fetches);
}

#[tokio::test]
async fn jwks_url_cache_lasts_at_most_ten_minutes() {
    let key = ec_key(1);
    let server = JwksServer::start(&[ec_jwk(Some("k1"), &key)]).await;
    let auth = server.auth();
    let token = sign_es(&user_claims(), Some("k1"), &key);
    assert!(matches!(
        auth.viewer_from_token(&token).await,
        Ok(Viewer::User(_))
    ));
    assert_eq!(server.fetches(), 1);

    let jwks = auth.inner.jwks.as_ref().unwrap();
    jwks.age_cache(jwks::CACHE_TTL - std::time::Duration::from_secs(5));
    assert!(matches!(
        auth.viewer_from_token(&token).await,
        Ok(Viewer::User(_))
    ));
    assert_eq!(server.fetches(), 1, "still fresh");

    jwks.age_cache(std::time::Duration::from_secs(10));
    assert!(matches!(
        auth.viewer_from_token(&token).await,
        Ok(Viewer::User(_))
    ));
    assert_eq!(server.fetches(), 2, "expired set fetched again");

    // An expired set is not used when the host stops answering properly.
    server.body.lock().unwrap().replace_range(.., "oops");
    jwks.age_cache(jwks::CACHE_TTL);
    let err = refuse(&auth, &token).await;
    assert!(matches!(err, AuthError::KeysUnavailable), "{err:?}");
    assert_eq!(err.to_string(), "signing keys unavailable");
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn jwks_url_verifies_rs256() {
    let rsa_key = &*RSA_KEY;
    let server = JwksServer::start(&[rsa_jwk("r1", rsa_key)]).await;
    let auth = server.auth();
    let user = expect_user(
        auth.viewer_from_token(&sign_rs(&user_claims(), "r1", rsa_key))
            .await
            .unwrap(),
    );
    assert_eq!(user.id.to_string(), USER_ID);
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    // ES256 header naming the RSA key.
    let err = refuse(&auth, &sign_es(&user_claims(), Some("r1"), &ec_key(1))).await;
    assert!(matches!(err, AuthError::KeyMismatch), "{err:?}");
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn jwks_url_unreachable_is_keys_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let auth = Authenticator::new(AuthConfig {
        jwks_url: Some(format!("http://{addr}/jwks.json")),
        ..AuthConfig::default()
    })
    .unwrap();
    let err = refuse(&auth, &sign_es(&user_claims(), Some("k1"), &ec_key(1))).await;
    assert!(matches!(err, AuthError::KeysUnavailable), "{err:?}");
    assert!(err.is_server_error());
}

// ---- a Supabase project's tokens and keys ---------------------------------------------

const PROJECT_ISSUER: &str = "https://abcdefghijklmnopqrst.supabase.co/auth/v1";
const PUBLISHABLE_KEY: &str = "sb_publishable_Xc0hVq3pYtQfK2mN8rLw1A_9dZs7kE4";
const SECRET_KEY: &str = "sb_secret_Ng7TbQ2vXk9RmC4pLs8yWd_1hJf6uZ3aE0";

/// A user's access token exactly as Supabase Auth issues it (asymmetric signing keys).
fn supabase_user_claims() -> Value {
    json!({
        "iss": PROJECT_ISSUER,
        "sub": USER_ID,
        "aud": "authenticated",
        "exp": now() + 3600,
        "iat": now(),
        "email": "ada@example.com",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"email_verified": true},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now()}],
        "session_id": "3f4a1c2e-8b7d-4e6f-9a0b-1c2d3e4f5a6b",
        "is_anonymous": false
    })
}

/// The project's legacy anon and service_role keys: HS256, `iss: supabase`, no aud/sub.
fn supabase_project_key(role: &str) -> Value {
    json!({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": role, "iat": now(), "exp": now() + 3600})
}

fn supabase_auth(file: &tempfile::NamedTempFile, issuers: &[&str]) -> Authenticator {
    Authenticator::new(AuthConfig {
        hs256_secret: Some(SECRET.to_vec()),
        jwks_file: Some(file.path().to_path_buf()),
        issuers: issuers.iter().map(|i| (*i).to_owned()).collect(),
        anon_keys: vec![PUBLISHABLE_KEY.to_owned()],
        service_keys: vec![SECRET_KEY.to_owned()],
        ..AuthConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn supabase_user_tokens_and_project_keys_pass_with_both_issuers() {
    let ec = ec_key(3);
    let kid = "b7c1e0a4-5f2d-4c8e-9a1b-2d3e4f5a6b7c";
    let file = jwks_file(&[ec_jwk(Some(kid), &ec)]);
    let auth = supabase_auth(&file, &[PROJECT_ISSUER, "supabase"]);

    let user = expect_user(
        auth.viewer_from_token(&sign_es(&supabase_user_claims(), Some(kid), &ec))
            .await
            .unwrap(),
    );
    assert_eq!(
        user,
        UserClaims {
            id: Uuid::parse_str(USER_ID).unwrap(),
            email: Some("ada@example.com".to_owned()),
            is_anonymous: false,
        }
    );
    let anonymous = with(supabase_user_claims(), "is_anonymous", json!(true));
    let anonymous = with(anonymous, "email", json!(""));
    let user = expect_user(
        auth.viewer_from_token(&sign_es(&anonymous, Some(kid), &ec))
            .await
            .unwrap(),
    );
    assert!(user.is_anonymous && user.email.is_none());
    let anon = sign_hs(&supabase_project_key("anon"), SECRET);
    assert_eq!(
        auth.viewer_from_token(&anon).await.unwrap(),
        Viewer::Anonymous
    );
    let service = sign_hs(&supabase_project_key("service_role"), SECRET);
    assert_eq!(
        auth.viewer_from_token(&service).await.unwrap(),
        Viewer::Service
    );
    // The anon key as supabase-js sends it alone: in the `apikey` header.
    let mut headers = http::HeaderMap::new();
    headers.insert("apikey", http::HeaderValue::from_str(&anon).unwrap());
    assert_eq!(
        auth.viewer_from_headers(&headers).await.unwrap(),
        Viewer::Anonymous
    );

    // Another project's tokens are still refused.
    let other = with(
        supabase_user_claims(),
        "iss",
        json!("https://zyxwvutsrqponmlkjihg.supabase.co/auth/v1"),
    );
    let err = refuse(&auth, &sign_es(&other, Some(kid), &ec)).await;
    assert!(matches!(err, AuthError::InvalidIssuer), "{err:?}");
    // A key signed by someone else under the project's kid.
    let err = refuse(
        &auth,
        &sign_es(&supabase_user_claims(), Some(kid), &ec_key(4)),
    )
    .await;
    assert!(matches!(err, AuthError::InvalidSignature), "{err:?}");
}

#[tokio::test]
async fn with_only_the_user_issuer_the_anon_key_is_refused() {
    // What was seen before several issuers were accepted: one issuer, the project keys'
    // `iss: supabase` refused.
    let file = jwks_file(&[ec_jwk(Some("k"), &ec_key(3))]);
    let auth = supabase_auth(&file, &[PROJECT_ISSUER]);
    let anon = sign_hs(&supabase_project_key("anon"), SECRET);
    let err = refuse(&auth, &anon).await;
    assert!(matches!(err, AuthError::InvalidIssuer), "{err:?}");
}

#[tokio::test]
async fn opaque_api_keys_mean_anonymous_and_service() {
    let file = jwks_file(&[ec_jwk(Some("k"), &ec_key(3))]);
    let auth = supabase_auth(&file, &[PROJECT_ISSUER, "supabase"]);
    let header = |v: &str| http::HeaderValue::from_str(v).unwrap();
    for (key, expected) in [
        (PUBLISHABLE_KEY, Viewer::Anonymous),
        (SECRET_KEY, Viewer::Service),
    ] {
        assert_eq!(auth.viewer_from_token(key).await.unwrap(), expected);
        let (viewer, exp) = auth.viewer_and_expiry_from_token(key).await.unwrap();
        assert_eq!(
            (viewer, exp),
            (expected.clone(), None),
            "opaque keys do not expire"
        );
        let mut headers = http::HeaderMap::new();
        headers.insert("apikey", header(key));
        assert_eq!(auth.viewer_from_headers(&headers).await.unwrap(), expected);
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", header(&format!("Bearer {key}")));
        assert_eq!(auth.viewer_from_headers(&headers).await.unwrap(), expected);
    }
    let almost = &SECRET_KEY[..SECRET_KEY.len() - 1];
    for forged in [
        "sb_secret_Ng7TbQ2vXk9RmC4pLs8yWd_1hJf6uZ3aE1",
        almost,
        "sb_secret_",
        &format!("{SECRET_KEY}0"),
        "sb_publishable_somebody-elses-project-key-000",
        "no-dots-and-not-a-key",
    ] {
        let err = refuse(&auth, forged).await;
        assert!(matches!(err, AuthError::UnknownApiKey), "{forged}: {err:?}");
        assert_eq!(err.to_string(), "unknown API key");
    }
    // Without configured keys, a dotless token is malformed, an sb_ one unknown.
    let plain = hs_auth();
    assert!(matches!(
        refuse(&plain, "no-dots-at-all").await,
        AuthError::Malformed
    ));
    assert!(matches!(
        refuse(&plain, PUBLISHABLE_KEY).await,
        AuthError::UnknownApiKey
    ));
}

#[test]
fn opaque_api_keys_are_checked_at_start() {
    let with_keys = |anon: &[&str], service: &[&str]| {
        Authenticator::new(AuthConfig {
            anon_keys: anon.iter().map(|k| (*k).to_owned()).collect(),
            service_keys: service.iter().map(|k| (*k).to_owned()).collect(),
            ..config()
        })
    };
    assert!(with_keys(&[PUBLISHABLE_KEY], &[SECRET_KEY]).is_ok());
    for (anon, service, why) in [
        (&["sb_publishable_short"][..], &[][..], "must be 24 to"),
        (
            &["eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJl"],
            &[],
            "not an opaque key",
        ),
        (
            &["sb_publishable_with a space_0123456789"],
            &[],
            "not an opaque key",
        ),
        (&[SECRET_KEY], &[SECRET_KEY], "configured twice"),
    ] {
        let err = with_keys(anon, service).expect_err(why);
        assert!(err.to_string().contains(why), "{err}");
        assert!(
            !err.to_string().contains(&SECRET_KEY[12..]),
            "the key is not printed whole"
        );
    }
    let debug = format!(
        "{:?}",
        AuthConfig {
            service_keys: vec![SECRET_KEY.to_owned()],
            ..config()
        }
    );
    assert!(!debug.contains(SECRET_KEY), "{debug}");
}
