//! Key files in the data folder: the log's signing key (`log.key`), the public
//! keys of rotated log keys (`log-retired/*.pub`) and the witness key
//! (`witness.key`). Private keys are written owner-only (0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use gongzhi_domain::checkpoint::{KeySigner, KeyVerifier, TreeHead, generate_key, sign_checkpoint};
use gongzhi_store::Db;

use crate::{Settings, ensure_data_dir};

pub const LOG_KEY_FILE: &str = "log.key";
pub const RETIRED_DIR: &str = "log-retired";
pub const WITNESS_KEY_FILE: &str = "witness.key";

/// Writes a new file readable by its owner only; never overwrites.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

fn read_signer(path: &Path) -> Result<KeySigner> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    KeySigner::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Loads the key at `path`, creating it (named `name`) on first use.
pub fn load_or_create(path: &Path, name: &str, witness: bool) -> Result<KeySigner> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            ensure_data_dir(dir)?;
        }
        let (skey, vkey) = generate_key(name, witness).map_err(|e| anyhow::anyhow!("{e}"))?;
        write_private(path, &skey)?;
        tracing::info!(key = vkey, file = %path.display(), "new key created");
    }
    let signer = read_signer(path)?;
    if signer.is_witness() != witness {
        bail!("{}: wrong kind of key", path.display());
    }
    Ok(signer)
}

/// The log's signing key; its name must be the configured origin.
pub fn log_key(settings: &Settings) -> Result<KeySigner> {
    let signer = load_or_create(
        &settings.data_dir.join(LOG_KEY_FILE),
        &settings.log_origin,
        false,
    )?;
    if signer.name() != settings.log_origin {
        bail!(
            "the log key in {} is for origin {:?}, but the origin is set to {:?}",
            settings.data_dir.display(),
            signer.name(),
            settings.log_origin
        );
    }
    Ok(signer)
}

pub fn witness_key(settings: &Settings) -> Result<KeySigner> {
    load_or_create(
        &settings.data_dir.join(WITNESS_KEY_FILE),
        &settings.log_origin,
        true,
    )
}

/// Public keys of rotated log keys, oldest file name first.
pub fn retired_keys(data_dir: &Path) -> Result<Vec<String>> {
    let dir = data_dir.join(RETIRED_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pub"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        KeyVerifier::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        out.push(text.trim().to_string());
    }
    Ok(out)
}

/// Every key that may have signed this log's checkpoints: the current one and
/// the retired ones.
pub fn trusted_log_keys(settings: &Settings) -> Result<Vec<KeyVerifier>> {
    let mut keys = vec![
        KeyVerifier::parse(log_key(settings)?.verifier_key())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    ];
    for k in retired_keys(&settings.data_dir)? {
        keys.push(KeyVerifier::parse(&k).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(keys)
}

/// Replaces the log key: the current tree head is signed by the old and the
/// new key together (so the hand-over is itself signed), the old public key
/// joins `log-retired/`, and the old private key is deleted. Run it with the
/// server stopped; the server reads the key at start.
pub async fn rotate_log_key(settings: &Settings, db: &Db) -> Result<(KeySigner, KeySigner)> {
    let old = log_key(settings)?;
    let (skey, _) =
        generate_key(&settings.log_origin, false).map_err(|e| anyhow::anyhow!("{e}"))?;
    let new = KeySigner::parse(&skey).map_err(|e| anyhow::anyhow!("{e}"))?;
    while db.integrate(50_000).await?.is_some() {}
    let tree = db.tree_state().await?;
    let head = TreeHead {
        origin: settings.log_origin.clone(),
        size: tree.size,
        root: tree.root,
    };
    let note = sign_checkpoint(&head, &[&old, &new]).map_err(|e| anyhow::anyhow!("{e}"))?;
    db.insert_checkpoint(tree.size, &tree.root, &note).await?;

    let retired = settings.data_dir.join(RETIRED_DIR);
    ensure_data_dir(&retired)?;
    let stamp = gongzhi_domain::time::now_micros();
    std::fs::write(
        retired.join(format!("{stamp}-{:08x}.pub", old.key_id())),
        format!("{}\n", old.verifier_key()),
    )?;
    let path = settings.data_dir.join(LOG_KEY_FILE);
    let staged = settings.data_dir.join("log.key.new");
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, &skey)?;
    std::fs::rename(&staged, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok((old, new))
}
