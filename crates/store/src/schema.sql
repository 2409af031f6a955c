-- vnetlab store, schema version 1.
-- resources: the current state, one row per resource, keyed by the lower-cased resource id.
-- changes:   the change feed, every write in commit order; replaying it rebuilds `resources`.
-- meta:      schema_version and revision (the last committed revision).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS resources (
    key      TEXT PRIMARY KEY,
    id       TEXT NOT NULL,
    type     TEXT NOT NULL,
    body     TEXT NOT NULL,
    etag     TEXT NOT NULL,
    meta     TEXT NOT NULL,
    revision INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS changes (
    revision INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    key      TEXT NOT NULL,
    id       TEXT NOT NULL,
    type     TEXT NOT NULL,
    op       TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    body     TEXT,
    etag     TEXT,
    meta     TEXT,
    PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
