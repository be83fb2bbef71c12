//! The embedded write-back store: an SQLite file, insert-only (triggers refuse updates and deletes).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, ToSql};

use super::drift::{self, LiveColumn, Store};
use super::table::{builtin_tables, CellValue, Mode, Row, TableDef};
use super::{Sink, SinkError, WriteCredential};

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
            format!("    {} {}{null}", c.name, c.ty.sqlite_name())
        })
        .collect();
    if !t.key.is_empty() {
        cols.push(format!("    PRIMARY KEY ({})", t.key.join(", ")));
    }
    let n = &t.name;
    format!(
        "CREATE TABLE IF NOT EXISTS {n} (\n{}\n);\n\
         CREATE TRIGGER IF NOT EXISTS {n}_no_update BEFORE UPDATE ON {n}\n\
         BEGIN SELECT RAISE(ABORT, '{n} is insert-only'); END;\n\
         CREATE TRIGGER IF NOT EXISTS {n}_no_delete BEFORE DELETE ON {n}\n\
         BEGIN SELECT RAISE(ABORT, '{n} is insert-only'); END;\n",
        cols.join(",\n")
    )
}

fn insert_sql(t: &TableDef) -> String {
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        t.name,
        names.join(", "),
        marks.join(", ")
    )
}

/// Create `t` if missing, compare an existing one with its description (see [`super::drift`]):
/// a declared NULLABLE column the table lacks is added in place, any other difference is refused
/// with what to declare instead. The INSERT statement.
fn ensure(c: &Connection, t: &TableDef) -> Result<String, SinkError> {
    c.execute_batch(&create_sql(t)).map_err(other)?;
    let mut stmt = c
        .prepare(&format!("PRAGMA table_info({})", t.name))
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
        return Err(SinkError::Other(format!(
            "the embedded store's table {} differs from its declaration:\n{}",
            t.name,
            drift.refused.join("\n")
        )));
    }
    for col in &drift.added {
        // A NULLABLE column: SQLite adds it without touching the rows (they read NULL).
        c.execute_batch(&format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            t.name,
            col.name,
            col.ty.sqlite_name()
        ))
        .map_err(other)?;
        tracing::info!(table = %t.name, column = %col.name, r#type = col.ty.bigquery_name(), "embedded store: declared NULLABLE column added to the existing table (earlier rows have no value)");
    }
    Ok(insert_sql(t))
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
    /// Open (creating the file, its folder and the built-in tables if needed).
    pub fn open(path: &Path) -> Result<SqliteSink, SinkError> {
        Self::open_with(path, &builtin_tables())
    }

    /// Open, creating (or checking) `tables`; other described tables are created on first write.
    pub fn open_with(path: &Path, tables: &[Arc<TableDef>]) -> Result<SqliteSink, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                SinkError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| SinkError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(other)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(other)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(other)?;
        let mut inserts = HashMap::new();
        for t in tables {
            t.validate().map_err(|e| SinkError::Other(e.to_string()))?;
            inserts.insert(t.name.clone(), Arc::from(ensure(&conn, t)?));
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
                    let sql: Arc<str> = Arc::from(ensure(&c, &t)?);
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
