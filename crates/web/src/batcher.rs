//! Group commit for intake: creations queue up while the previous batch
//! commits, and the next batch writes them all in one transaction. Under load
//! this turns many small commits into a few larger ones; alone, a request waits
//! for nothing. Each caller gets its answer only after its batch committed.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use gongzhi_domain::access::Actor;
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::pack::PackSet;
use gongzhi_domain::time::Micros;
use gongzhi_store::{ActError, Created, Db, NewCase, Rules, StoreError};

use crate::state::taxonomy::SharedTaxonomies;

/// Most creations written in one transaction.
const MAX_BATCH: usize = 128;

type Job = (
    Actor,
    NewCase,
    Micros,
    oneshot::Sender<Result<Created, ActError>>,
);

/// The sending side; cheap to clone. The writer task ends when every clone is gone.
#[derive(Clone)]
pub struct IntakeBatcher {
    jobs: mpsc::Sender<Job>,
}

impl IntakeBatcher {
    pub fn start(
        db: Db,
        packs: Arc<PackSet>,
        calendar: Arc<WorkCalendar>,
        taxonomies: SharedTaxonomies,
    ) -> IntakeBatcher {
        let (jobs, mut queue) = mpsc::channel::<Job>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let tax = taxonomies.get();
                let rules = Rules {
                    packs: &packs,
                    calendar: &calendar,
                    categories: &tax.categories,
                };
                let (work, replies): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .map(|(actor, new, at, reply)| ((actor, new, at), reply))
                    .unzip();
                let results = db.create_cases_batch(rules, work).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have gone (client hung up); the case stands.
                    let _ = reply.send(result);
                }
            }
        });
        IntakeBatcher { jobs }
    }

    /// Creates a case in the next batch and waits for its commit.
    pub async fn create(
        &self,
        actor: Actor,
        new: NewCase,
        at: Micros,
    ) -> Result<Created, ActError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((actor, new, at, reply)).await.map_err(|_| {
            ActError::Store(StoreError::Unavailable(
                "the intake writer has stopped".into(),
            ))
        })?;
        answer.await.map_err(|_| {
            ActError::Store(StoreError::Unavailable(
                "the intake writer has stopped".into(),
            ))
        })?
    }
}
