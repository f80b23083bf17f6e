//! [files] The object store behind uploads: the buckets and their rules, streaming writes
//! with a size limit and content sniffing, signed download URLs, and the sweep's listing.
//!
//! One `object_store` store holds every bucket as a prefix (`{base}/{bucket}/{id}`): a
//! local directory by default (beside the SQLite file, so `cargo run` needs nothing), an
//! S3-compatible bucket in production (`--storage-url s3://...`). Object names are row ids;
//! which rows exist, and who may read them, is the database's business (`domain::files`,
//! `access`): this module knows nothing about viewers and writes no ownership predicate.
//!
//! Costs: a write holds at most one chunk in memory ([`CHUNK_BYTES`] locally, S3's
//! minimum part size on S3) plus the first [`SNIFF_BYTES`] for the type check; a download
//! streams the object (or redirects to a presigned S3 URL).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, GetResult, ObjectStore, PutMultipartOptions,
    WriteMultipart,
};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::{Settings, Switch};

/// Bytes of a file's start kept for the type check (magic bytes, UTF-8 text).
pub const SNIFF_BYTES: usize = 8 * 1024;
/// The part size of a local multipart write.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// S3's smallest part (all but the last).
const S3_CHUNK_BYTES: usize = 5 * 1024 * 1024;

/// Where a file is kept, with its own size limit and allowed types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Project files: private, read by whoever may read the project.
    ProjectFiles,
    /// Avatars: public.
    Avatars,
    /// Chat attachments (images, PDF, text): private, read by whoever may read the chat.
    Attachments,
    /// Voice recordings: private, as attachments.
    Audio,
}

impl Bucket {
    pub const ALL: [Bucket; 4] = [
        Bucket::ProjectFiles,
        Bucket::Avatars,
        Bucket::Attachments,
        Bucket::Audio,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Bucket::ProjectFiles => "project-files",
            Bucket::Avatars => "avatars",
            Bucket::Attachments => "attachments",
            Bucket::Audio => "audio",
        }
    }

    pub fn from_name(name: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether a plain URL, without a signature, downloads its files.
    pub const fn is_public(self) -> bool {
        matches!(self, Bucket::Avatars)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A bucket's limit and allowed types (`type/*` patterns).
#[derive(Debug, Clone)]
pub struct BucketRules {
    pub max_bytes: u64,
    pub types: Vec<String>,
}

impl BucketRules {
    /// Whether `mime` (without parameters) matches one of the patterns.
    pub fn allows(&self, mime: &str) -> bool {
        self.types.iter().any(|pattern| {
            let pattern = pattern.trim();
            match pattern.strip_suffix("/*") {
                Some(family) => mime
                    .split_once('/')
                    .is_some_and(|(f, _)| f.eq_ignore_ascii_case(family)),
                None => pattern.eq_ignore_ascii_case(mime),
            }
        })
    }
}

/// Limits of one multipart request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_files: usize,
    pub max_request_bytes: u64,
}

#[derive(Clone)]
pub struct Storage(Arc<Inner>);

#[derive(Clone)]
struct Inner {
    store: Arc<dyn ObjectStore>,
    /// The S3 store again, as a URL signer, when downloads redirect to S3.
    presigner: Option<Arc<AmazonS3>>,
    base: Path,
    chunk_bytes: usize,
    /// Whether the store keeps a type and disposition with an object (S3; the local
    /// filesystem does not, and needs none: the gateway serves its objects itself).
    keeps_attributes: bool,
    signing_key: Vec<u8>,
    url_ttl: Duration,
    rules: [BucketRules; 4],
    request: RequestLimits,
    quota: Option<u64>,
    sweep_interval: Duration,
    sweep_grace: Duration,
    description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("store", &self.0.description)
            .finish()
    }
}

/// Why a streamed write stopped.
#[derive(Debug)]
pub enum WriteError {
    /// Past the limit (bytes).
    TooLarge(u64),
    /// The request body failed (truncated, malformed).
    Body(String),
    /// The store failed.
    Store(object_store::Error),
}

/// A file written to the store: its size and its first bytes.
#[derive(Debug, Clone)]
pub struct Written {
    pub size: u64,
    pub head: Vec<u8>,
}

const SIGNING_KEY_FILE: &str = ".confab-storage-key";

impl Storage {
    /// The store the settings name; fails on a malformed `--storage-url` or S3 setting.
    /// `db` (migrated) keeps the signing key on Postgres when none is configured.
    pub async fn from_settings(
        settings: &Settings,
        db: &sea_orm::DatabaseConnection,
    ) -> Result<Storage, String> {
        let (store, presigner, base, chunk_bytes, description): (
            Arc<dyn ObjectStore>,
            Option<Arc<AmazonS3>>,
            Path,
            usize,
            String,
        ) = match settings.storage_url.as_deref() {
            Some(url) if url.starts_with("s3://") => {
                let rest = &url["s3://".len()..];
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("`{url}` names no S3 bucket (s3://BUCKET[/PREFIX])"));
                }
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(&settings.s3_region);
                if let Some(endpoint) = &settings.s3_endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(key) = &settings.s3_access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = &settings.s3_secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                let s3 = Arc::new(
                    builder
                        .build()
                        .map_err(|e| format!("S3 storage ({url}): {e}"))?,
                );
                let presigner = (settings.s3_redirect == Switch::On).then(|| s3.clone());
                (
                    s3,
                    presigner,
                    Path::from(prefix),
                    S3_CHUNK_BYTES,
                    format!("s3://{bucket}/{prefix}"),
                )
            }
            other => {
                let dir = match other {
                    Some(url) => PathBuf::from(url.strip_prefix("file://").unwrap_or(url)),
                    None => settings.data_dir().join("storage"),
                };
                let dir = std::path::absolute(&dir)
                    .map_err(|e| format!("storage directory {}: {e}", dir.display()))?;
                // The directory is made by the first write (a gateway that stores nothing
                // leaves nothing behind).
                let base = Path::from_absolute_path(&dir)
                    .map_err(|e| format!("storage directory {}: {e}", dir.display()))?;
                (
                    Arc::new(LocalFileSystem::new()),
                    None,
                    base,
                    CHUNK_BYTES,
                    dir.display().to_string(),
                )
            }
        };
        let signing_key = match signing_key(settings)? {
            Some(key) => key,
            None => database_key(db).await?,
        };
        let rules = |max_bytes: u64, types: &[String]| BucketRules {
            max_bytes,
            types: types.to_vec(),
        };
        Ok(Storage(Arc::new(Inner {
            store,
            presigner,
            base,
            chunk_bytes,
            keeps_attributes: chunk_bytes == S3_CHUNK_BYTES,
            signing_key,
            url_ttl: Duration::from_secs(settings.storage_url_ttl),
            rules: [
                rules(
                    settings.project_file_max_bytes,
                    &settings.project_file_types,
                ),
                rules(settings.avatar_max_bytes, &settings.avatar_types),
                rules(settings.attachment_max_bytes, &settings.attachment_types),
                rules(settings.audio_max_bytes, &settings.audio_types),
            ],
            request: RequestLimits {
                max_files: settings.upload_max_files,
                max_request_bytes: settings.upload_max_request_bytes,
            },
            quota: settings.storage_quota_bytes,
            sweep_interval: Duration::from_secs(settings.storage_sweep_interval),
            sweep_grace: Duration::from_secs(settings.storage_sweep_grace),
            description,
        })))
    }

    pub fn rules(&self, bucket: Bucket) -> &BucketRules {
        &self.0.rules[bucket.index()]
    }

    pub fn request_limits(&self) -> RequestLimits {
        self.0.request
    }

    pub fn quota(&self) -> Option<u64> {
        self.0.quota
    }

    pub fn sweep_interval(&self) -> Duration {
        self.0.sweep_interval
    }

    pub fn sweep_grace(&self) -> Duration {
        self.0.sweep_grace
    }

    /// The same store with another grace period (tests, a manual sweep).
    pub fn with_sweep_grace(&self, grace: Duration) -> Storage {
        let mut inner = (*self.0).clone();
        inner.sweep_grace = grace;
        Storage(Arc::new(inner))
    }

    /// Where the store is (for the log).
    pub fn description(&self) -> &str {
        &self.0.description
    }

    fn bucket_path(&self, bucket: Bucket) -> Path {
        self.0.base.child(bucket.name())
    }

    fn object_path(&self, bucket: Bucket, id: Uuid) -> Path {
        self.bucket_path(bucket).child(id.to_string())
    }

    /// Streams `body` into object `bucket/id`, refusing past `limit` bytes; keeps the
    /// first [`SNIFF_BYTES`] for the type check. On any failure nothing is left behind.
    /// Memory: one chunk and the sniffed head, whatever the file's size.
    pub async fn write<S, E>(
        &self,
        bucket: Bucket,
        id: Uuid,
        body: S,
        limit: u64,
    ) -> Result<Written, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut body = body;
        // The head first: its type goes on the object (S3 serves it from there).
        let mut head = Vec::new();
        let mut pending: Vec<Bytes> = Vec::new();
        let mut size: u64 = 0;
        let mut ended = false;
        while head.len() < SNIFF_BYTES {
            match body.next().await {
                Some(Ok(chunk)) => {
                    size += chunk.len() as u64;
                    if size > limit {
                        return Err(WriteError::TooLarge(limit));
                    }
                    let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                    pending.push(chunk);
                }
                Some(Err(e)) => return Err(WriteError::Body(e.to_string())),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        let mut attributes = Attributes::new();
        if self.0.keeps_attributes {
            let mime = match sniff(&head) {
                Some(mime) if !is_markup(mime) => mime,
                Some(_) => "text/plain",
                None => "application/octet-stream",
            };
            attributes.insert(Attribute::ContentType, mime.to_owned().into());
            attributes.insert(
                Attribute::ContentDisposition,
                (if is_inline_type(mime) {
                    "inline"
                } else {
                    "attachment"
                })
                .into(),
            );
        }
        let path = self.object_path(bucket, id);
        let upload = self
            .0
            .store
            .put_multipart_opts(
                &path,
                PutMultipartOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(WriteError::Store)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.0.chunk_bytes);
        for chunk in pending {
            writer.put(chunk);
        }
        let outcome: Result<(), WriteError> = async {
            if !ended {
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| WriteError::Body(e.to_string()))?;
                    size += chunk.len() as u64;
                    if size > limit {
                        return Err(WriteError::TooLarge(limit));
                    }
                    // At most one part in flight: memory stays at about two chunks.
                    writer
                        .wait_for_capacity(1)
                        .await
                        .map_err(WriteError::Store)?;
                    writer.put(chunk);
                }
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => {
                writer.finish().await.map_err(WriteError::Store)?;
                Ok(Written { size, head })
            }
            Err(err) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "storage: aborting an upload failed");
                }
                Err(err)
            }
        }
    }

    /// Removes object `bucket/id`; a failure is logged (the sweep retries it).
    pub async fn delete(&self, bucket: Bucket, id: Uuid) {
        match self.0.store.delete(&self.object_path(bucket, id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => {
                tracing::warn!(error = %err, bucket = bucket.name(), %id, "storage: delete failed")
            }
        }
    }

    /// Whether object `bucket/id` exists.
    pub async fn exists(&self, bucket: Bucket, id: Uuid) -> Result<bool, object_store::Error> {
        match self.0.store.head(&self.object_path(bucket, id)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Object `bucket/id`, or the part of it `range` names.
    pub async fn open(
        &self,
        bucket: Bucket,
        id: Uuid,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<GetResult, object_store::Error> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        self.0
            .store
            .get_opts(&self.object_path(bucket, id), options)
            .await
    }

    /// A presigned S3 URL for object `bucket/id`, when downloads redirect to S3.
    pub async fn presigned(&self, bucket: Bucket, id: Uuid) -> Option<String> {
        let signer = self.0.presigner.as_ref()?;
        match signer
            .signed_url(
                http::Method::GET,
                &self.object_path(bucket, id),
                self.0.url_ttl,
            )
            .await
        {
            Ok(url) => Some(url.to_string()),
            Err(err) => {
                tracing::warn!(error = %err, "storage: presigning failed; proxying");
                None
            }
        }
    }

    /// The download URL of a file (a path on this gateway): plain for public buckets,
    /// signed and expiring in `--storage-url-ttl` for private ones.
    pub fn url(&self, bucket: Bucket, id: Uuid, now: i64) -> String {
        let path = format!("/files/{}/{id}", bucket.name());
        if bucket.is_public() {
            return path;
        }
        let ttl = i64::try_from(self.0.url_ttl.as_secs()).unwrap_or(i64::MAX);
        // Rounded up to the minute, so one file has one URL for a minute (caches).
        let expires = (now.saturating_add(ttl) / 60 + 1) * 60;
        let sig = hex::encode(self.mac(bucket, id, expires).finalize().into_bytes());
        format!("{path}?expires={expires}&sig={sig}")
    }

    /// Whether `sig` signs `bucket/id` until `expires`, and `expires` is not past.
    pub fn verify(&self, bucket: Bucket, id: Uuid, expires: i64, sig: &str, now: i64) -> bool {
        if expires < now {
            return false;
        }
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        self.mac(bucket, id, expires).verify_slice(&sig).is_ok()
    }

    fn mac(&self, bucket: Bucket, id: Uuid, expires: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0.signing_key)
            .expect("HMAC takes a key of any length");
        mac.update(format!("{}/{id}:{expires}", bucket.name()).as_bytes());
        mac
    }

    /// Readiness: the store answers a listing of one bucket.
    pub async fn check(&self) -> Result<(), String> {
        let prefix = self.bucket_path(Bucket::Avatars);
        match self.0.store.list_with_delimiter(Some(&prefix)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the object store refused a listing");
                Err("the object store refused a listing".to_owned())
            }
        }
    }

    /// Ids of the objects of `bucket` last written before `before`.
    pub async fn list_older(
        &self,
        bucket: Bucket,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Uuid>, object_store::Error> {
        let listing = self.0.store.list(Some(&self.bucket_path(bucket)));
        let metas: Vec<_> = match listing.try_collect().await {
            Ok(metas) => metas,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(metas
            .into_iter()
            .filter(|meta| meta.last_modified < before)
            .filter_map(|meta| {
                meta.location
                    .filename()
                    .and_then(|n| Uuid::parse_str(n).ok())
            })
            .collect())
    }
}

/// A new random key: 32 bytes, hex.
fn fresh_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The signing key: the configured one, else one kept beside the SQLite file (made once);
/// None on Postgres with nothing configured (see [`database_key`]).
fn signing_key(settings: &Settings) -> Result<Option<Vec<u8>>, String> {
    if let Some(key) = &settings.storage_signing_key {
        if key.len() < 32 {
            return Err("CONFAB_STORAGE_SIGNING_KEY must be at least 32 characters".to_owned());
        }
        return Ok(Some(key.as_bytes().to_vec()));
    }
    if !settings.is_sqlite() {
        return Ok(None);
    }
    let path = settings.data_dir().join(SIGNING_KEY_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= 32 {
            return Ok(Some(existing.trim().as_bytes().to_vec()));
        }
    }
    let key = fresh_key();
    write_private(&path, &key)
        .map_err(|e| format!("storage signing key {}: {e}", path.display()))?;
    Ok(Some(key.into_bytes()))
}

/// Postgres without a configured key: the one row of `storage_signing_keys`, made by the
/// first gateway to start (`ON CONFLICT DO NOTHING`, then read back, so gateways starting
/// together agree), shared by every gateway on the database and kept across restarts.
async fn database_key(db: &sea_orm::DatabaseConnection) -> Result<Vec<u8>, String> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = db.get_database_backend();
    let failed = |e: sea_orm::DbErr| format!("storage signing key in the database: {e}");
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO storage_signing_keys (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        [fresh_key().into()],
    ))
    .await
    .map_err(failed)?;
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT key FROM storage_signing_keys WHERE id = 1",
        ))
        .await
        .map_err(failed)?
        .ok_or_else(|| "storage signing key in the database: no row".to_owned())?;
    let key: String = row.try_get("", "key").map_err(failed)?;
    Ok(key.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
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
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The type the content shows: magic bytes first, then UTF-8 text (`text/plain`); None
/// for bytes that are neither.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(head) {
        return Some(kind.mime_type());
    }
    looks_like_text(head).then_some("text/plain")
}

/// UTF-8 without NUL (a sequence cut at the end of the head counts as text).
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// The type a file is stored with: what the content shows, not the client's claim. Text
/// is `application/json`, `text/markdown` or `text/csv` when the claim or the name says so,
/// else `text/plain` (never `text/html` or SVG: they would be markup). None when the
/// content is of no type the gateway recognises.
pub fn content_type(head: &[u8], claimed: Option<&str>, file_name: &str) -> Option<String> {
    let sniffed = sniff(head)?;
    if !is_markup(sniffed) {
        return Some(sniffed.to_owned());
    }
    let claimed = claimed
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let text = match (claimed.as_str(), extension.as_str()) {
        ("application/json", _) | (_, "json") => "application/json",
        ("text/markdown", _) | (_, "md" | "markdown") => "text/markdown",
        ("text/csv", _) | (_, "csv") => "text/csv",
        _ => "text/plain",
    };
    Some(text.to_owned())
}

/// Text a browser would interpret (HTML, XML, SVG) or plain text: kept as text, never
/// with a type that renders.
fn is_markup(mime: &str) -> bool {
    mime.starts_with("text/") || mime.ends_with("xml") || mime.ends_with("+xml")
}

/// Whether a download may be shown inline on the gateway's origin: raster images only
/// (SVG, HTML, PDF and everything else are sent as attachments).
pub fn is_inline_type(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" | "image/bmp"
    )
}

/// Runs the sweep every `interval` (first at once) until the process stops.
pub fn spawn_periodic<F, Fut>(interval: Duration, mut run: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            run().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
    ];
    /// An ELF header (infer reads 52 bytes of it).
    fn elf() -> Vec<u8> {
        let mut bytes = vec![
            0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0,
        ];
        bytes.resize(64, 0);
        bytes
    }

    #[test]
    fn the_content_decides_the_type() {
        assert_eq!(
            content_type(PNG, Some("text/plain"), "a.txt").as_deref(),
            Some("image/png")
        );
        assert_eq!(
            content_type(&elf(), Some("image/png"), "x.png").as_deref(),
            Some("application/x-executable")
        );
        assert_eq!(
            content_type(b"<html><script>1</script>", Some("text/html"), "x.html").as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            content_type(b"{\"a\":1}", None, "a.json").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            content_type(b"# hi", Some("text/markdown"), "notes").as_deref(),
            Some("text/markdown")
        );
        assert_eq!(
            content_type(&[0, 159, 146, 150], None, "x").as_deref(),
            None
        );
        // A multi-byte character cut by the head is still text.
        assert_eq!(sniff(&"é".as_bytes()[..1]), Some("text/plain"));
    }

    #[test]
    fn type_patterns_match_families_and_exact_types() {
        let rules = BucketRules {
            max_bytes: 1,
            types: vec!["image/*".into(), "application/pdf".into()],
        };
        assert!(rules.allows("image/png"));
        assert!(rules.allows("application/pdf"));
        assert!(!rules.allows("application/x-executable"));
        assert!(!rules.allows("imagex/png"));
        assert!(!rules.allows("text/plain"));
    }

    #[test]
    fn only_raster_images_are_inline() {
        assert!(is_inline_type("image/png"));
        for t in [
            "image/svg+xml",
            "text/html",
            "application/pdf",
            "text/plain",
        ] {
            assert!(!is_inline_type(t), "{t}");
        }
    }
}
