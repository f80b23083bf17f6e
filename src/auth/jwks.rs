//! The asymmetric verification keys (ES256 and RS256) from a JSON Web Key Set, read from a
//! file or fetched from a URL.
//!
//! The set is cached for at most [`CACHE_TTL`]. A token whose `kid` is not in the cached set
//! makes the set load again, but every load after the first goes through a small token bucket
//! ([`REFRESH_BURST`] loads, then one more every [`REFRESH_INTERVAL`]), so tokens with random
//! key ids cannot hammer the JWKS host. Only keys usable for ES256 (EC P-256) or RS256
//! (RSA 2048–4096 bits) are kept; symmetric (`oct`) keys in a set are ignored: HS256 is only
//! ever verified with the configured secret.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::AuthError;

/// How long a loaded key set may be used.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(600);
/// How many loads may happen back to back.
pub(crate) const REFRESH_BURST: u32 = 5;
/// One more load is allowed per this interval once the burst is spent.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(10);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_JWKS_BYTES: usize = 256 * 1024;
const MAX_KEYS: usize = 100;

/// One key of the set, with the only algorithm it may verify.
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    key: Arc<DecodingKey>,
}

struct KeySet {
    keys: Vec<VerifyingKey>,
    loaded_at: Instant,
    generation: u64,
}

enum Source {
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
    },
    File(PathBuf),
}

/// A simple token bucket: `REFRESH_BURST` tokens, refilled at one per `REFRESH_INTERVAL`.
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn full() -> Self {
        TokenBucket {
            tokens: f64::from(REFRESH_BURST),
            last: Instant::now(),
        }
    }

    fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens =
            (self.tokens + elapsed / REFRESH_INTERVAL.as_secs_f64()).min(f64::from(REFRESH_BURST));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

enum Selection {
    Found(Arc<DecodingKey>),
    /// The kid is in the set, but not for the token's algorithm.
    Mismatch,
    /// No kid in the token and several keys could match.
    Ambiguous,
    Missing,
}

pub(crate) struct Jwks {
    source: Source,
    cache: RwLock<Option<Arc<KeySet>>>,
    /// Held while loading, so concurrent misses cause one load, not many.
    loading: tokio::sync::Mutex<()>,
    bucket: Mutex<TokenBucket>,
}

impl Jwks {
    /// A set read from a file, now (the error says why it could not be used).
    pub(crate) fn from_file(path: &Path) -> Result<Self, AuthError> {
        let bytes = read_file_limited(path)
            .map_err(|why| AuthError::Config(format!("JWKS file {}: {why}", path.display())))?;
        let keys = parse_key_set(&bytes)
            .map_err(|why| AuthError::Config(format!("JWKS file {}: {why}", path.display())))?;
        if keys.is_empty() {
            return Err(AuthError::Config(format!(
                "JWKS file {}: no ES256 (P-256) or RS256 key in the set",
                path.display()
            )));
        }
        Ok(Jwks {
            source: Source::File(path.to_path_buf()),
            cache: RwLock::new(Some(Arc::new(KeySet {
                keys,
                loaded_at: Instant::now(),
                generation: 1,
            }))),
            loading: tokio::sync::Mutex::new(()),
            bucket: Mutex::new(TokenBucket::full()),
        })
    }

    /// A set fetched from `url` when first needed. Plain `http` is allowed for loopback only.
    pub(crate) fn from_url(url: &str) -> Result<Self, AuthError> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| AuthError::Config("JWKS URL is not a valid URL".to_owned()))?;
        let loopback = url.host_str().is_some_and(|host| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(AuthError::Config(
                    "JWKS URL must use https (http is allowed for loopback only)".to_owned(),
                ))
            }
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| AuthError::Config("cannot build the JWKS HTTP client".to_owned()))?;
        Ok(Jwks {
            source: Source::Url { url, client },
            cache: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
            bucket: Mutex::new(TokenBucket::full()),
        })
    }

    /// The key that verifies a token with this header `alg` and `kid`.
    pub(crate) async fn key_for(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<DecodingKey>, AuthError> {
        let seen = self.fresh_set();
        if let Some(set) = &seen {
            match select(set, alg, kid) {
                Selection::Missing => {}
                other => return selection_result(other),
            }
        }
        let seen_generation = seen.map(|set| set.generation);

        let _loading = self.loading.lock().await;
        // Another request may have loaded the set while this one waited: use that load.
        if let Some(set) = self.fresh_set() {
            if Some(set.generation) != seen_generation {
                return selection_result(select(&set, alg, kid));
            }
        }
        let have_fresh = seen_generation.is_some();
        if !self.take_token() {
            tracing::debug!("JWKS reload skipped: rate limit");
            crate::metrics::record_rate_limited(crate::metrics::RateLimitReason::JwksRefetch);
            return Err(if have_fresh {
                AuthError::UnknownKey
            } else {
                AuthError::KeysUnavailable
            });
        }
        match self.load().await {
            Ok(keys) => {
                let set = {
                    let mut cache = self
                        .cache
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let generation = cache.as_ref().map_or(0, |s| s.generation).wrapping_add(1);
                    let set = Arc::new(KeySet {
                        keys,
                        loaded_at: Instant::now(),
                        generation,
                    });
                    *cache = Some(Arc::clone(&set));
                    set
                };
                selection_result(select(&set, alg, kid))
            }
            Err(why) => {
                tracing::warn!("JWKS load failed: {why}");
                Err(if have_fresh {
                    AuthError::UnknownKey
                } else {
                    AuthError::KeysUnavailable
                })
            }
        }
    }

    /// Makes the cached set look `by` older (tests of the cache lifetime).
    #[cfg(test)]
    pub(crate) fn age_cache(&self, by: Duration) {
        let mut cache = self.cache.write().expect("test lock");
        if let Some(set) = cache.as_mut() {
            let loaded_at = set
                .loaded_at
                .checked_sub(by)
                .expect("uptime longer than `by`");
            *set = Arc::new(KeySet {
                keys: set.keys.clone(),
                loaded_at,
                generation: set.generation,
            });
        }
    }

    fn fresh_set(&self) -> Option<Arc<KeySet>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .as_ref()
            .filter(|set| set.loaded_at.elapsed() < CACHE_TTL)
            .cloned()
    }

    fn take_token(&self) -> bool {
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_take()
    }

    async fn load(&self) -> Result<Vec<VerifyingKey>, String> {
        let bytes = match &self.source {
            Source::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file_limited(&path))
                    .await
                    .map_err(|_| "file read task failed".to_owned())??
            }
            Source::Url { url, client } => fetch_limited(client, url).await?,
        };
        parse_key_set(&bytes)
    }
}

fn selection_result(selection: Selection) -> Result<Arc<DecodingKey>, AuthError> {
    match selection {
        Selection::Found(key) => Ok(key),
        Selection::Mismatch => Err(AuthError::KeyMismatch),
        Selection::Ambiguous | Selection::Missing => Err(AuthError::UnknownKey),
    }
}

fn select(set: &KeySet, alg: Algorithm, kid: Option<&str>) -> Selection {
    match kid {
        Some(kid) => {
            let mut same_kid = set
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .peekable();
            if same_kid.peek().is_none() {
                return Selection::Missing;
            }
            match same_kid.find(|k| k.alg == alg) {
                Some(k) => Selection::Found(Arc::clone(&k.key)),
                None => Selection::Mismatch,
            }
        }
        None => {
            let mut candidates = set.keys.iter().filter(|k| k.alg == alg);
            match (candidates.next(), candidates.next()) {
                (Some(k), None) => Selection::Found(Arc::clone(&k.key)),
                (None, _) => Selection::Missing,
                (Some(_), Some(_)) => Selection::Ambiguous,
            }
        }
    }
}

fn read_file_limited(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_JWKS_BYTES as u64 {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

async fn fetch_limited(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the body failed: {}", e.without_url()))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_JWKS_BYTES {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document. Keys of other types, curves, algorithms or uses are
/// skipped; a document that is not a key set is an error.
fn parse_key_set(bytes: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let raw: RawKeySet =
        serde_json::from_slice(bytes).map_err(|_| "not a JSON Web Key Set".to_owned())?;
    if raw.keys.len() > MAX_KEYS {
        return Err(format!("more than {MAX_KEYS} keys"));
    }
    Ok(raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| usable_key(&jwk))
        .collect())
}

fn usable_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    let (alg, key) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(params) => {
            if params.curve != EllipticCurve::P256
                || !matches!(declared, None | Some(KeyAlgorithm::ES256))
            {
                return None;
            }
            let key = DecodingKey::from_ec_components(&params.x, &params.y).ok()?;
            // Building a verifier checks that the point is on the curve; the signature
            // itself is a dummy and its result is irrelevant.
            jsonwebtoken::crypto::verify("AA", b"", &key, Algorithm::ES256).ok()?;
            (Algorithm::ES256, key)
        }
        AlgorithmParameters::RSA(params) => {
            if !matches!(declared, None | Some(KeyAlgorithm::RS256)) {
                return None;
            }
            let n = URL_SAFE_NO_PAD
                .decode(params.n.trim_end_matches('='))
                .ok()?;
            let e = URL_SAFE_NO_PAD
                .decode(params.e.trim_end_matches('='))
                .ok()?;
            if !rsa_components_acceptable(&n, &e) {
                return None;
            }
            (
                Algorithm::RS256,
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        _ => return None,
    };
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key: Arc::new(key),
    })
}

/// A modulus of 2048 to 4096 bits and an odd public exponent between 3 and 2^33 - 1.
fn rsa_components_acceptable(n: &[u8], e: &[u8]) -> bool {
    let bits = |bytes: &[u8]| -> usize {
        let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
            Some(first) => &bytes[first..],
            None => &[],
        };
        match trimmed.first() {
            Some(top) => trimmed.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        }
    };
    let n_bits = bits(n);
    if !(2048..=4096).contains(&n_bits) || bits(e) > 33 {
        return false;
    }
    let exponent = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    exponent >= 3 && exponent % 2 == 1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_one_per_interval() {
        let mut bucket = TokenBucket::full();
        for _ in 0..REFRESH_BURST {
            assert!(bucket.try_take());
        }
        assert!(!bucket.try_take());
        bucket.last = bucket.last.checked_sub(REFRESH_INTERVAL).unwrap();
        assert!(bucket.try_take());
        assert!(!bucket.try_take());
        // A long pause refills to the burst, not beyond.
        bucket.last = bucket.last.checked_sub(REFRESH_INTERVAL * 100).unwrap();
        for _ in 0..REFRESH_BURST {
            assert!(bucket.try_take());
        }
        assert!(!bucket.try_take());
    }

    #[test]
    fn rsa_key_size_and_exponent_are_checked() {
        let mut n2048 = vec![0xc5; 256];
        assert!(rsa_components_acceptable(&n2048, &[1, 0, 1]));
        assert!(rsa_components_acceptable(&n2048, &[0, 0, 3]));
        assert!(
            !rsa_components_acceptable(&n2048, &[1, 0, 0]),
            "even exponent"
        );
        assert!(!rsa_components_acceptable(&n2048, &[1]), "exponent 1");
        assert!(
            !rsa_components_acceptable(&n2048, &[1; 8]),
            "exponent too large"
        );
        assert!(!rsa_components_acceptable(&n2048, &[]));
        n2048[0] = 0x7f;
        assert!(!rsa_components_acceptable(&n2048, &[1, 0, 1]), "2047 bits");
        assert!(
            !rsa_components_acceptable(&[0xff; 513], &[1, 0, 1]),
            "4104 bits"
        );
        assert!(!rsa_components_acceptable(&[], &[1, 0, 1]));
    }
}
