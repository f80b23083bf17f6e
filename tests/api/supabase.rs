//! A Supabase project's credentials over HTTP: a user's ES256 access token (by `kid` from
//! the project's JWKS), the legacy anon and service_role keys (`iss: supabase`, HS256), and
//! the opaque publishable and secret keys, sent as supabase-js sends them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestApp, SECRET};

const ISSUER: &str = "https://abcdefghijklmnopqrst.supabase.co/auth/v1";
const KID: &str = "5d3e0c1b-7a2f-4e9d-8c6b-1a2b3c4d5e6f";
const PUBLISHABLE_KEY: &str = "sb_publishable_Xc0hVq3pYtQfK2mN8rLw1A_9dZs7kE4";
const SECRET_KEY: &str = "sb_secret_Ng7TbQ2vXk9RmC4pLs8yWd_1hJf6uZ3aE0";

const WHO: &str = "{ viewer { id email } }";
const WAITLIST: &str = "{ waitlistEntries(first: 1) { totalCount } }";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn signing_key() -> p256::SecretKey {
    p256::SecretKey::from_slice(&[7; 32]).unwrap()
}

/// The project's JWKS, as `https://<ref>.supabase.co/auth/v1/.well-known/jwks.json` serves it.
fn jwks() -> Value {
    let point = signing_key().public_key().to_encoded_point(false);
    json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KID,
        "key_ops": ["verify"], "ext": true,
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    }]})
}

/// A user's access token, claim for claim as Supabase Auth issues it.
fn access_token(user: Uuid, email: &str) -> String {
    let claims = json!({
        "iss": ISSUER, "sub": user, "aud": "authenticated",
        "exp": now() + 3600, "iat": now(),
        "email": email, "phone": "",
        "app_metadata": { "provider": "email", "providers": ["email"] },
        "user_metadata": { "email_verified": true },
        "role": "authenticated", "aal": "aal1",
        "amr": [{ "method": "password", "timestamp": now() }],
        "session_id": Uuid::new_v4(), "is_anonymous": false,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.to_owned());
    let der = signing_key().to_pkcs8_der().unwrap();
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(der.as_bytes())).unwrap()
}

/// The legacy anon or service_role key, signed with the project's JWT secret.
fn legacy_key(role: &str) -> String {
    let claims = json!({
        "iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": role,
        "iat": now(), "exp": now() + 3600,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn project_gateway(jwks_dir: &tempfile::TempDir) -> TestApp {
    let file = jwks_dir.path().join("jwks.json");
    std::fs::write(&file, jwks().to_string()).unwrap();
    harness::sqlite_with(|s| {
        s.jwks_file = Some(file);
        s.jwt_issuer = vec![ISSUER.to_owned(), "supabase".to_owned()];
        s.anon_key = vec![PUBLISHABLE_KEY.to_owned()];
        s.service_key = vec![SECRET_KEY.to_owned()];
    })
    .await
}

/// A request with these headers; the status and the body.
async fn send(app: &TestApp, headers: &[(&str, &str)], query: &str) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.url))
        .json(&json!({ "query": query }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn supabase_js_requests_pass_with_a_projects_keys() {
    let dir = tempfile::tempdir().unwrap();
    let app = project_gateway(&dir).await;
    let anon = legacy_key("anon");
    let user = Uuid::new_v4();
    let bearer = format!("Bearer {}", access_token(user, "ada@example.com"));

    // Signed in: the session's access token, with the anon key beside it as `apikey`.
    let (status, body) = send(&app, &[("apikey", &anon), ("authorization", &bearer)], WHO).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "data": { "viewer": { "id": user, "email": "ada@example.com" } } })
    );

    // Signed out: the anon key alone, legacy or publishable, in `apikey` or as a bearer.
    let publishable_bearer = format!("Bearer {PUBLISHABLE_KEY}");
    for headers in [
        [("apikey", anon.as_str())],
        [("apikey", PUBLISHABLE_KEY)],
        [("authorization", publishable_bearer.as_str())],
    ] {
        let (status, body) = send(&app, &headers, WHO).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
        assert_eq!(body, json!({ "data": { "viewer": null } }), "{headers:?}");
        let (_, body) = send(&app, &headers, WAITLIST).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{headers:?}"
        );
    }

    // A backend with the service key, legacy or secret.
    let service = legacy_key("service_role");
    for key in [service.as_str(), SECRET_KEY] {
        let (status, body) = send(&app, &[("apikey", key)], WAITLIST).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({ "data": { "waitlistEntries": { "totalCount": 0 } } })
        );
    }
}

#[tokio::test]
async fn forged_and_foreign_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = project_gateway(&dir).await;
    let forged_secret = "sb_secret_Ng7TbQ2vXk9RmC4pLs8yWd_1hJf6uZ3aE9";
    let forged_bearer = format!("Bearer {forged_secret}");
    for (headers, message) in [
        (vec![("apikey", forged_secret)], "unknown API key"),
        (
            vec![("authorization", forged_bearer.as_str())],
            "unknown API key",
        ),
        (vec![("apikey", "sb_secret_")], "unknown API key"),
    ] {
        let (status, body) = send(&app, &headers, WAITLIST).await;
        assert_eq!(status, 401, "{headers:?}");
        assert_eq!(
            body,
            json!({ "errors": [{ "message": message, "extensions": { "code": "UNAUTHENTICATED" } }] })
        );
    }
    // Another project's anon key (its own issuer) is refused, not anonymous.
    let claims = json!({
        "iss": "https://zyxwvutsrqponmlkjihg.supabase.co/auth/v1", "role": "anon",
        "exp": now() + 3600,
    });
    let foreign = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = send(&app, &[("apikey", &foreign)], WHO).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["message"], "invalid token issuer");
}

#[tokio::test]
async fn opaque_keys_open_websockets_and_forged_ones_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let app = project_gateway(&dir).await;
    // `connect` checks the connection_ack.
    crate::ws::connect(
        &app.url,
        json!({ "apikey": "ignored", "authToken": SECRET_KEY }),
    )
    .await;
    crate::ws::connect_as(&app.url, PUBLISHABLE_KEY).await;
    let mut refused = crate::ws::open(&app.url, crate::ws::TRANSPORT_WS, None).await;
    refused
        .init(json!({ "authToken": "sb_secret_not-the-projects-key-0" }))
        .await;
    assert_eq!(refused.closed().await.code, 4403);
}
