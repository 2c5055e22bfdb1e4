//! Loading the demo city (being written).
use anyhow::Result;
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::pack::PackSet;
use gongzhi_store::Db;

pub async fn load_demo_if_empty(_db: &Db, _packs: &PackSet, _calendar: &WorkCalendar) -> Result<String> {
    anyhow::bail!("demo loader not written yet")
}
