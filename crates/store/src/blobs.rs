//! Files addressed by the SHA-256 of their content, under
//! `ROOT/ab/cd/<64 hex digits>`. A file is written to a temporary name in its
//! final folder, flushed to disk and renamed, so a reader never sees half a
//! file; identical content is stored once. Blobs are never changed in place.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("blob store {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("blob {0} is missing")]
    Missing(String),
    #[error("blob {0} does not match its digest")]
    Corrupt(String),
    #[error("not a SHA-256 digest: {0:?}")]
    BadDigest(String),
    #[error("blob store task failed: {0}")]
    Task(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the blob store keeps its files.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// A blob as written by [`BlobStore::put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
    /// False when the same content was already there.
    pub created: bool,
}

impl BlobStore {
    /// A store rooted at `root` (usually `DATA/blobs`); folders are made on
    /// first write.
    pub fn new(root: impl Into<PathBuf>) -> BlobStore {
        BlobStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a digest. Refuses anything but 64 lowercase hex digits,
    /// so a digest can never name a path outside the store.
    pub fn path_of(&self, sha256: &str) -> Result<PathBuf, BlobError> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(BlobError::BadDigest(sha256.to_string()));
        }
        Ok(self
            .root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(sha256))
    }

    /// Stores `bytes` (on a blocking thread) and returns their digest.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<StoredBlob, BlobError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.put_blocking(&bytes))
            .await
            .map_err(|e| BlobError::Task(e.to_string()))?
    }

    pub fn put_blocking(&self, bytes: &[u8]) -> Result<StoredBlob, BlobError> {
        let sha256 = sha256_hex(bytes);
        let path = self.path_of(&sha256)?;
        let size = bytes.len() as u64;
        if let Ok(meta) = std::fs::metadata(&path)
            && meta.len() == size
        {
            return Ok(StoredBlob {
                sha256,
                size,
                created: false,
            });
        }
        let dir = path
            .parent()
            .ok_or_else(|| BlobError::BadDigest(sha256.clone()))?;
        create_private_dirs(dir).map_err(io(dir))?;
        let tmp = dir.join(format!(".tmp-{}", gongzhi_domain::ids::new_id()));
        let written = (|| {
            let mut file = create_private_file(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(BlobError::Io { path, source: e });
        }
        // The rename is durable only once the folder itself is flushed.
        #[cfg(unix)]
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        tracing::debug!(sha256 = %sha256, size, "blob stored");
        Ok(StoredBlob {
            sha256,
            size,
            created: true,
        })
    }

    /// Reads a blob and checks it still hashes to its name.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, BlobError> {
        let store = self.clone();
        let sha256 = sha256.to_string();
        tokio::task::spawn_blocking(move || store.get_blocking(&sha256))
            .await
            .map_err(|e| BlobError::Task(e.to_string()))?
    }

    pub fn get_blocking(&self, sha256: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.path_of(sha256)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::Missing(sha256.to_string()));
            }
            Err(e) => return Err(BlobError::Io { path, source: e }),
        };
        if sha256_hex(&bytes) != sha256 {
            return Err(BlobError::Corrupt(sha256.to_string()));
        }
        Ok(bytes)
    }

    /// Whether a blob is present (its content is not checked).
    pub fn contains(&self, sha256: &str) -> bool {
        self.path_of(sha256).is_ok_and(|p| p.is_file())
    }
}

/// Attachments are personal data: folders the store makes are owner-only
/// (0700 on Unix); folders that already exist keep their mode.
fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A new file readable by its owner only (0600 on Unix).
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> BlobStore {
        let dir =
            std::env::temp_dir().join(format!("gongzhi-blobs-{}", gongzhi_domain::ids::new_id()));
        BlobStore::new(dir)
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    out.extend(files_under(&path));
                } else {
                    out.push(path);
                }
            }
        }
        out
    }

    #[test]
    fn stores_once_and_reads_back() {
        let store = temp_store();
        let first = store.put_blocking(b"hello").unwrap();
        assert!(first.created);
        assert_eq!(
            first.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let again = store.put_blocking(b"hello").unwrap();
        assert!(!again.created);
        let files = files_under(store.root());
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0].ends_with(
                "2c/f2/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            )
        );
        assert_eq!(store.get_blocking(&first.sha256).unwrap(), b"hello");
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[cfg(unix)]
    #[test]
    fn files_and_folders_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let store = temp_store();
        let blob = store.put_blocking(b"a photo").unwrap();
        let file = store.path_of(&blob.sha256).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        let mut dir = file.parent();
        while let Some(d) = dir {
            assert_eq!(mode(d), 0o700, "{}", d.display());
            if d == store.root() {
                break;
            }
            dir = d.parent();
        }
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[test]
    fn refuses_bad_digests_and_notices_damage() {
        let store = temp_store();
        for bad in ["../../etc/passwd", "ABC", &"G".repeat(64), &"A".repeat(64)] {
            assert!(matches!(store.path_of(bad), Err(BlobError::BadDigest(_))));
        }
        let missing = sha256_hex(b"never stored");
        assert!(matches!(
            store.get_blocking(&missing),
            Err(BlobError::Missing(_))
        ));
        let blob = store.put_blocking(b"original").unwrap();
        let path = store.path_of(&blob.sha256).unwrap();
        std::fs::write(&path, b"tampered").unwrap();
        assert!(matches!(
            store.get_blocking(&blob.sha256),
            Err(BlobError::Corrupt(_))
        ));
        let _ = std::fs::remove_dir_all(store.root());
    }
}
