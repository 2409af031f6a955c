//! The control plane: one path for every change. A front door (CLI, topology file, REST API,
//! portal) turns a request into operations and hands them to a [`Lab`], which runs them through the
//! engine inside one store transaction. Rules live in the engine; durability in the store; here
//! only the wiring, the clock and the id source, which the engine takes as inputs.

mod committer;
mod config;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use uuid::Uuid;
use vnetlab_engine::authorization::Caller;
use vnetlab_engine::{Context, Effect, IdSource, Operation, PrincipalSpec, Provisioning, RoleAssignmentSpec, Settings};
use vnetlab_model::PrincipalType;
use vnetlab_model::{AzureError, Kind, ResourceId, State, View, ViewExt};
use vnetlab_store::{SqliteStore, Store, StoreError, WriteError};

pub use committer::{Committer, OwnedRequest};
pub use config::{Config, ConfigError};

/// The tenant and subscription a new lab starts with.
pub const DEFAULT_TENANT_ID: &str = "0000aaaa-0000-0000-0000-000000000001";
pub const DEFAULT_TENANT_NAME: &str = "vnetlab";
pub const DEFAULT_SUBSCRIPTION_ID: &str = "00000000-0000-0000-0000-000000000001";
pub const DEFAULT_SUBSCRIPTION_NAME: &str = "vnetlab";
/// The principal a new lab starts with: Owner of the default subscription. Managed-identity
/// tokens are issued for it, and the CLI acts as it unless told otherwise.
pub const DEFAULT_PRINCIPAL_OBJECT_ID: &str = "0000bbbb-0000-0000-0000-000000000001";
pub const DEFAULT_PRINCIPAL_APP_ID: &str = "0000bbbb-0000-0000-0000-000000000002";
pub const DEFAULT_PRINCIPAL_NAME: &str = "vnetlab";
/// The default principal's Owner assignment on the default subscription.
pub const DEFAULT_OWNER_ASSIGNMENT: &str = "0000cccc-0000-0000-0000-000000000001";
/// Azure's built-in Owner role.
pub const OWNER_ROLE: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

/// The store's file name inside the lab's home.
pub const STORE_FILE: &str = "vnetlab.sqlite3";

/// Fresh random guids, from outside the engine.
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_guid(&mut self) -> Uuid {
        Uuid::new_v4()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The engine refused operation `index` of the request; nothing was written.
    #[error("{error}")]
    Rejected { index: usize, error: AzureError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl LabError {
    /// The Azure error, when the engine refused the request.
    pub fn azure(&self) -> Option<&AzureError> {
        match self {
            LabError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Who is asking: the REST client's api-version, the origin recorded on created resources, and
/// the principal the request acts as.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Every operation is authorized for this principal before it runs; `None` is the lab
    /// itself (topology files, configuration, completing long-running operations).
    pub caller: Option<&'a Caller>,
    pub api_version: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// The write completes before it answers even when the lab defers provisioning (writes Azure
    /// does not run as long-running operations: tag updates, network watchers, shared keys).
    pub immediate: bool,
}

/// Why a planned write did not commit.
#[derive(Debug)]
pub enum PlannedError<E, P> {
    /// The plan itself failed; nothing was written.
    Plan(E),
    /// The engine refused operation `index` of the plan; nothing was written.
    Rejected {
        index: usize,
        error: AzureError,
        plan: P,
    },
    Store(StoreError),
}

/// What one operation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub effect: Effect,
    pub target: Option<ResourceId>,
    /// How many resources it wrote or removed (0 when nothing needed to change).
    pub changed: usize,
    /// The long-running operation it started, when provisioning is deferred.
    pub operation_id: Option<uuid::Uuid>,
}

/// A committed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub executed: Vec<Executed>,
    /// The revision it committed as; `None` when nothing changed.
    pub revision: Option<u64>,
}

/// A lab: the store, the settings every process shares, and the source of fresh ids.
pub struct Lab<S: Store = SqliteStore> {
    store: S,
    settings: Settings,
    ids: Mutex<RandomIds>,
}

/// The lab's home: `$VNETLAB_HOME`, else `$XDG_DATA_HOME/vnetlab`, else `~/.local/share/vnetlab`.
pub fn default_home() -> PathBuf {
    if let Some(home) = std::env::var_os("VNETLAB_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(data).join("vnetlab");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/vnetlab"),
        None => PathBuf::from(".vnetlab"),
    }
}

impl Lab<SqliteStore> {
    /// Opens the lab in `home` (its store and `config.yaml`), creating it on first use.
    pub fn open(home: &Path) -> Result<Lab<SqliteStore>, LabError> {
        Lab::open_adjusted(home, |_| {})
    }

    /// As [`Lab::open`], with this process's changes to the settings (a server names itself in
    /// operation-status links, and may defer provisioning).
    pub fn open_adjusted(home: &Path, adjust: impl FnOnce(&mut Settings)) -> Result<Lab<SqliteStore>, LabError> {
        let mut config = Config::load(home)?;
        adjust(&mut config.settings);
        let store = SqliteStore::open(home.join(STORE_FILE))?;
        Lab::with_store(store, config.settings)
    }

    /// Opens the lab in `home` to read it; a lab that does not exist yet reads as a new one,
    /// without being created.
    pub fn open_existing(home: &Path) -> Result<Lab<SqliteStore>, LabError> {
        let path = home.join(STORE_FILE);
        if path.exists() {
            return Lab::open(home);
        }
        let config = Config::load(home)?;
        Lab::with_store(SqliteStore::open_in_memory()?, config.settings)
    }
}

impl<S: Store> Lab<S> {
    /// A lab over `store`. A new store gets the default tenant and subscription.
    pub fn with_store(store: S, settings: Settings) -> Result<Lab<S>, LabError> {
        let lab = Lab { store, settings, ids: Mutex::new(RandomIds) };
        let empty = lab.store.read(|s| s.all_of(Kind::Tenant).is_empty() && s.all_of(Kind::Subscription).is_empty())?;
        if empty {
            lab.execute_all(&[
                Operation::TenantPut {
                    tenant_id: DEFAULT_TENANT_ID.into(),
                    display_name: DEFAULT_TENANT_NAME.into(),
                    default_domain: None,
                },
                Operation::SubscriptionPut {
                    subscription_id: DEFAULT_SUBSCRIPTION_ID.into(),
                    display_name: DEFAULT_SUBSCRIPTION_NAME.into(),
                    tenant_id: DEFAULT_TENANT_ID.into(),
                },
            ])?;
        }
        // A lab made before principals existed gets the default one too.
        let unowned = lab.store.read(|s| {
            s.all_of(Kind::Principal).is_empty()
                && ResourceId::subscription(DEFAULT_SUBSCRIPTION_ID).is_ok_and(|id| s.exists(&id))
        })?;
        if unowned {
            lab.execute_all(&default_principal())?;
        }
        Ok(lab)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs one operation in its own transaction.
    pub fn execute(&self, op: &Operation) -> Result<Executed, LabError> {
        let mut applied = self.execute_all(std::slice::from_ref(op))?;
        Ok(applied.executed.remove(0))
    }

    /// Runs operations in order in one transaction: all are committed, or none is.
    pub fn execute_all(&self, ops: &[Operation]) -> Result<Applied, LabError> {
        self.execute_with(ops, &Request::default())
    }

    /// As [`Lab::execute_all`], for a particular request.
    pub fn execute_with(&self, ops: &[Operation], request: &Request<'_>) -> Result<Applied, LabError> {
        match self.execute_planned(request, |_| Ok::<_, std::convert::Infallible>((ops.to_vec(), ()))) {
            Ok((applied, ())) => Ok(applied),
            Err(PlannedError::Rejected { index, error, .. }) => Err(LabError::Rejected { index, error }),
            Err(PlannedError::Store(e)) => Err(LabError::Store(e)),
            Err(PlannedError::Plan(never)) => match never {},
        }
    }

    /// Plans operations from the current state and runs them, all in one transaction: the state
    /// the plan saw is the state they run on, whatever other processes do meanwhile. `plan` also
    /// returns what the caller wants back (such as where each operation came from).
    pub fn execute_planned<P, E>(
        &self,
        request: &Request<'_>,
        plan: impl FnOnce(&State) -> Result<(Vec<Operation>, P), E>,
    ) -> Result<(Applied, P), PlannedError<E, P>> {
        self.execute_then(request, plan, |_, _, planned| planned)
    }

    /// As [`Lab::execute_planned`], and `finish` reads the state the operations leave, in the same
    /// transaction (an API's response body is the resource as this write made it).
    pub fn execute_then<P, E, R>(
        &self,
        request: &Request<'_>,
        plan: impl FnOnce(&State) -> Result<(Vec<Operation>, P), E>,
        finish: impl FnOnce(&State, &[Executed], P) -> R,
    ) -> Result<(Applied, R), PlannedError<E, P>> {
        let now = SystemTime::now();
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let settings = &self.settings;
        let result = self.store.write(|w| {
            let mut batch = Batch { writer: w, ids: &mut ids, settings, now };
            batch.execute_then(request, plan, finish)
        });
        match result {
            Ok(committed) => {
                let (executed, finished) = committed.value;
                Ok((Applied { executed, revision: committed.revision }, finished))
            }
            Err(WriteError::Rejected(e)) => Err(e),
            Err(WriteError::Store(e)) => Err(PlannedError::Store(e)),
        }
    }

    /// Reads the current state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, LabError> {
        Ok(self.store.read(f)?)
    }

    /// Runs requests in one store transaction, one after another: each sees what the ones before
    /// it left, one that fails takes back only its own changes, and one commit makes them all
    /// durable. Each job answers (its continuation runs) once the commit is known.
    pub fn execute_batch(&self, jobs: Vec<Job>) {
        let now = SystemTime::now();
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let settings = &self.settings;
        let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
        let result = self.store.write(|w| {
            let mut batch = Batch { writer: w, ids: &mut ids, settings, now };
            for job in jobs {
                answers.push(job(&mut batch));
            }
            Ok::<(), std::convert::Infallible>(())
        });
        let outcome = match result {
            Ok(committed) => Ok(committed.revision),
            Err(WriteError::Store(e)) => Err(e),
            Err(WriteError::Rejected(never)) => match never {},
        };
        for answer in answers {
            answer(outcome.clone());
        }
    }
}

/// The default principal and its Owner assignment on the default subscription.
pub fn default_principal() -> Vec<Operation> {
    let scope = format!("/subscriptions/{DEFAULT_SUBSCRIPTION_ID}");
    let assignment = ResourceId::directory(DEFAULT_TENANT_ID, Kind::RoleAssignment, DEFAULT_OWNER_ASSIGNMENT)
        .expect("constant directory id");
    vec![
        Operation::PrincipalPut {
            spec: PrincipalSpec {
                tenant_id: DEFAULT_TENANT_ID.into(),
                object_id: DEFAULT_PRINCIPAL_OBJECT_ID.into(),
                display_name: DEFAULT_PRINCIPAL_NAME.into(),
                principal_type: PrincipalType::ServicePrincipal,
                app_id: Some(DEFAULT_PRINCIPAL_APP_ID.into()),
                user_principal_name: None,
                secret_digest: None,
                guest_of: Vec::new(),
            },
        },
        Operation::RoleAssignmentPut {
            id: assignment,
            spec: RoleAssignmentSpec {
                role_definition_id: format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{OWNER_ROLE}"),
                scope,
                principal_id: DEFAULT_PRINCIPAL_OBJECT_ID.into(),
                principal_type: Some(PrincipalType::ServicePrincipal),
                description: None,
                created_by: None,
            },
        },
    ]
}

/// A request in a batch: it runs on the batch, and returns what to do once the batch's commit is
/// known (the revision it committed as, or why it did not).
pub type Job = Box<dyn for<'b, 'w> FnOnce(&mut Batch<'b, 'w>) -> Answer + Send>;
/// What a job does once its batch's commit is known.
pub type Answer = Box<dyn FnOnce(Result<Option<u64>, StoreError>) + Send>;

/// A write transaction that requests run on, one after another.
pub struct Batch<'b, 'w> {
    writer: &'b mut vnetlab_store::Writer<'w>,
    ids: &'b mut RandomIds,
    settings: &'b Settings,
    now: SystemTime,
}

impl Batch<'_, '_> {
    /// Plans and runs one request's operations on the batch's state. If the plan fails or the
    /// engine refuses an operation, the request's changes are taken back and the batch goes on.
    pub fn execute_then<P, E, R>(
        &mut self,
        request: &Request<'_>,
        plan: impl FnOnce(&State) -> Result<(Vec<Operation>, P), E>,
        finish: impl FnOnce(&State, &[Executed], P) -> R,
    ) -> Result<(Vec<Executed>, R), PlannedError<E, P>> {
        let mark = self.writer.mark();
        let (ops, planned) = plan(self.writer.state()).map_err(PlannedError::Plan)?;
        let immediate;
        let settings = if request.immediate && self.settings.provisioning != Provisioning::Immediate {
            immediate = Settings { provisioning: Provisioning::Immediate, ..self.settings.clone() };
            &immediate
        } else {
            self.settings
        };
        let mut executed = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            if let Some(caller) = request.caller
                && let Err(error) = vnetlab_engine::authorization::authorize(self.writer.state(), caller, op)
            {
                self.writer.roll_back_to(mark);
                return Err(PlannedError::Rejected { index, error, plan: planned });
            }
            let mut ctx = Context::new(&mut *self.ids, settings).at(self.now);
            ctx.api_version = request.api_version.map(str::to_owned);
            ctx.origin = request.origin.map(str::to_owned);
            let applied = vnetlab_engine::apply(self.writer.state(), op, &mut ctx).and_then(|outcome| {
                // What the operation links to is known once it has run: a write may join only
                // what the caller may join.
                if let Some(caller) = request.caller {
                    vnetlab_engine::authorization::authorize_links(self.writer.state(), caller, op, &outcome.changes)?;
                }
                Ok(outcome)
            });
            match applied {
                Ok(outcome) => {
                    executed.push(Executed {
                        effect: outcome.effect,
                        target: outcome.target,
                        changed: outcome.changes.len(),
                        operation_id: outcome.operation_id,
                    });
                    self.writer.stage(outcome.changes);
                }
                Err(error) => {
                    self.writer.roll_back_to(mark);
                    return Err(PlannedError::Rejected { index, error, plan: planned });
                }
            }
        }
        let finished = finish(self.writer.state(), &executed, planned);
        Ok((executed, finished))
    }
}
