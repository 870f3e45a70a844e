//! Durable storage: a log of committed transactions, `fsync`ed before the
//! commit is applied or acknowledged.
//!
//! # File format
//!
//! A sequence of records, each a header line and a JSON body:
//!
//! ```text
//! RVSDB <body length in bytes> <CRC-32 of the body, 8 hex digits>\n
//! <body>\n
//! ```
//!
//! The first record is a snapshot, `{"kind": "snapshot", "schema": …,
//! "data": {table: {uuid: row}}}`; each later one a commit, `{"kind":
//! "commit", "txn_id": …, "comment": …, "changes": {table: {uuid: row or
//! null}}}`, where a row holds the persistent columns that differ from their
//! defaults. Ephemeral columns are never written.
//!
//! # Crashes
//!
//! A crash while appending leaves at most one incomplete record at the end.
//! On open, a last record that is cut short or fails its checksum is
//! reported, and the file is truncated to the last whole record (nothing that
//! was acknowledged is lost: a commit is acknowledged only after its record
//! was synced). A bad record *followed by more data* is corruption, not a
//! torn append: opening fails with the file name and byte offset, and the
//! file is left alone for a person to look at.
//!
//! When the log has grown to several times the size of a snapshot, it is
//! compacted: a fresh snapshot is written to a temporary file, synced, and
//! renamed over the log.

use crate::db::{row_columns_json, Commit, Database};
use crate::error::Error;
use crate::schema::DatabaseSchema;
use crate::types::Uuid;
use serde_json::{json, Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What can go wrong with the database file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// I/O on the database file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is damaged somewhere other than its last record.
    #[error("{}: corrupt record at byte offset {offset}: {reason}; the file was left as it is (move it aside to start with an empty database, or restore a backup)", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// The file holds something that is not a valid database.
    #[error("{}: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: Error,
    },
}

impl StorageError {
    fn io(path: &Path, source: io::Error) -> StorageError {
        StorageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn invalid(path: &Path, e: Error) -> StorageError {
        StorageError::Invalid {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

const MAGIC: &str = "RVSDB";

/// CRC-32 (IEEE), bytewise with a table built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

fn encode(body: &Value) -> Vec<u8> {
    let b = serde_json::to_vec(body).expect("JSON values serialize");
    let mut out = format!("{MAGIC} {} {:08x}\n", b.len(), crc32(&b)).into_bytes();
    out.extend_from_slice(&b);
    out.push(b'\n');
    out
}

/// The durable log of one database.
#[derive(Debug)]
pub struct Storage {
    path: PathBuf,
    file: File,
    /// Bytes in the file.
    len: u64,
    /// Bytes of the snapshot at its start.
    snapshot_len: u64,
}

/// What opening a file found besides the data.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Set when a torn last record was cut off: its offset and size.
    pub truncated: Option<(u64, u64)>,
    /// Commit records replayed.
    pub commits: usize,
}

fn fsync_dir(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

impl Storage {
    /// Creates a new database file holding `schema` and no rows. Fails if
    /// the file exists.
    pub fn create(path: &Path, schema: &DatabaseSchema) -> Result<Storage, StorageError> {
        let db = Database::new(Arc::new(schema.clone()));
        let rec = encode(&snapshot_body(&db));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        file.write_all(&rec)
            .map_err(|e| StorageError::io(path, e))?;
        file.sync_all().map_err(|e| StorageError::io(path, e))?;
        fsync_dir(path).map_err(|e| StorageError::io(path, e))?;
        Ok(Storage {
            path: path.to_path_buf(),
            file,
            len: rec.len() as u64,
            snapshot_len: rec.len() as u64,
        })
    }

    /// Opens an existing file and replays it. A torn last record is cut off
    /// (see the module docs) and reported.
    pub fn open(path: &Path) -> Result<(Storage, Database, OpenReport), StorageError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| StorageError::io(path, e))?;
        let mut report = OpenReport::default();
        let mut off = 0usize;
        let mut db: Option<Database> = None;
        let mut snapshot_len = 0u64;
        let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        while off < bytes.len() {
            match parse_record(&bytes[off..]) {
                Ok((body, used)) => {
                    let v: Value = serde_json::from_slice(body)
                        .map_err(|e| corrupt(off, format!("record is not valid JSON: {e}")))?;
                    match &mut db {
                        None => {
                            db = Some(
                                load_snapshot(&v).map_err(|e| StorageError::invalid(path, e))?,
                            );
                            snapshot_len = used as u64;
                        }
                        Some(d) => {
                            replay_commit(d, &v).map_err(|e| {
                                corrupt(off, format!("commit record does not apply: {}", e))
                            })?;
                            report.commits += 1;
                        }
                    }
                    off += used;
                }
                Err(RecordError::Torn(_)) if db.is_some() => {
                    // The last append did not finish: nothing in it was
                    // acknowledged. Cut it off.
                    report.truncated = Some((off as u64, (bytes.len() - off) as u64));
                    file.set_len(off as u64)
                        .map_err(|e| StorageError::io(path, e))?;
                    file.sync_all().map_err(|e| StorageError::io(path, e))?;
                    break;
                }
                // A damaged record with data after it, or a damaged
                // snapshot: not a torn append.
                Err(RecordError::Torn(reason)) | Err(RecordError::Bad(reason)) => {
                    return Err(corrupt(off, reason));
                }
            }
        }
        let db = db.ok_or_else(|| corrupt(0, "the file holds no snapshot record".into()))?;
        let len = off as u64;
        file.seek(SeekFrom::End(0))
            .map_err(|e| StorageError::io(path, e))?;
        Ok((
            Storage {
                path: path.to_path_buf(),
                file,
                len,
                snapshot_len,
            },
            db,
            report,
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never, once created).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `commit` (made against `db`, not yet applied) and syncs it to
    /// disk. Commits that change only ephemeral columns write nothing.
    pub fn append(&mut self, db: &Database, commit: &Commit) -> Result<(), StorageError> {
        if self.append_unsynced(db, commit)? {
            self.file
                .sync_data()
                .map_err(|e| StorageError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Writes `commit` without syncing it; returns whether anything was
    /// written. The caller must sync ([`Storage::sync_handle`]) before it
    /// acknowledges the commit to anyone: this is how several clients'
    /// commits share one `fsync` (group commit).
    pub fn append_unsynced(
        &mut self,
        db: &Database,
        commit: &Commit,
    ) -> Result<bool, StorageError> {
        let Some(body) = commit_body(db, commit) else {
            return Ok(false);
        };
        let rec = encode(&body);
        if let Err(e) = self.file.write_all(&rec) {
            // Leave no partial record behind for the next commit to follow.
            let _ = self.file.set_len(self.len);
            return Err(StorageError::io(&self.path, e));
        }
        self.len += rec.len() as u64;
        Ok(true)
    }

    /// A handle on the file for syncing it outside any lock.
    pub fn sync_handle(&self) -> Result<File, StorageError> {
        self.file
            .try_clone()
            .map_err(|e| StorageError::io(&self.path, e))
    }

    /// Whether the log has grown enough to be worth compacting.
    pub fn wants_compaction(&self) -> bool {
        self.len > 4 * self.snapshot_len.max(256 * 1024)
    }

    /// Rewrites the file as one snapshot of `db` (which must be the state
    /// after every appended commit).
    pub fn compact(&mut self, db: &Database) -> Result<(), StorageError> {
        let rec = encode(&snapshot_body(db));
        let tmp = self.path.with_extension("tmp");
        let io = |e| StorageError::io(&tmp, e);
        {
            let mut f = File::create(&tmp).map_err(io)?;
            f.write_all(&rec).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| StorageError::io(&self.path, e))?;
        fsync_dir(&self.path).map_err(|e| StorageError::io(&self.path, e))?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.len = rec.len() as u64;
        self.snapshot_len = self.len;
        Ok(())
    }
}

enum RecordError {
    /// The data ends inside this record.
    Torn(String),
    /// The record is damaged.
    Bad(String),
}

/// Parses one record at the start of `b`: its body and total length.
fn parse_record(b: &[u8]) -> Result<(&[u8], usize), RecordError> {
    let Some(nl) = b.iter().take(64).position(|&c| c == b'\n') else {
        return Err(if b.len() < 64 {
            RecordError::Torn("the last record's header is cut short".into())
        } else {
            RecordError::Bad("no record header here".into())
        });
    };
    let header = std::str::from_utf8(&b[..nl])
        .map_err(|_| RecordError::Bad("record header is not text".into()))?;
    let mut parts = header.split(' ');
    let (Some(MAGIC), Some(len), Some(crc), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RecordError::Bad(format!("bad record header {header:?}")));
    };
    let len: usize = len
        .parse()
        .map_err(|_| RecordError::Bad(format!("bad record length in {header:?}")))?;
    let crc = u32::from_str_radix(crc, 16)
        .map_err(|_| RecordError::Bad(format!("bad checksum in {header:?}")))?;
    let start = nl + 1;
    let end = start + len;
    if b.len() < end + 1 {
        return Err(RecordError::Torn(format!(
            "the last record is cut short ({} of {} bytes)",
            b.len() - start,
            len + 1
        )));
    }
    let body = &b[start..end];
    let whole = end + 1;
    if crc32(body) != crc || b[end] != b'\n' {
        let reason = "record checksum does not match".to_string();
        // A bad checksum on the very last record is a torn write too.
        return Err(if whole == b.len() {
            RecordError::Torn(reason)
        } else {
            RecordError::Bad(reason)
        });
    }
    Ok((body, whole))
}

fn snapshot_body(db: &Database) -> Value {
    json!({
        "kind": "snapshot",
        "schema": db.schema.to_json(),
        "data": db.snapshot_json(true),
    })
}

fn load_snapshot(v: &Value) -> Result<Database, Error> {
    if v.get("kind").and_then(Value::as_str) != Some("snapshot") {
        return Err(Error::syntax("the first record is not a snapshot"));
    }
    let schema = DatabaseSchema::from_json(
        v.get("schema")
            .ok_or_else(|| Error::syntax("the snapshot has no schema"))?,
    )?;
    let mut db = Database::new(Arc::new(schema));
    if let Some(d) = v.get("data") {
        db.load_snapshot(d)?;
    }
    Ok(db)
}

fn commit_body(db: &Database, commit: &Commit) -> Option<Value> {
    let mut tables: Map<String, Value> = Map::new();
    for ch in &commit.changes {
        let ts = db.table_schema(ch.table);
        let row = match &ch.new {
            None => Value::Null,
            Some(new) => {
                if let Some(old) = &ch.old {
                    let persistent_same = ts
                        .columns
                        .iter()
                        .enumerate()
                        .all(|(i, c)| c.ephemeral || old.cols[i] == new.cols[i]);
                    if persistent_same {
                        continue; // only ephemeral columns changed
                    }
                }
                row_columns_json(ts, new, true)
            }
        };
        tables
            .entry(db.table_names()[ch.table].clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("tables are objects")
            .insert(ch.uuid.to_string(), row);
    }
    if tables.is_empty() {
        return None;
    }
    let mut body =
        json!({"kind": "commit", "txn_id": commit.txn_id.to_string(), "changes": tables});
    if let Some(c) = &commit.comment {
        body["comment"] = json!(c);
    }
    Some(body)
}

fn replay_commit(db: &mut Database, v: &Value) -> Result<(), Error> {
    if v.get("kind").and_then(Value::as_str) != Some("commit") {
        return Err(Error::syntax("record is not a commit"));
    }
    let changes = v
        .get("changes")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::syntax("commit has no changes"))?;
    let mut out = Vec::new();
    for (tname, rows) in changes {
        let t = db.table_index(tname)?;
        let ts = db.table_schema(t).clone();
        for (u, row) in rows
            .as_object()
            .ok_or_else(|| Error::syntax("commit table is not an object"))?
        {
            let uuid = Uuid::parse(u).ok_or_else(|| Error::syntax(format!("bad uuid {u:?}")))?;
            let old = db.row(t, &uuid).cloned();
            let new = match row {
                Value::Null => None,
                r => {
                    // Ephemeral columns keep their current (or default) values.
                    let mut base = crate::db::row_from_json(&ts, uuid, &json!({}), None)?;
                    if let Some(o) = &old {
                        for (i, c) in ts.columns.iter().enumerate() {
                            if c.ephemeral {
                                base.cols[i] = o.cols[i].clone();
                            }
                        }
                    }
                    Some(crate::db::row_from_json(&ts, uuid, r, Some(&base))?)
                }
            };
            out.push(crate::db::RowChange {
                table: t,
                uuid,
                old,
                new,
            });
        }
    }
    let txn_id = v
        .get("txn_id")
        .and_then(Value::as_str)
        .and_then(Uuid::parse)
        .unwrap_or_else(Uuid::random);
    db.apply(&Commit {
        txn_id,
        changes: out,
        comment: None,
    });
    Ok(())
}
