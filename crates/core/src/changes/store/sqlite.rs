//! The memories of sends in a local SQLite file of their own (`HUB_CHANGE_STATE_PATH`): a
//! snapshot part is megabytes, and writing it must never hold the lock of the write-back store.
//! A head is replaced by `UPDATE … WHERE generation = ?` (no row changed: another run wrote
//! first), parts are inserted once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{ChangeStore, Generation, StoreError};

/// Where the file is when `HUB_CHANGE_STATE_PATH` does not say: beside the write-back store.
pub const DEFAULT_FILE_NAME: &str = "change-state.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS change_heads (
    scope TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    head BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS change_parts (
    scope TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (scope, snapshot, seq)
);
";

/// Heads and snapshot parts in one SQLite file.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Open the file, creating it (and its directory) and its tables when missing.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!(
                "the memory of sends ({}) cannot be opened: {e}",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(&e))?;
        }
        let conn = Connection::open(path).map_err(|e| unavailable(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| unavailable(&e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| unavailable(&e))?;
        durable(&conn, Durability::Synced).map_err(|e| unavailable(&e))?;
        conn.execute_batch(SCHEMA).map_err(|e| unavailable(&e))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// Run `f` on the connection off the async runtime (SQLite calls block).
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the memory of sends: task failed: {e}")))?
    }
}

/// When a commit reaches the disk. In WAL mode commits reach the log in order, and a sync of the
/// log makes every commit before it durable too.
#[derive(Debug, Clone, Copy)]
enum Durability {
    /// Synced before the call returns (`synchronous=FULL`): a head, which says what is saved.
    Synced,
    /// Synced by the next synced commit (`synchronous=NORMAL`): a snapshot's parts, which the
    /// head naming them is written after, and deletes. Lost with the machine before that head,
    /// they are parts no head names (a later run deletes them); a sync per part cost a run a
    /// millisecond or more each, 77 parts at 10 000 000 keys.
    WithNextSync,
}

fn durable(c: &Connection, d: Durability) -> rusqlite::Result<()> {
    let level = match d {
        Durability::Synced => "FULL",
        Durability::WithNextSync => "NORMAL",
    };
    c.pragma_update(None, "synchronous", level)
}

fn failed(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("the memory of sends (SQLite): {e}"))
}

#[async_trait]
impl ChangeStore for SqliteStore {
    fn place(&self) -> String {
        self.path.display().to_string()
    }

    async fn read_head(&self, scope: &str) -> Result<Option<(Generation, Vec<u8>)>, StoreError> {
        let scope = scope.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT generation, head FROM change_heads WHERE scope = ?1",
                [&scope],
                |r| Ok((Generation(r.get(0)?), r.get(1)?)),
            )
            .optional()
            .map_err(failed)
        })
        .await
    }

    async fn write_head(
        &self,
        scope: &str,
        head: &[u8],
        expected: Generation,
    ) -> Result<Generation, StoreError> {
        let (scope, head) = (scope.to_string(), head.to_vec());
        self.with(move |c| {
            durable(c, Durability::Synced).map_err(failed)?;
            let changed = if expected == Generation::ABSENT {
                c.execute(
                    "INSERT INTO change_heads (scope, generation, head) VALUES (?1, 1, ?2)
                     ON CONFLICT (scope) DO NOTHING",
                    params![scope, head],
                )
            } else {
                c.execute(
                    "UPDATE change_heads SET head = ?2, generation = generation + 1
                     WHERE scope = ?1 AND generation = ?3",
                    params![scope, head, expected.0],
                )
            }
            .map_err(failed)?;
            match changed {
                0 => Err(StoreError::Conflict),
                _ => Ok(Generation(expected.0 + 1)),
            }
        })
        .await
    }

    async fn put_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (scope, snapshot) = (scope.to_string(), snapshot.to_string());
        self.with(move |c| {
            durable(c, Durability::WithNextSync).map_err(failed)?;
            c.execute(
                "INSERT INTO change_parts (scope, snapshot, seq, bytes) VALUES (?1, ?2, ?3, ?4)",
                params![scope, snapshot, seq, bytes],
            )
            .map(|_| ())
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Unavailable(format!(
                    "the memory of sends: part {seq} of snapshot {snapshot} exists already \
                     (a part is written once)"
                )),
                _ => failed(e),
            })
        })
        .await
    }

    async fn get_part(
        &self,
        scope: &str,
        snapshot: &str,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let (scope, snapshot) = (scope.to_string(), snapshot.to_string());
        self.with(move |c| {
            c.query_row(
                "SELECT bytes FROM change_parts WHERE scope = ?1 AND snapshot = ?2 AND seq = ?3",
                params![scope, snapshot, seq],
                |r| r.get(0),
            )
            .optional()
            .map_err(failed)
        })
        .await
    }

    async fn snapshots(&self, scope: &str) -> Result<Vec<String>, StoreError> {
        let scope = scope.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT DISTINCT snapshot FROM change_parts WHERE scope = ?1 ORDER BY snapshot",
                )
                .map_err(failed)?;
            let names = stmt
                .query_map([&scope], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(failed)?;
            Ok(names)
        })
        .await
    }

    async fn delete_snapshot(&self, scope: &str, snapshot: &str) -> Result<(), StoreError> {
        let (scope, snapshot) = (scope.to_string(), snapshot.to_string());
        self.with(move |c| {
            durable(c, Durability::WithNextSync).map_err(failed)?;
            c.execute(
                "DELETE FROM change_parts WHERE scope = ?1 AND snapshot = ?2",
                params![scope, snapshot],
            )
            .map(|_| ())
            .map_err(failed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state/changes.sqlite")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn the_sqlite_store_keeps_the_change_store_contract() {
        let (_dir, s) = store();
        crate::changes::store::conformance::conformance(&s).await;
    }

    #[tokio::test]
    async fn a_head_is_created_once_and_replaced_only_from_the_generation_read() {
        let (_dir, s) = store();
        assert_eq!(s.read_head("a").await.unwrap(), None);
        let g1 = s.write_head("a", b"one", Generation::ABSENT).await.unwrap();
        assert_eq!(
            s.write_head("a", b"other", Generation::ABSENT).await,
            Err(StoreError::Conflict)
        );
        let g2 = s.write_head("a", b"two", g1).await.unwrap();
        assert!(g2 > g1);
        assert_eq!(
            s.write_head("a", b"stale", g1).await,
            Err(StoreError::Conflict)
        );
        assert_eq!(s.read_head("a").await.unwrap(), Some((g2, b"two".to_vec())));
        // Another scope is another head.
        assert_eq!(s.read_head("b").await.unwrap(), None);
        assert_eq!(
            s.write_head("b", b"x", g2).await,
            Err(StoreError::Conflict),
            "a head that does not exist is not replaced"
        );
    }

    #[tokio::test]
    async fn of_two_writers_from_one_generation_exactly_one_wins() {
        let (_dir, s) = store();
        let g = s.write_head("a", b"0", Generation::ABSENT).await.unwrap();
        let s = Arc::new(s);
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.write_head("a", format!("{i}").as_bytes(), g).await })
            })
            .collect();
        let mut won = 0;
        for w in writers {
            match w.await.unwrap() {
                Ok(_) => won += 1,
                Err(e) => assert_eq!(e, StoreError::Conflict),
            }
        }
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn parts_are_written_once_listed_by_snapshot_and_deleted_together() {
        let (_dir, s) = store();
        s.put_part("a", "run-1", 0, b"p0".to_vec()).await.unwrap();
        s.put_part("a", "run-1", 1, b"p1".to_vec()).await.unwrap();
        s.put_part("a", "run-2", 0, b"q0".to_vec()).await.unwrap();
        s.put_part("b", "run-9", 0, b"r0".to_vec()).await.unwrap();
        assert!(matches!(
            s.put_part("a", "run-1", 1, b"again".to_vec()).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(
            s.get_part("a", "run-1", 1).await.unwrap(),
            Some(b"p1".to_vec())
        );
        assert_eq!(s.get_part("a", "run-1", 2).await.unwrap(), None);
        assert_eq!(s.get_part("b", "run-1", 0).await.unwrap(), None);
        assert_eq!(s.snapshots("a").await.unwrap(), ["run-1", "run-2"]);
        s.delete_snapshot("a", "run-1").await.unwrap();
        assert_eq!(s.get_part("a", "run-1", 0).await.unwrap(), None);
        assert_eq!(s.snapshots("a").await.unwrap(), ["run-2"]);
        assert_eq!(s.snapshots("b").await.unwrap(), ["run-9"]);
        // Deleting what is gone already is no error (a retried clean-up).
        s.delete_snapshot("a", "run-1").await.unwrap();
    }

    #[tokio::test]
    async fn the_memory_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        let s = SqliteStore::open(&path).unwrap();
        let g = s.write_head("a", b"h", Generation::ABSENT).await.unwrap();
        s.put_part("a", "r", 0, vec![7; 1 << 20]).await.unwrap();
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.read_head("a").await.unwrap(), Some((g, b"h".to_vec())));
        assert_eq!(
            s.get_part("a", "r", 0).await.unwrap(),
            Some(vec![7; 1 << 20])
        );
        assert_eq!(s.place(), path.display().to_string());
    }

    #[test]
    fn a_file_that_cannot_be_opened_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = SqliteStore::open(&blocker.join("sub/c.sqlite"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("cannot be opened"), "{err}");
        assert!(err.contains("sub/c.sqlite"), "{err}");
    }
}
