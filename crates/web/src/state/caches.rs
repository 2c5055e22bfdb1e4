//! Caches `AppState` holds: resolved API keys, the indicators' case
//! histories and the public statistics. Here, not with the handlers that
//! fill them, so the state depends on no handler module.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gongzhi_domain::access::Actor;
use gongzhi_domain::indicators::{CaseHistory, Figures};
use gongzhi_store::{HistoryQuery, HistoryRead};

/// How long a resolved API key is trusted without asking the database again.
/// Systems send many requests in a row; a revoked key or changed role takes
/// at most this long to bite.
pub const API_KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Resolved API keys: key hash → (resolved at, actor).
#[derive(Default)]
pub struct ApiKeyCache {
    entries: Mutex<HashMap<String, (Instant, Actor)>>,
}

impl ApiKeyCache {
    /// The actor of a key hash resolved less than [`API_KEY_CACHE_TTL`] before `now`.
    pub fn fresh(&self, hash: &str, now: Instant) -> Option<Actor> {
        let cache = self.entries.lock().ok()?;
        let (at, actor) = cache.get(hash)?;
        (now.duration_since(*at) < API_KEY_CACHE_TTL).then(|| actor.clone())
    }

    /// Remembers what a key hash resolved to at `now`.
    pub fn remember(&self, hash: String, now: Instant, actor: &Actor) {
        if let Ok(mut cache) = self.entries.lock() {
            // Bounded: stale entries go when the cache grows.
            if cache.len() > 10_000 {
                cache.retain(|_, (at, _)| now.duration_since(*at) < API_KEY_CACHE_TTL);
            }
            cache.insert(hash, (now, actor.clone()));
        }
    }

    /// Forgets every resolved key, so a revocation bites at once here.
    pub fn clear(&self) {
        if let Ok(mut cache) = self.entries.lock() {
            cache.clear();
        }
    }
}

/// Histories read for one query, keyed by case id, as of a log stamp.
pub type Histories = BTreeMap<String, Arc<CaseHistory>>;

struct CachedHistories {
    scope_paths: Vec<String>,
    pack: String,
    from: i64,
    to: i64,
    stamp: i64,
    histories: Arc<Histories>,
}

/// The case histories the indicators last read for a few queries (scope and
/// period), each brought up to date on use by reading again only the cases
/// logged since: the figures are always computed from the current log, but
/// a dashboard reloaded or regrouped does not read a year of cases again.
#[derive(Default)]
pub struct HistoryCache {
    recent: Mutex<VecDeque<CachedHistories>>,
}

/// Queries kept: a handful of supervisors' scopes and periods.
const CACHED_QUERIES: usize = 8;

impl HistoryCache {
    pub async fn get(
        &self,
        db: &gongzhi_store::Db,
        query: &HistoryQuery<'_>,
    ) -> Result<Arc<Histories>, gongzhi_store::StoreError> {
        let same = |c: &CachedHistories| {
            c.scope_paths == query.scope_paths
                && c.pack == query.pack
                && c.from == query.from
                && c.to == query.to
        };
        let cached = self
            .lock()
            .iter()
            .find(|c| same(c))
            .map(|c| (c.stamp, c.histories.clone()));
        let since = cached.as_ref().map(|(stamp, _)| *stamp);
        let (stamp, histories) = match (db.read_case_histories(query, since).await?, cached) {
            (HistoryRead::Unchanged, Some((_, histories))) => return Ok(histories),
            (
                HistoryRead::Partial {
                    stamp,
                    touched,
                    histories,
                },
                Some((_, old)),
            ) => {
                let mut map: Histories = (*old).clone();
                for id in &touched {
                    map.remove(id);
                }
                for h in histories {
                    map.insert(h.case_id.clone(), Arc::new(h));
                }
                (stamp, Arc::new(map))
            }
            (HistoryRead::Full { stamp, histories }, _) => (
                stamp,
                Arc::new(
                    histories
                        .into_iter()
                        .map(|h| (h.case_id.clone(), Arc::new(h)))
                        .collect(),
                ),
            ),
            // Unchanged or partial without a copy cannot be (no stamp was given).
            (_, None) => {
                return Err(gongzhi_store::StoreError::Corrupt(
                    "history read answered a change without a copy".into(),
                ));
            }
        };
        let mut recent = self.lock();
        // A slower concurrent reader must not replace a newer copy.
        if recent.iter().any(|c| same(c) && c.stamp >= stamp) {
            return Ok(histories);
        }
        recent.retain(|c| !same(c));
        recent.push_front(CachedHistories {
            scope_paths: query.scope_paths.to_vec(),
            pack: query.pack.to_string(),
            from: query.from,
            to: query.to,
            stamp,
            histories: histories.clone(),
        });
        recent.truncate(CACHED_QUERIES);
        Ok(histories)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<CachedHistories>> {
        // The guarded data is replaced whole, never left half-written.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The figures, in no language, and when they were computed.
pub struct StatsData {
    pub first: chrono::NaiveDate,
    pub today: chrono::NaiveDate,
    /// (district unit id or "", month, figures), as computed.
    pub groups: Vec<(String, String, Figures)>,
    pub total: Figures,
}

/// The last figures computed; one computation at a time.
#[derive(Default)]
pub struct StatsCache(tokio::sync::Mutex<Option<(Instant, Arc<StatsData>)>>);

impl StatsCache {
    /// The figures computed less than `ttl` ago, or new ones from `compute`;
    /// the lock is held while computing, so concurrent readers wait for one
    /// computation instead of each running their own.
    pub async fn get_or_compute<E, F, Fut>(
        &self,
        ttl: Duration,
        compute: F,
    ) -> Result<Arc<StatsData>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<StatsData, E>>,
    {
        let mut slot = self.0.lock().await;
        if let Some((at, data)) = slot.as_ref()
            && at.elapsed() < ttl
        {
            return Ok(data.clone());
        }
        let data = Arc::new(compute().await?);
        *slot = Some((Instant::now(), data.clone()));
        Ok(data)
    }
}
