//! Durable storage of the lab: every write is one transaction that commits a new revision and
//! appends to a change feed that other processes can follow. The state is also kept in memory,
//! indexed, and brought up to date from the feed before every read and inside every write, so any
//! number of processes can share one store.

mod sqlite;

use vnetlab_model::{Change, ResourceId, State, Stored, Undo};

pub use sqlite::SqliteStore;

/// Why the store failed. User errors never end up here: they are the caller's `E`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Database { path: String, message: String },
    #[error("store {path}: the record of {id} cannot be read ({reason}); the file may be damaged")]
    Corrupt { path: String, id: String, reason: String },
    #[error(
        "store {path} uses schema version {found}, but this vnetlab reads up to version {supported}; upgrade vnetlab"
    )]
    NewerSchema { path: String, found: u32, supported: u32 },
    #[error("cannot create the store directory {path}: {message}")]
    Directory { path: String, message: String },
}

/// A write refused by the caller's own logic, or failed in the store.
#[derive(Debug)]
pub enum WriteError<E> {
    /// The closure returned an error; nothing was written.
    Rejected(E),
    Store(StoreError),
}

impl<E> From<StoreError> for WriteError<E> {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// The result of a committed write.
#[derive(Debug)]
pub struct Committed<T> {
    pub value: T,
    /// The revision the write committed as; `None` when it changed nothing.
    pub revision: Option<u64>,
}

/// Whether a change wrote or removed a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Put,
    Delete,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub revision: u64,
    pub seq: u32,
    pub id: ResourceId,
    /// ARM's type string of the resource.
    pub resource_type: String,
    pub op: ChangeOp,
    /// The resource as written, for puts.
    pub stored: Option<Stored>,
}

impl ChangeRecord {
    pub fn to_change(&self) -> Change {
        match &self.stored {
            Some(s) if self.op == ChangeOp::Put => Change::Put(Box::new(s.clone())),
            _ => Change::Delete(self.id.clone()),
        }
    }
}

/// Rebuilds a state from a change feed that starts at revision 0.
pub fn replay(records: &[ChangeRecord]) -> State {
    let mut state = State::new();
    for r in records {
        let _ = state.apply(&[r.to_change()], r.revision);
    }
    state
}

/// A write transaction in progress: the state as it will be, and the changes staged so far.
pub struct Writer<'a> {
    state: &'a mut State,
    revision: u64,
    undo: Vec<Undo>,
    staged: Vec<Change>,
    committed: bool,
}

impl<'a> Writer<'a> {
    fn new(state: &'a mut State) -> Writer<'a> {
        let revision = state.revision() + 1;
        Writer { state, revision, undo: Vec::new(), staged: Vec::new(), committed: false }
    }

    /// The state with everything staged so far applied.
    pub fn state(&self) -> &State {
        self.state
    }

    /// The revision this write will commit as.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Stages changes: they are visible in [`Writer::state`] at once and committed with the write.
    pub fn stage(&mut self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let undo = self.state.apply(&changes, self.revision);
        self.undo.push(undo);
        self.staged.extend(changes);
    }

    /// A point this write can go back to: what is staged after it can be taken back alone.
    pub fn mark(&self) -> Mark {
        Mark { undo: self.undo.len(), staged: self.staged.len() }
    }

    /// Takes back what was staged since `mark`; what was staged before it stays.
    pub fn roll_back_to(&mut self, mark: Mark) {
        while self.undo.len() > mark.undo {
            if let Some(undo) = self.undo.pop() {
                self.state.undo(undo);
            }
        }
        self.staged.truncate(mark.staged);
    }

    fn roll_back(&mut self) {
        self.roll_back_to(Mark { undo: 0, staged: 0 });
    }
}

/// A point in a write (see [`Writer::mark`]).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    undo: usize,
    staged: usize,
}

impl Drop for Writer<'_> {
    /// A write that did not commit, however it ended (an error, a panic in the caller's closure),
    /// leaves the in-memory state as it was.
    fn drop(&mut self) {
        if !self.committed {
            self.roll_back();
        }
    }
}

/// Storage of the lab's state.
pub trait Store: Send + Sync {
    /// Runs `f` inside one write transaction on the current state and commits what it staged, as
    /// one new revision. When `f` fails, or the commit does, nothing is written. A returned `Ok`
    /// means the write is durable.
    fn write<T, E>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T, E>) -> Result<Committed<T>, WriteError<E>>;

    /// Runs `f` on the current state (including every other process's committed writes).
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, StoreError>;

    /// The change feed after `revision`, oldest first, at most `limit` records.
    fn changes_since(&self, revision: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;

    /// The last committed revision.
    fn revision(&self) -> Result<u64, StoreError>;
}
