//! `gongzhi import requests FILE.csv`: historical citizen requests from a CSV
//! file, through the same intake as every other channel. Each row is its own
//! transaction with an idempotency key, so re-running an import adds only what
//! is missing; every rejected row is reported with its reason.

use std::path::Path;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDateTime, TimeZone};
use indicatif::{ProgressBar, ProgressStyle};

use gongzhi_domain::access::{Actor, Assignment};
use gongzhi_domain::pack::{IntakeChannel, IntakeValues};
use gongzhi_web::AppState;
use gongzhi_web::intake::{Collected, IntakeRequest, channel_request, intake};

/// The import account: a system user acting as an operator at the top unit.
pub const IMPORT_USER: &str = "csv-import";

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub imported: usize,
    pub already_present: usize,
    /// (row number in the file, counting the header as row 1; reason)
    pub rejected: Vec<(usize, String)>,
}

/// The columns of one supported layout, by header name.
struct Layout {
    id: Option<usize>,
    subject: usize,
    time: usize,
    detail: usize,
    category: Option<usize>,
}

impl Layout {
    /// The layout of the 12345 message exports (留言编号, 留言用户, 留言主题, 留言时间,
    /// 留言详情, 一级分类). 留言用户 is a person's id and is never read.
    fn detect(headers: &csv::StringRecord) -> Result<Layout> {
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
        };
        let (Some(subject), Some(time), Some(detail)) =
            (find("留言主题"), find("留言时间"), find("留言详情"))
        else {
            bail!(
                "unknown CSV layout: expected the columns 留言主题, 留言时间 and 留言详情 (and optionally 留言编号, 一级分类)"
            );
        };
        Ok(Layout {
            id: find("留言编号"),
            subject,
            time,
            detail,
            category: find("一级分类"),
        })
    }
}

async fn import_actor(state: &AppState) -> Result<Actor> {
    let units = state.db.units().await?;
    let top = units
        .iter()
        .find(|u| u.parent_id.is_none())
        .context("no units yet: load or import the unit tree first")?;
    let user = match state.db.user_by_username(IMPORT_USER).await? {
        Some(u) => u,
        None => {
            state
                .db
                .create_user(IMPORT_USER, "历史数据导入（CSV）", None)
                .await?
        }
    };
    let role = state
        .packs
        .intake_type(IntakeChannel::Import)
        .and_then(|t| t.intake_role())
        .context("no loaded pack takes cases in by the import channel")?;
    state.db.grant_role(&user.id, role, &top.id).await?;
    Ok(Actor {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        assignments: vec![Assignment {
            role,
            unit_id: top.id.clone(),
            unit_path: top.path.clone(),
            assigned_only: false,
        }],
    })
}

/// Imports every row of `file`. Rows that fail are skipped and reported.
pub async fn import_requests(
    state: &AppState,
    file: &Path,
    show_progress: bool,
) -> Result<ImportSummary> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let layout = Layout::detect(reader.headers().context("reading the CSV header")?)?;
    let records: Vec<(usize, Result<csv::StringRecord, csv::Error>)> = reader
        .records()
        .enumerate()
        .map(|(i, r)| (i + 2, r))
        .collect();
    let actor = import_actor(state).await?;
    let tz = state.calendar.tz();
    let bar = if show_progress {
        ProgressBar::new(records.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {elapsed_precise}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = ImportSummary::default();
    for (row, record) in records {
        bar.inc(1);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                summary.rejected.push((row, format!("unreadable row: {e}")));
                continue;
            }
        };
        let cell = |i: usize| record.get(i).map(str::trim).unwrap_or("");
        let subject = cell(layout.subject);
        if subject.is_empty() {
            summary.rejected.push((row, "留言主题 is empty".into()));
            continue;
        }
        let detail = cell(layout.detail);
        if detail.chars().count() > 4000 {
            summary
                .rejected
                .push((row, "留言详情 is longer than 4,000 characters".into()));
            continue;
        }
        let time_text = cell(layout.time);
        let Some(at) = parse_local_time(time_text)
            .and_then(|t| tz.from_local_datetime(&t).earliest())
            .map(|t| t.timestamp_micros())
        else {
            summary.rejected.push((
                row,
                format!("留言时间 {time_text:?} is not a time like 2020/1/7 21:31:53"),
            ));
            continue;
        };
        let mut category = None;
        if let Some(i) = layout.category {
            let name = cell(i);
            if !name.is_empty() {
                match state
                    .taxonomies()
                    .categories
                    .roots()
                    .into_iter()
                    .find(|c| c.name.zh == name)
                {
                    Some(c) => category = Some(c.code.clone()),
                    None => {
                        summary
                            .rejected
                            .push((row, format!("一级分类 {name:?} is not a category")));
                        continue;
                    }
                }
            }
        }
        // The message id makes re-imports idempotent; without one, the content does.
        let source = match layout.id.map(cell).filter(|s| !s.is_empty()) {
            Some(id) => format!("csv:{id}"),
            None => format!(
                "csv-row:{}",
                gongzhi_web::auth::token_hash(&format!("{subject}\u{0}{time_text}\u{0}{detail}"))
            ),
        };
        let title: String = subject.chars().take(200).collect();
        let source_ref: String = source.chars().take(100).collect();
        let collected = Collected {
            title: &title,
            category: category.as_deref(),
            parts: IntakeValues {
                description: Some(detail),
                source_ref: Some(&source_ref),
                ..IntakeValues::default()
            },
        };
        let request = IntakeRequest {
            idempotency_key: Some(source.chars().take(128).collect()),
            ..channel_request(&state.packs, IntakeChannel::Import, collected)
                .map_err(|e| anyhow::anyhow!(e.message))?
        };
        match intake(state, &actor, request, at).await {
            Ok((created, _)) if created.log_entry.is_some() => summary.imported += 1,
            Ok(_) => summary.already_present += 1,
            Err(e) => summary
                .rejected
                .push((row, format!("{}: {}", e.code, e.message))),
        }
        bar.set_message(format!(
            "{} new, {} present, {} rejected",
            summary.imported,
            summary.already_present,
            summary.rejected.len()
        ));
    }
    bar.finish();
    Ok(summary)
}

fn parse_local_time(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_the_message_exports_parse() {
        assert!(parse_local_time("2020/1/7 21:31:53").is_some());
        assert!(parse_local_time("2020-01-07 21:31").is_some());
        assert!(parse_local_time("yesterday").is_none());
    }
}
