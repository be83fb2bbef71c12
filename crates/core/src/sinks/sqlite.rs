//! The embedded write-back store: an SQLite file, insert-only (triggers refuse updates and deletes).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, ToSql};

use super::drift::{self, LiveColumn, Store};
use super::table::{CellValue, Mode, Row, TableDef};
use super::{Sink, SinkError, WriteCredential};

/// Where the embedded store is when `HUB_STORE_PATH` does not say.
pub const DEFAULT_STORE_PATH: &str = "data/writeback.sqlite";

/// `name` as an SQLite identifier: double-quoted, so a keyword (`order`, `index`, `values`, ...)
/// is a name like any other. Every name in the SQL this store builds goes through it.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQLite string literal.
fn quote_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The DDL of a table: columns with their modes, the key as primary key, and triggers that refuse
/// updates and deletes.
pub fn create_sql(t: &TableDef) -> String {
    let mut cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let null = if c.mode == Mode::Required {
                " NOT NULL"
            } else {
                ""
            };
            format!("    {} {}{null}", quote_ident(&c.name), c.ty.sqlite_name())
        })
        .collect();
    if !t.key.is_empty() {
        let key: Vec<String> = t.key.iter().map(|k| quote_ident(k)).collect();
        cols.push(format!("    PRIMARY KEY ({})", key.join(", ")));
    }
    let n = quote_ident(&t.name);
    let no_update = quote_ident(&format!("{}_no_update", t.name));
    let no_delete = quote_ident(&format!("{}_no_delete", t.name));
    let refusal = quote_text(&format!("{} is insert-only", t.name));
    format!(
        "CREATE TABLE IF NOT EXISTS {n} (\n{}\n);\n\
         CREATE TRIGGER IF NOT EXISTS {no_update} BEFORE UPDATE ON {n}\n\
         BEGIN SELECT RAISE(ABORT, {refusal}); END;\n\
         CREATE TRIGGER IF NOT EXISTS {no_delete} BEFORE DELETE ON {n}\n\
         BEGIN SELECT RAISE(ABORT, {refusal}); END;\n",
        cols.join(",\n")
    )
}

fn insert_sql(t: &TableDef) -> String {
    let names: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_ident(&t.name),
        names.join(", "),
        marks.join(", ")
    )
}

/// Create `t` if missing, compare an existing one with its description (see [`super::drift`]):
/// a declared NULLABLE column the table lacks is added in place, any other difference is refused
/// with what to declare instead. The INSERT statement.
/// What checking one table gave: its INSERT statement and the NULLABLE columns added in place,
/// or the problems that refuse it.
type Checked = Result<(String, Vec<String>), Vec<String>>;

/// Create `t` if needed and compare it with its description. Run inside the opening transaction:
/// a refusal of any table rolls every change back.
fn ensure(c: &Connection, t: &TableDef) -> Result<Checked, SinkError> {
    c.execute_batch(&create_sql(t)).map_err(other)?;
    let mut stmt = c
        .prepare(&format!("PRAGMA table_info({})", quote_ident(&t.name)))
        .map_err(other)?;
    let live: Vec<LiveColumn> = stmt
        .query_map([], |r| {
            Ok(LiveColumn {
                name: r.get(1)?,
                ty: r.get(2)?,
                required: r.get::<_, i64>(3)? != 0,
            })
        })
        .and_then(|r| r.collect())
        .map_err(other)?;
    let drift = drift::compare(t, &live, Store::Sqlite);
    if !drift.refused.is_empty() {
        return Ok(Err(drift.refused));
    }
    let mut added = Vec::new();
    for col in &drift.added {
        // A NULLABLE column: SQLite adds it without touching the rows (they read NULL).
        c.execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            quote_ident(&t.name),
            quote_ident(&col.name),
            col.ty.sqlite_name()
        ))
        .map_err(other)?;
        added.push(col.name.clone());
    }
    Ok(Ok((insert_sql(t), added)))
}

/// Create or check every table in one transaction: all of them, or none (a refused start leaves
/// the store as it was). The INSERT statements by table, and the (table, column) pairs added.
type Ensured = (HashMap<String, Arc<str>>, Vec<(String, String)>);

fn ensure_all(conn: &mut Connection, tables: &[Arc<TableDef>]) -> Result<Ensured, SinkError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(other)?;
    let mut inserts = HashMap::new();
    let mut added = Vec::new();
    let mut refused = Vec::new();
    for t in tables {
        t.validate().map_err(|e| SinkError::Other(e.to_string()))?;
        match ensure(&tx, t)? {
            Ok((insert, columns)) => {
                inserts.insert(t.name.clone(), Arc::from(insert));
                added.extend(columns.into_iter().map(|c| (t.name.clone(), c)));
            }
            Err(problems) => refused.extend(problems),
        }
    }
    if !refused.is_empty() {
        // Dropping the transaction rolls back every table created and column added.
        return Err(SinkError::Other(format!(
            "the embedded store differs from the declaration (nothing was changed):\n{}",
            refused.join("\n")
        )));
    }
    tx.commit().map_err(other)?;
    Ok((inserts, added))
}

impl ToSql for CellValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            CellValue::Null => ToSqlOutput::Owned(Value::Null),
            CellValue::String(s) | CellValue::Numeric(s) | CellValue::Json(s) => {
                ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes()))
            }
            CellValue::Int64(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            CellValue::Float64(f) => ToSqlOutput::Owned(Value::Real(*f)),
            CellValue::Bool(b) => ToSqlOutput::Owned(Value::Integer(*b as i64)),
            CellValue::Date(d) => ToSqlOutput::Owned(Value::Text(d.format("%Y-%m-%d").to_string())),
            CellValue::Timestamp(t) => ToSqlOutput::Owned(Value::Text(
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            )),
        })
    }
}

/// The embedded SQLite store.
pub struct SqliteSink {
    conn: Arc<Mutex<Connection>>,
    /// INSERT statements of the tables created or checked so far, by table name.
    inserts: Arc<Mutex<HashMap<String, Arc<str>>>>,
}

impl SqliteSink {
    /// Open, creating (or checking) `tables`; other described tables are created on first write.
    pub fn open_with(path: &Path, tables: &[Arc<TableDef>]) -> Result<SqliteSink, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                SinkError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let existed = path.exists();
        let opened = Connection::open(path)
            .map_err(|e| SinkError::Unavailable(format!("{}: {e}", path.display())))
            .and_then(|mut conn| {
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(other)?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(other)?;
                // FULL: each commit syncs the WAL before it returns, so rows the hub counts as
                // written (a success answer) survive an OS crash or a power loss, not only a
                // crash of the hub. NORMAL syncs only at checkpoints.
                conn.pragma_update(None, "synchronous", "FULL")
                    .map_err(other)?;
                let ensured = ensure_all(&mut conn, tables)?;
                Ok((conn, ensured))
            });
        let (conn, (inserts, added)) = match opened {
            Ok(done) => done,
            Err(e) => {
                // A store this refused start created is removed again: nothing half-made stays.
                if !existed {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut p = path.as_os_str().to_owned();
                        p.push(suffix);
                        let _ = std::fs::remove_file(p);
                    }
                }
                return Err(e);
            }
        };
        for (table, column) in &added {
            tracing::info!(table = %table, column = %column, "embedded store: declared NULLABLE column added to the existing table (earlier rows have no value)");
        }
        Ok(SqliteSink {
            conn: Arc::new(Mutex::new(conn)),
            inserts: Arc::new(Mutex::new(inserts)),
        })
    }
}

fn other(e: rusqlite::Error) -> SinkError {
    SinkError::Other(format!("sqlite: {e}"))
}

#[async_trait]
impl Sink for SqliteSink {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn append(
        &self,
        table: &TableDef,
        rows: &[Row],
        _cred: &WriteCredential,
    ) -> Result<u64, SinkError> {
        let known = self
            .inserts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&table.name)
            .cloned();
        // A table not seen yet is created (or checked) on this first write.
        let known = match known {
            Some(sql) => Ok(sql),
            None => {
                table
                    .validate()
                    .map_err(|e| SinkError::Other(e.to_string()))?;
                Err(table.clone())
            }
        };
        let inserts = self.inserts.clone();
        let rows = rows.to_vec();
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            let sql: Arc<str> = match known {
                Ok(sql) => sql,
                Err(t) => {
                    let t = Arc::new(t);
                    let (mut sql, _) = ensure_all(&mut c, std::slice::from_ref(&t))?;
                    let sql = sql
                        .remove(&t.name)
                        .unwrap_or_else(|| Arc::from(insert_sql(&t)));
                    inserts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(t.name.clone(), sql.clone());
                    sql
                }
            };
            let tx = c.transaction().map_err(other)?;
            {
                let mut stmt = tx.prepare_cached(&sql).map_err(other)?;
                for r in &rows {
                    stmt.execute(rusqlite::params_from_iter(r.cells()))
                        .map_err(other)?;
                }
            }
            tx.commit().map_err(other)?;
            Ok(rows.len() as u64)
        })
        .await
        .map_err(|e| SinkError::Other(format!("write task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::table::{ColumnDef, ColumnType, Mode};

    fn table(name: &str, columns: &[(&str, ColumnType, Mode)]) -> Arc<TableDef> {
        Arc::new(TableDef {
            name: name.into(),
            description: "t".into(),
            columns: columns
                .iter()
                .map(|(n, t, m)| ColumnDef::new(n, *t, *m, "c"))
                .collect(),
            partition_by_day: None,
            clustering: vec![],
            key: vec!["id".into()],
        })
    }

    fn columns(path: &Path, table: &str) -> Vec<String> {
        let c = Connection::open(path).unwrap();
        let mut stmt = c.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(1))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Each chunk of a write is settled once, in order, written or not: a chunk whose key repeats
    /// a stored row is refused whole, and the next chunk is written.
    #[tokio::test]
    async fn a_write_settles_each_chunk_as_written_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let t = table("t", &[("id", ColumnType::Int64, Mode::Required)]);
        let sink =
            SqliteSink::open_with(&dir.path().join("s.db"), std::slice::from_ref(&t)).unwrap();
        let rows = |ids: &[i64]| -> Vec<Row> {
            ids.iter()
                .map(|&i| {
                    t.row()
                        .set("id", CellValue::Int64(i))
                        .unwrap()
                        .build()
                        .unwrap()
                })
                .collect()
        };
        let cred = WriteCredential::Service;
        let mut w = sink.writer(&t, &cred).await.unwrap();
        w.write(rows(&[1, 2])).await.unwrap();
        assert!(w.write(rows(&[3, 1])).await.is_err());
        w.write(rows(&[4])).await.unwrap();
        assert_eq!(w.finish().await.0, 3);
        let settled: Vec<(u64, bool)> = w.settled().into_iter().map(|s| (s.chunk, s.ok)).collect();
        assert_eq!(settled, [(0, true), (1, false), (2, true)]);
        assert!(w.settled().is_empty());
    }

    /// A start refused for one table changes no table: no column added to another, no new table
    /// created, so going back to the previous declaration still starts.
    #[test]
    fn a_refused_open_changes_nothing_and_the_previous_declaration_still_opens() {
        use ColumnType::*;
        use Mode::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let a1 = table("a", &[("id", String, Required)]);
        let b1 = table("b", &[("id", String, Required), ("w", Float64, Nullable)]);
        drop(SqliteSink::open_with(&path, &[a1.clone(), b1.clone()]).unwrap());

        // `a` gains a NULLABLE column (fine alone), `b` changes a type (refused), `c` is new.
        let a2 = table("a", &[("id", String, Required), ("zone", String, Nullable)]);
        let b2 = table("b", &[("id", String, Required), ("w", Numeric, Nullable)]);
        let c2 = table("c", &[("id", String, Required)]);
        let err = SqliteSink::open_with(&path, &[a2, b2, c2])
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("nothing was changed"), "{err}");
        assert!(err.contains("table b"), "{err}");
        assert_eq!(columns(&path, "a"), ["id"]);
        assert!(columns(&path, "c").is_empty(), "table c was created");

        SqliteSink::open_with(&path, &[a1, b1]).expect("the previous declaration opens");
    }

    /// Every refused table is listed at once.
    #[test]
    fn every_refused_table_is_listed() {
        use ColumnType::*;
        use Mode::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let a1 = table("a", &[("id", String, Required), ("n", Int64, Nullable)]);
        let b1 = table("b", &[("id", String, Required), ("w", Float64, Nullable)]);
        drop(SqliteSink::open_with(&path, &[a1, b1]).unwrap());
        let a2 = table("a", &[("id", String, Required), ("n", String, Nullable)]);
        let b2 = table("b", &[("id", String, Required), ("w", Int64, Nullable)]);
        let err = SqliteSink::open_with(&path, &[a2, b2])
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("table a") && err.contains("table b"), "{err}");
    }

    /// Tables and columns named after SQLite keywords are created, written, checked again at the
    /// next start (a NULLABLE keyword column added in place) and stay insert-only.
    #[tokio::test]
    async fn keyword_names_are_quoted_everywhere() {
        use ColumnType::*;
        use Mode::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let mut t = (*table(
            "order",
            &[
                ("id", String, Required),
                ("index", Int64, Nullable),
                ("values", String, Nullable),
                ("check", Bool, Nullable),
            ],
        ))
        .clone();
        t.key = vec!["id".into(), "index".into()];
        let sink = SqliteSink::open_with(&path, &[Arc::new(t.clone())]).unwrap();
        let row = super::super::table::row_of(
            &t,
            vec!["a".into(), 1i64.into(), "v".into(), CellValue::Bool(true)],
        )
        .unwrap();
        assert_eq!(
            sink.append(&t, &[row], &WriteCredential::Service)
                .await
                .unwrap(),
            1
        );
        drop(sink);

        t.columns
            .push(ColumnDef::new("primary", String, Nullable, "c"));
        let sink = SqliteSink::open_with(&path, &[Arc::new(t.clone())]).unwrap();
        drop(sink);
        assert_eq!(
            columns(&path, "\"order\""),
            ["id", "index", "values", "check", "primary"]
        );
        let c = Connection::open(&path).unwrap();
        let read: (
            std::string::String,
            i64,
            std::string::String,
            i64,
            Option<std::string::String>,
        ) = c
            .query_row(
                "SELECT \"id\", \"index\", \"values\", \"check\", \"primary\" FROM \"order\"",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(read, ("a".into(), 1, "v".into(), 1, None));
        let refused = c
            .execute("DELETE FROM \"order\"", [])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("order is insert-only"), "{refused}");
    }

    /// Every commit is synced before it is answered: WAL with `synchronous=FULL` (2).
    #[test]
    fn commits_are_synced_before_they_are_answered() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SqliteSink::open_with(&dir.path().join("s.sqlite"), &[]).unwrap();
        let c = sink.conn.lock().unwrap();
        let mode: std::string::String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = c
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
    }

    /// A store file a refused open created is removed again.
    #[test]
    fn a_refused_open_leaves_no_new_store_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite");
        // An invalid description (no columns) refuses the open after the file was created.
        let bad = Arc::new(TableDef {
            name: "bad".into(),
            description: "t".into(),
            columns: vec![],
            partition_by_day: None,
            clustering: vec![],
            key: vec![],
        });
        assert!(SqliteSink::open_with(&path, &[bad]).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
