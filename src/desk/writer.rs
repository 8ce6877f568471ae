//! Group commit: commands that arrive together share one SQLite transaction.
//!
//! With `synchronous=FULL` every COMMIT waits for the disk, so one commit per
//! command caps the desk at the disk's flush rate however many people type at
//! once. Here the single writer takes every command waiting for it, runs each
//! in its own SAVEPOINT (a refused or failed command rolls back alone), commits
//! the batch once, and only then answers each caller with its own outcome. A
//! lone command is a batch of one, so nothing changes for a quiet desk.
//!
//! The rules of DESIGN.md §4 hold per command: a command's record, audit row
//! and outbox rows are released together into the batch or rolled back
//! together, and nobody is answered before the COMMIT that makes their command
//! durable. If the COMMIT fails, every caller in the batch is told so.
//!
//! A command is acknowledged only if its batch's COMMIT returned OK *and*
//! SQLite then reports the connection in autocommit. After any failure — of
//! BEGIN, a statement, RELEASE, COMMIT or ROLLBACK — the connection is checked
//! the same way and replaced when it is still inside a transaction, so a fault
//! that clears (space freed, a lock released) is followed by commits that are
//! real, without a restart (`store::health` explains how sqlx and SQLite can
//! disagree). The store logs a storage fault once when it begins and once when
//! it clears; the callers are answered "not saved".
//!
//! Leader/follower, no background task: a caller queues its job, then either
//! its result arrives (an earlier leader ran it) or it takes the writer turn and
//! runs everything queued. The batch itself runs in a spawned task, so a caller
//! that goes away cannot cut a batch in half between COMMIT and the answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{DeskError, DeskResult, Outcome};
use crate::store::{self, Conn, Store, StoreError};

/// The future of one job, borrowing the batch's connection.
pub(crate) type JobFuture<'c> = Pin<Box<dyn Future<Output = DeskResult<Outcome>> + Send + 'c>>;

/// One command's work inside the batch transaction. A store error rolls the
/// job's savepoint back; anything else (success or refusal) is kept. A job
/// may run more than once: when another command's failure takes the whole
/// transaction with it, the others run again in a fresh one (their first run
/// left nothing behind).
pub(crate) type Job = Box<dyn for<'c> Fn(&'c mut Conn) -> JobFuture<'c> + Send + Sync>;

/// Most commands in one transaction (keeps a batch's latency bounded).
const MAX_BATCH: usize = 64;

struct Queued {
    job: Job,
    done: oneshot::Sender<DeskResult<Outcome>>,
}

/// The queue in front of the single writer.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Vec<Queued>>,
    turn: tokio::sync::Mutex<()>,
    commits: AtomicU64,
    jobs: AtomicU64,
}

impl GroupCommit {
    /// Runs `job` in the next batch and returns its outcome once the batch is committed.
    pub(crate) async fn run(&self, store: &Store, job: Job) -> DeskResult<Outcome> {
        let (done, mut result) = oneshot::channel();
        self.lock_queue().push(Queued { job, done });
        loop {
            let turn = tokio::select! {
                biased;
                r = &mut result => return r.unwrap_or_else(|_| Err(abandoned())),
                turn = self.turn.lock() => turn,
            };
            // An earlier leader may have run our job while we waited for the turn.
            match result.try_recv() {
                Ok(r) => return r,
                Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch: Vec<Queued> = {
                let mut q = self.lock_queue();
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if !batch.is_empty() {
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
                let _ = tokio::spawn(run_batch(store.clone(), batch)).await;
            }
            drop(turn);
        }
    }

    /// (transactions committed, commands run) so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.commits.load(Ordering::Relaxed), self.jobs.load(Ordering::Relaxed))
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.lock_queue().len()
    }

    #[cfg(test)]
    pub(crate) async fn hold_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }
}

fn abandoned() -> DeskError {
    DeskError::Store(StoreError::Abandoned)
}

/// A copy of a batch-wide failure for each caller (sqlx errors do not clone).
fn batch_failed(e: &StoreError) -> DeskError {
    DeskError::Store(StoreError::BatchFailed {
        fault: e.write_fault(),
        cause: e.to_string(),
    })
}

/// A store error undoes the command; a refusal or success is kept.
fn store_failed(outcome: &DeskResult<Outcome>) -> bool {
    matches!(outcome, Err(DeskError::Store(_)))
}

/// How a batch's transaction ended.
enum Ended {
    /// COMMIT returned OK and the connection is in autocommit: the answers stand.
    Committed,
    /// The lone command failed and its transaction was rolled back: its own
    /// error is its answer.
    RolledBack,
    /// The command at this index failed and took the whole transaction with
    /// it (its savepoint could not be rolled back): every command before it
    /// was undone too, and none after it ran.
    LostTo(usize, StoreError),
}

type Answer = DeskResult<Outcome>;

async fn run_batch(store: Store, batch: Vec<Queued>) {
    let mut pending = batch;
    while !pending.is_empty() {
        let (ended, answers) = match store.write().await {
            Err(e) => (Err(e), Vec::new()),
            Ok(mut conn) => {
                let (ran, answers) = run_jobs(&mut conn, &pending).await;
                // Whatever happened above, the connection goes back outside any
                // transaction or is replaced: a failed COMMIT or ROLLBACK can
                // leave sqlx and SQLite disagreeing about whether one is open
                // (see `store::health`), and a COMMIT is only believed once
                // SQLite says the connection is in autocommit.
                let settled = store.settle(conn).await;
                let ended = match (ran, settled) {
                    (Ok(Ended::Committed), Err(e)) => Err(e),
                    (ran, _) => ran,
                };
                (ended, answers)
            }
        };
        match ended {
            Ok(Ended::LostTo(culprit, e)) if e.write_fault().is_none() => {
                // One command's bug: it alone is refused, the rest run again.
                tracing::error!(error = %e, "a command failed and undid its batch; the others run again");
                let failed = pending.remove(culprit);
                let _ = failed.done.send(Err(batch_failed(&e)));
            }
            Ok(Ended::LostTo(_, e)) | Err(e) => {
                // A storage fault is a state of the database, logged when it
                // begins (by the store), and every command waiting would meet
                // it too; anything else is a bug, logged every time.
                if !store.note_fault(&e) {
                    tracing::error!(error = %e, commands = pending.len(), "a batch transaction failed; nothing in it was kept");
                }
                for Queued { done, .. } in pending.drain(..) {
                    let _ = done.send(Err(batch_failed(&e)));
                }
            }
            Ok(ended) => {
                if matches!(ended, Ended::Committed) {
                    store.note_written();
                }
                for (Queued { done, .. }, answer) in pending.drain(..).zip(answers) {
                    let _ = done.send(answer);
                }
            }
        }
    }
}

/// Runs every job in one transaction on `conn`, each in its own savepoint (a
/// lone job needs none); the answers, one per job in order, stand only if
/// this returns `Ok(Ended::Committed)` or `Ok(Ended::RolledBack)`.
async fn run_jobs(conn: &mut Conn, jobs: &[Queued]) -> (Result<Ended, StoreError>, Vec<Answer>) {
    let mut answers = Vec::with_capacity(jobs.len());
    let ended = async {
        let mut tx = store::savepoint(conn).await?;
        if let [only] = jobs {
            // The transaction holds nothing else, so a store error rolls it
            // back instead of a savepoint.
            let outcome = (only.job)(&mut tx).await;
            let failed = store_failed(&outcome);
            answers.push(outcome);
            return if failed {
                store::rollback(tx).await?;
                Ok(Ended::RolledBack)
            } else {
                store::commit(tx).await?;
                Ok(Ended::Committed)
            };
        }
        for (i, queued) in jobs.iter().enumerate() {
            let mut savepoint = store::savepoint(&mut tx).await?;
            let outcome = (queued.job)(&mut savepoint).await;
            let released = if store_failed(&outcome) {
                store::rollback(savepoint).await
            } else {
                store::commit(savepoint).await
            };
            if let Err(e) = released {
                // The command's own error says why (a full disk, say); the
                // failed release only says that the transaction is gone.
                let cause = match outcome {
                    Err(DeskError::Store(own)) => own,
                    _ => e,
                };
                return Ok(Ended::LostTo(i, cause));
            }
            answers.push(outcome);
        }
        store::commit(tx).await?;
        Ok(Ended::Committed)
    }
    .await;
    (ended, answers)
}
