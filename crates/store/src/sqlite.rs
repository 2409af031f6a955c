//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a committed write
//! survives a crash of the process or of the machine.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use vnetlab_model::{Change, Kind, Meta, Resource, ResourceId, State, Stored};

use crate::{ChangeOp, ChangeRecord, Committed, Store, StoreError, WriteError, Writer};

const SCHEMA_VERSION: u32 = 1;
const SCHEMA: &str = include_str!("schema.sql");

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    state: State,
    /// `PRAGMA data_version` when the state was last brought up to date: it changes when another
    /// connection commits.
    data_version: i64,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Directory { path: dir.display().to_string(), message: e.to_string() })?;
        }
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Database { path: path.display().to_string(), message: e.to_string() })?;
        SqliteStore::init(path, conn, true)
    }

    /// A store that lives in memory and ends with the process, for commands that must not create
    /// a lab on disk (reading a lab that does not exist yet).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory()
            .map_err(|e| StoreError::Database { path: path.display().to_string(), message: e.to_string() })?;
        SqliteStore::init(path, conn, false)
    }

    fn init(path: PathBuf, mut conn: Connection, on_disk: bool) -> Result<SqliteStore, StoreError> {
        let display = path.display().to_string();
        let db = |e: rusqlite::Error| StoreError::Database { path: display.clone(), message: e.to_string() };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        if on_disk {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Database {
                    path: display,
                    message: format!("cannot switch to WAL mode (got {mode})"),
                });
            }
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            tx.execute_batch(SCHEMA).map_err(db)?;
            let found: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
                .optional()
                .map_err(db)?;
            match found.as_deref().map(str::parse::<u32>) {
                None => {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        params![SCHEMA_VERSION.to_string()],
                    )
                    .map_err(db)?;
                    tx.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', '0')", []).map_err(db)?;
                }
                Some(Ok(v)) if v <= SCHEMA_VERSION => {}
                Some(Ok(v)) => {
                    return Err(StoreError::NewerSchema { path: display, found: v, supported: SCHEMA_VERSION });
                }
                Some(Err(_)) => {
                    return Err(StoreError::Corrupt {
                        path: display,
                        id: "meta.schema_version".into(),
                        reason: "not a number".into(),
                    });
                }
            }
            tx.commit().map_err(db)?;
        }
        let store = SqliteStore { path, inner: Mutex::new(Inner { conn, state: State::new(), data_version: -1 }) };
        store.reload()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::Database { path: self.path.display().to_string(), message: e.to_string() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the state half-applied: a write's staged
        // changes are taken back when its writer is dropped, during unwinding too.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Loads the whole state from the `resources` table.
    fn reload(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let Inner { conn, state, data_version } = &mut *inner;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(|e| self.err(e))?;
        let fresh = self.load(&tx)?;
        *data_version = tx.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        *state = fresh;
        Ok(())
    }

    /// The state the `resources` table holds, at the committed revision.
    fn load(&self, conn: &Connection) -> Result<State, StoreError> {
        let mut fresh = State::new();
        let mut stmt = conn.prepare("SELECT id, body, etag, meta, revision FROM resources").map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (id, body, etag, meta, revision) = row.map_err(|e| self.err(e))?;
            fresh.insert(self.decode(&id, &body, etag, &meta, revision)?);
        }
        fresh.set_revision(self.committed_revision(conn)?);
        Ok(fresh)
    }

    fn decode(&self, id: &str, body: &str, etag: String, meta: &str, revision: i64) -> Result<Stored, StoreError> {
        let corrupt =
            |reason: String| StoreError::Corrupt { path: self.path.display().to_string(), id: id.to_owned(), reason };
        let resource: Resource = serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?;
        let meta: Meta = serde_json::from_str(meta).map_err(|e| corrupt(e.to_string()))?;
        let revision = u64::try_from(revision).map_err(|_| corrupt("negative revision".into()))?;
        Ok(Stored { resource, etag, revision, meta })
    }

    fn committed_revision(&self, conn: &Connection) -> Result<u64, StoreError> {
        let value: String = conn
            .prepare_cached("SELECT value FROM meta WHERE key = 'revision'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        value.parse().map_err(|_| StoreError::Corrupt {
            path: self.path.display().to_string(),
            id: "meta.revision".into(),
            reason: format!("'{value}' is not a revision"),
        })
    }

    fn read_changes(&self, conn: &Connection, after: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT revision, seq, id, type, op, body, etag, meta FROM changes
                 WHERE revision > ?1 ORDER BY revision, seq LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (revision, seq, id, resource_type, op, body, etag, meta) = row.map_err(|e| self.err(e))?;
            let corrupt = |reason: &str| StoreError::Corrupt {
                path: self.path.display().to_string(),
                id: format!("change {revision}.{seq} of {id}"),
                reason: reason.to_owned(),
            };
            let parsed_id = ResourceId::parse(&id).map_err(|e| corrupt(&e.to_string()))?;
            let (op, stored) = match (op.as_str(), body, etag, meta) {
                ("put", Some(body), Some(etag), Some(meta)) => {
                    (ChangeOp::Put, Some(self.decode(&id, &body, etag, &meta, revision)?))
                }
                ("delete", _, _, _) => (ChangeOp::Delete, None),
                _ => return Err(corrupt("incomplete change record")),
            };
            out.push(ChangeRecord {
                revision: u64::try_from(revision).map_err(|_| corrupt("negative revision"))?,
                seq: u32::try_from(seq).map_err(|_| corrupt("bad sequence number"))?,
                id: parsed_id,
                resource_type,
                op,
                stored,
            });
        }
        Ok(out)
    }

    /// Brings `state` up to the committed revision by applying the change feed.
    fn catch_up(&self, conn: &Connection, state: &mut State) -> Result<(), StoreError> {
        let committed = self.committed_revision(conn)?;
        if committed == state.revision() {
            return Ok(());
        }
        if committed < state.revision() {
            // The file went back in time (replaced underneath us): start over from its contents.
            *state = self.load(conn)?;
            return Ok(());
        }
        for record in self.read_changes(conn, state.revision(), usize::MAX)? {
            let _ = state.apply(&[record.to_change()], record.revision);
        }
        state.set_revision(committed);
        Ok(())
    }

    fn write_rows(&self, conn: &Connection, revision: u64, changes: &[Change]) -> Result<(), StoreError> {
        let db = |e: rusqlite::Error| self.err(e);
        let rev = i64::try_from(revision).map_err(|_| StoreError::Database {
            path: self.path.display().to_string(),
            message: "revision overflow".into(),
        })?;
        let mut put = conn
            .prepare_cached(
                "INSERT INTO resources (key, id, type, body, etag, meta, revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (key) DO UPDATE SET id = excluded.id, type = excluded.type, body = excluded.body,
                   etag = excluded.etag, meta = excluded.meta, revision = excluded.revision",
            )
            .map_err(db)?;
        let mut delete = conn.prepare_cached("DELETE FROM resources WHERE key = ?1").map_err(db)?;
        let mut log = conn
            .prepare_cached(
                "INSERT INTO changes (revision, seq, key, id, type, op, body, etag, meta)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(db)?;
        for (seq, change) in changes.iter().enumerate() {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            match change {
                Change::Put(stored) => {
                    let id = stored.id();
                    let body = serde_json::to_string(&stored.resource).map_err(|e| StoreError::Database {
                        path: self.path.display().to_string(),
                        message: format!("cannot encode {id}: {e}"),
                    })?;
                    let meta = serde_json::to_string(&stored.meta).unwrap_or_else(|_| "{}".into());
                    let kind = stored.kind().arm_type();
                    put.execute(params![id.key(), id.as_str(), kind, body, stored.etag, meta, rev]).map_err(db)?;
                    log.execute(params![rev, seq, id.key(), id.as_str(), kind, "put", body, stored.etag, meta])
                        .map_err(db)?;
                }
                Change::Delete(id) => {
                    let kind = id.kind().map(Kind::arm_type).unwrap_or_default();
                    delete.execute(params![id.key()]).map_err(db)?;
                    log.execute(params![
                        rev,
                        seq,
                        id.key(),
                        id.as_str(),
                        kind,
                        "delete",
                        None::<String>,
                        None::<String>,
                        None::<String>
                    ])
                    .map_err(db)?;
                }
            }
        }
        conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'revision'")
            .and_then(|mut s| s.execute(params![revision.to_string()]))
            .map_err(db)?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn write<T, E>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T, E>) -> Result<Committed<T>, WriteError<E>> {
        let mut inner = self.lock();
        let Inner { conn, state, data_version } = &mut *inner;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        self.catch_up(&tx, state)?;
        let mut writer = Writer::new(state);
        let value = match f(&mut writer) {
            Ok(value) => value,
            // Dropping the writer takes its staged changes back, and dropping `tx` rolls back.
            Err(e) => return Err(WriteError::Rejected(e)),
        };
        if writer.staged.is_empty() {
            return Ok(Committed { value, revision: None });
        }
        let revision = writer.revision;
        self.write_rows(&tx, revision, &writer.staged)?;
        tx.commit().map_err(|e| self.err(e))?;
        writer.committed = true;
        drop(writer);
        state.set_revision(revision);
        // Our own commit does not move data_version; leave it as it was so that another process's
        // commit in between is still noticed on the next read.
        let _ = data_version;
        Ok(Committed { value, revision: Some(revision) })
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, StoreError> {
        let mut inner = self.lock();
        let Inner { conn, state, data_version } = &mut *inner;
        let now: i64 = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        if now != *data_version {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(|e| self.err(e))?;
            self.catch_up(&tx, state)?;
            tx.commit().map_err(|e| self.err(e))?;
            *data_version = now;
        }
        Ok(f(state))
    }

    fn changes_since(&self, revision: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let inner = self.lock();
        self.read_changes(&inner.conn, revision, limit)
    }

    fn revision(&self) -> Result<u64, StoreError> {
        let inner = self.lock();
        self.committed_revision(&inner.conn)
    }
}
