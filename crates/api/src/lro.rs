//! Long-running operations. By default every write completes before its response (`Succeeded`, no
//! polling headers), which both clients accept at once. In async mode writes answer as Azure does:
//! the resource `Updating` and an `Azure-AsyncOperation` URL (plus `Location` for deletes) with
//! `Retry-After: 1`. An operation reports `InProgress` on its first poll and completes on the next;
//! one nobody polls completes after a few seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;
use vnetlab_engine::Operation;
use vnetlab_model::{AzureError, Kind, View};

use crate::http::{Reply, Request};
use crate::{App, errors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LroMode {
    /// Writes complete before they answer.
    #[default]
    Sync,
    /// Writes answer at once and complete through polling.
    Async,
}

/// Operations nobody polled complete after this long.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// Finished operations are remembered this long (a client may poll the result URL late).
const REMEMBER: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Op {
    /// Resources stay `Updating` until it completes (a PUT); otherwise the work is already done.
    provisioning: bool,
    polls: u32,
    started: Instant,
    outcome: Option<Result<(), AzureError>>,
}

/// The operations this server started.
#[derive(Debug, Default)]
pub struct Operations {
    ops: Mutex<HashMap<Uuid, Op>>,
}

impl Operations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Op>> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn start(&self, id: Uuid, provisioning: bool) {
        let mut ops = self.lock();
        ops.retain(|_, op| op.outcome.is_none() || op.started.elapsed() < REMEMBER);
        ops.insert(id, Op { provisioning, polls: 0, started: Instant::now(), outcome: None });
    }

    /// An operation that is already over when its URLs are handed out (a write the API must answer
    /// as long-running although it completed).
    pub fn finished(&self, id: Uuid) {
        let mut ops = self.lock();
        ops.insert(id, Op { provisioning: false, polls: 0, started: Instant::now(), outcome: Some(Ok(())) });
    }
}

/// Where a client polls an operation, and where a delete's result is.
pub fn headers(
    req: &Request,
    subscription: &str,
    namespace: &str,
    location: &str,
    id: Uuid,
    with_location: bool,
) -> Vec<(String, String)> {
    let version = req.api_version().unwrap_or_default();
    let at = |what: &str| {
        format!(
            "{}/subscriptions/{subscription}/providers/{namespace}/locations/{location}/{what}/{id}?api-version={version}",
            req.base
        )
    };
    let mut out =
        vec![("Azure-AsyncOperation".to_owned(), at("operations")), ("Retry-After".to_owned(), "1".to_owned())];
    if with_location {
        out.push(("Location".to_owned(), at("operationResults")));
    }
    out
}

/// The `Location` of a resource-group delete.
pub fn group_headers(req: &Request, subscription: &str, id: Uuid) -> Vec<(String, String)> {
    let version = req.api_version().unwrap_or_default();
    vec![
        (
            "Location".to_owned(),
            format!("{}/subscriptions/{subscription}/operationresults/{id}?api-version={version}", req.base),
        ),
        ("Retry-After".to_owned(), "1".to_owned()),
    ]
}

/// Moves an operation on by one poll: the outcome once it is done, `None` while in progress.
fn advance(app: &App, id: Uuid) -> Result<Option<Result<(), AzureError>>, AzureError> {
    let complete = {
        let mut ops = app.operations.lock();
        if let std::collections::hash_map::Entry::Vacant(entry) = ops.entry(id) {
            // Started by another process sharing the store, or before a restart.
            let pending = app
                .lab
                .read(|s| {
                    Kind::ALL.iter().any(|k| {
                        s.all_of(*k).iter().any(|r| r.meta.pending.as_ref().is_some_and(|p| p.operation_id == id))
                    })
                })
                .map_err(|e| errors::internal(&e.to_string()))?;
            if !pending {
                return Err(errors::operation_not_found(&id.to_string()));
            }
            entry.insert(Op { provisioning: true, polls: 1, started: Instant::now(), outcome: None });
        }
        let Some(op) = ops.get_mut(&id) else {
            return Err(errors::operation_not_found(&id.to_string()));
        };
        op.polls += 1;
        if let Some(outcome) = &op.outcome {
            return Ok(Some(outcome.clone()));
        }
        if op.polls == 1 {
            return Ok(None);
        }
        op.provisioning
    };
    let outcome = if complete { finish(app, id) } else { Ok(()) };
    if let Some(op) = app.operations.lock().get_mut(&id) {
        op.outcome = Some(outcome.clone());
    }
    Ok(Some(outcome))
}

fn finish(app: &App, id: Uuid) -> Result<(), AzureError> {
    let request = vnetlab_control::OwnedRequest::default();
    match app.committer.execute_all(vec![Operation::CompleteOperation { operation_id: id }], request) {
        Ok(_) => Ok(()),
        Err(vnetlab_control::LabError::Rejected { error, .. }) => Err(error),
        Err(e) => Err(errors::internal(&e.to_string())),
    }
}

/// `GET .../locations/{loc}/operations/{id}` (status) and `.../operationResults/{id}` (result).
pub fn operation(
    app: &App,
    req: &Request,
    subscription: &str,
    namespace: &str,
    operation: &str,
    result: bool,
) -> Reply {
    let Ok(id) = Uuid::parse_str(operation) else {
        return errors::operation_not_found(operation).into();
    };
    let _ = (subscription, namespace);
    match advance(app, id) {
        Err(e) => e.into(),
        Ok(None) if result => {
            let location = req.url_with(&[]);
            Reply::empty(202).header("Location", location).header("Retry-After", "1")
        }
        Ok(None) => Reply::ok(json!({"status": "InProgress"})).header("Retry-After", "1"),
        Ok(Some(Ok(()))) if result => Reply::empty(204),
        Ok(Some(Ok(()))) => Reply::ok(json!({"status": "Succeeded"})),
        Ok(Some(Err(e))) if result => e.into(),
        Ok(Some(Err(e))) => {
            Reply::ok(json!({"status": "Failed", "error": {"code": e.code, "message": e.message, "details": []}}))
        }
    }
}

/// `GET /subscriptions/{sub}/operationresults/{id}`: a resource-group delete.
pub fn group_result(app: &App, req: &Request, subscription: &str, operation: &str) -> Reply {
    let Ok(id) = Uuid::parse_str(operation) else {
        return errors::operation_not_found(operation).into();
    };
    let _ = subscription;
    match advance(app, id) {
        Err(e) => e.into(),
        Ok(None) => Reply::empty(202).header("Location", req.url_with(&[])).header("Retry-After", "1"),
        Ok(Some(Ok(()))) => Reply::empty(200),
        Ok(Some(Err(e))) => e.into(),
    }
}

/// Completes provisioning operations older than `older_than` that no client finished polling.
pub fn complete_stale(app: &App, older_than: Duration) {
    let stale: Vec<Uuid> = app
        .operations
        .lock()
        .iter()
        .filter(|(_, op)| op.provisioning && op.outcome.is_none() && op.started.elapsed() >= older_than)
        .map(|(id, _)| *id)
        .collect();
    for id in stale {
        let outcome = finish(app, id);
        if let Some(op) = app.operations.lock().get_mut(&id) {
            op.outcome = Some(outcome);
        }
    }
}
