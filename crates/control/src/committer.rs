//! Group commit: writes from many threads (a server's requests) go to one committing thread,
//! which runs whatever has queued up in one transaction and makes it durable with one commit. A
//! write still answers only after its commit; under load, many share one `fsync`.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vnetlab_engine::Operation;
use vnetlab_engine::authorization::Caller;
use vnetlab_model::State;
use vnetlab_store::{Store, StoreError};

use crate::{Answer, Applied, Executed, Job, Lab, PlannedError, Request};

/// What a planned write answers.
type Planned<R, E, P> = Result<(Applied, R), PlannedError<E, P>>;

/// The most requests one commit takes.
const MAX_BATCH: usize = 512;

/// Who is asking, owned, so it can cross to the committing thread.
#[derive(Debug, Clone, Default)]
pub struct OwnedRequest {
    pub api_version: Option<String>,
    pub origin: Option<String>,
    pub immediate: bool,
    pub caller: Option<Caller>,
}

impl OwnedRequest {
    fn as_request(&self) -> Request<'_> {
        Request {
            caller: self.caller.as_ref(),
            api_version: self.api_version.as_deref(),
            origin: self.origin.as_deref(),
            immediate: self.immediate,
        }
    }
}

/// The committing thread of a lab.
pub struct Committer<S: Store + Send + Sync + 'static> {
    lab: Arc<Lab<S>>,
    jobs: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<S: Store + Send + Sync + 'static> Committer<S> {
    pub fn start(lab: Arc<Lab<S>>) -> Committer<S> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let worker = lab.clone();
        let thread =
            std::thread::Builder::new().name("vnetlab-commit".into()).spawn(move || commit_loop(&worker, &queue)).ok();
        Committer { lab, jobs: Mutex::new(Some(jobs)), thread: Mutex::new(thread) }
    }

    pub fn lab(&self) -> &Lab<S> {
        &self.lab
    }

    /// As [`Lab::execute_then`], through the committing thread.
    pub fn execute_then<P, E, R>(
        &self,
        request: OwnedRequest,
        plan: impl FnOnce(&State) -> Result<(Vec<Operation>, P), E> + Send + 'static,
        finish: impl FnOnce(&State, &[Executed], P) -> R + Send + 'static,
    ) -> Result<(Applied, R), PlannedError<E, P>>
    where
        P: Send + 'static,
        E: Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer): (SyncSender<Planned<R, E, P>>, _) = sync_channel(1);
        let job: Job = Box::new(move |batch| {
            let ran = batch.execute_then(&request.as_request(), plan, finish);
            let answer: Answer = Box::new(move |committed: Result<Option<u64>, StoreError>| {
                let result = match (ran, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(PlannedError::Store(e)),
                    (Ok((executed, finished)), Ok(revision)) => {
                        let wrote = executed.iter().any(|e| e.changed > 0);
                        Ok((Applied { executed, revision: revision.filter(|_| wrote) }, finished))
                    }
                };
                let _ = reply.send(result);
            });
            answer
        });
        let sent =
            self.jobs.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !sent {
            return Err(PlannedError::Store(stopped()));
        }
        answer.recv().unwrap_or_else(|_| Err(PlannedError::Store(stopped())))
    }

    /// Runs operations in one request, as [`Lab::execute_all`].
    pub fn execute_all(&self, ops: Vec<Operation>, request: OwnedRequest) -> Result<Applied, crate::LabError> {
        match self.execute_then(request, move |_| Ok::<_, std::convert::Infallible>((ops, ())), |_, _, ()| ()) {
            Ok((applied, ())) => Ok(applied),
            Err(PlannedError::Rejected { index, error, .. }) => Err(crate::LabError::Rejected { index, error }),
            Err(PlannedError::Store(e)) => Err(crate::LabError::Store(e)),
            Err(PlannedError::Plan(never)) => match never {},
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Database { path: String::new(), message: "the committing thread has stopped".into() }
}

fn commit_loop<S: Store>(lab: &Lab<S>, queue: &Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A job that panics takes its batch down (its writer rolls back and the waiting callers
        // see the thread's answer channel close), not the thread.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| lab.execute_batch(jobs)));
    }
}

impl<S: Store + Send + Sync + 'static> Drop for Committer<S> {
    fn drop(&mut self) {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}
