//! A file cache of analyses, keyed by the log's hash.
//!
//! Monitoring loops analyse the same logs again and again; the cache answers
//! those from disk: one JSON file per analysis under `analyses/`, written by rename
//! so that readers never see half a file, with a time-to-live and a size cap. How
//! often a fingerprint was seen is not kept here but in the engine's store
//! (`Store::record_sighting`), which every worker shares and counts atomically.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::triage::{Analysis, Options, SCHEMA_VERSION};

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Analyses older than this are ignored and pruned.
    pub ttl: Duration,
    /// Most bytes of cached analyses; the oldest go first.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 64 << 20,
        }
    }
}

/// The cache in a directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    config: CacheConfig,
}

/// SHA-256 of a file's bytes, streamed.
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// SHA-256 of bytes in memory.
pub fn hash_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of an analysis: the log's hash plus everything that changes the
/// result (schema version, options, baseline).
pub fn cache_key(log_sha256: &str, options: &Options, baseline_sha256: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(log_sha256.as_bytes());
    h.update(
        format!(
            "|v{}|{}|{}|{}|{}",
            SCHEMA_VERSION,
            env!("CARGO_PKG_VERSION"),
            options.max_key_lines,
            options.context,
            baseline_sha256.unwrap_or("-")
        )
        .as_bytes(),
    );
    hex(&h.finalize()[..16])
}

impl Cache {
    /// Opens (creating) a cache in `dir`.
    pub fn open(dir: impl Into<PathBuf>, config: CacheConfig) -> io::Result<Cache> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("analyses"))?;
        Ok(Cache { dir, config })
    }

    fn analysis_path(&self, key: &str) -> Option<PathBuf> {
        // Keys are hex; anything else could escape the directory.
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(self.dir.join("analyses").join(format!("{key}.json")))
    }

    /// The cached analysis for `key`, if present and younger than the TTL.
    pub fn get(&self, key: &str) -> Option<Analysis> {
        let path = self.analysis_path(key)?;
        let meta = fs::metadata(&path).ok()?;
        let age = meta.modified().ok()?.elapsed().unwrap_or_default();
        if age > self.config.ttl {
            let _ = fs::remove_file(&path);
            return None;
        }
        serde_json::from_slice(&fs::read(&path).ok()?).ok()
    }

    /// Stores an analysis, then prunes expired entries and enforces the size cap.
    pub fn put(&self, key: &str, analysis: &Analysis) -> io::Result<()> {
        let Some(path) = self.analysis_path(key) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cache key must be hex",
            ));
        };
        let bytes = serde_json::to_vec(analysis).map_err(io::Error::other)?;
        write_atomic(&path, &bytes)?;
        self.prune()
    }

    fn prune(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        for e in fs::read_dir(self.dir.join("analyses"))?.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let modified = meta.modified().unwrap_or(UNIX_EPOCH);
            if modified.elapsed().unwrap_or_default() > self.config.ttl {
                let _ = fs::remove_file(e.path());
                continue;
            }
            entries.push((modified, meta.len(), e.path()));
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort_by_key(|(m, _, _)| *m);
        for (_, len, path) in entries {
            if total <= self.config.max_bytes {
                break;
            }
            let _ = fs::remove_file(path);
            total -= len;
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_str;
    use crate::sanitize::Sanitizer;
    use crate::triage::analyze;

    fn analysis() -> Analysis {
        analyze(
            &read_str("error: boom in src/a.rs:1:1\n", &mut Sanitizer::default()),
            &Options::default(),
        )
    }

    #[test]
    fn put_then_get() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), CacheConfig::default()).unwrap();
        let a = analysis();
        let key = cache_key(&hash_bytes(b"log"), &Options::default(), None);
        assert!(cache.get(&key).is_none());
        cache.put(&key, &a).unwrap();
        assert_eq!(cache.get(&key), Some(a.clone()));
    }

    #[test]
    fn key_changes_with_options_and_baseline() {
        let h = hash_bytes(b"log");
        let k = cache_key(&h, &Options::default(), None);
        assert_ne!(
            k,
            cache_key(
                &h,
                &Options {
                    max_key_lines: 10,
                    ..Options::default()
                },
                None
            )
        );
        assert_ne!(k, cache_key(&h, &Options::default(), Some("abc")));
    }

    #[test]
    fn size_cap_and_ttl_evict() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(
            dir.path(),
            CacheConfig {
                max_bytes: 1,
                ..CacheConfig::default()
            },
        )
        .unwrap();
        cache.put("aa", &analysis()).unwrap();
        assert!(cache.get("aa").is_none(), "over the size cap");
        let cache = Cache::open(
            dir.path(),
            CacheConfig {
                ttl: Duration::ZERO,
                ..CacheConfig::default()
            },
        )
        .unwrap();
        cache.put("bb", &analysis()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(cache.get("bb").is_none(), "expired");
        assert!(cache.put("../evil", &analysis()).is_err());
    }
}
