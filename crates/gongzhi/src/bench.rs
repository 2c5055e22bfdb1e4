//! `gongzhi bench log`.

use anyhow::Result;

use crate::Settings;

pub async fn bench_log(
    _settings: &Settings,
    _entries: u64,
    _verify_entries: u64,
    _postgres: Option<String>,
) -> Result<()> {
    anyhow::bail!("not yet")
}
