//! Background jobs of the admin pages (GeoJSON imports), kept in memory with
//! their progress. Here, not with the pages, because `AppState` holds them.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use gongzhi_domain::ids::new_id;

/// Finished jobs kept for their pages; older ones are forgotten first.
const KEEP: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub state: JobState,
    pub done: usize,
    pub total: usize,
    /// The outcome: what was done, or why nothing was.
    pub message: String,
    #[serde(skip)]
    owner: String,
    #[serde(skip)]
    started: i64,
}

impl Job {
    pub fn percent(&self) -> usize {
        if self.state != JobState::Running {
            100
        } else {
            (self.done.min(self.total) * 100)
                .checked_div(self.total)
                .unwrap_or(0)
        }
    }
}

#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
}

impl Jobs {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Job>) -> T) -> T {
        match self.jobs.lock() {
            Ok(mut guard) => f(&mut guard),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Registers a running job of `owner` (a user id); returns its id.
    pub fn start(&self, owner: &str) -> String {
        let id = new_id();
        let job = Job {
            state: JobState::Running,
            done: 0,
            total: 0,
            message: String::new(),
            owner: owner.to_string(),
            started: gongzhi_domain::time::now_micros(),
        };
        self.with(|jobs| {
            if jobs.len() >= KEEP {
                let oldest = jobs
                    .iter()
                    .filter(|(_, j)| j.state != JobState::Running)
                    .min_by_key(|(_, j)| j.started)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    jobs.remove(&k);
                }
            }
            jobs.insert(id.clone(), job);
        });
        id
    }

    pub fn progress(&self, id: &str, done: usize, total: usize) {
        self.with(|jobs| {
            if let Some(j) = jobs.get_mut(id) {
                j.done = done;
                j.total = total;
            }
        });
    }

    pub fn finish(&self, id: &str, state: JobState, message: String) {
        self.with(|jobs| {
            if let Some(j) = jobs.get_mut(id) {
                j.state = state;
                j.message = message;
                if state == JobState::Done {
                    j.done = j.total;
                }
            }
        });
    }

    /// The job, if it is `owner`'s: others' jobs do not exist for them.
    pub fn get(&self, id: &str, owner: &str) -> Option<Job> {
        self.with(|jobs| jobs.get(id).filter(|j| j.owner == owner).cloned())
    }
}
