//! What identifies a table row and what it delivers, hashed for a change-only send: the row's
//! key (the key field's value) and the fingerprint of its content cells. Which cells those are is
//! the row maker's to say ([`RowIdentity`]); the hashing is one rule for every query action.

use crate::changes::hash::{ContentHasher, Fingerprint, KeyBuilder, KeyHash, NameHash, Seed};
use crate::sinks::{CellValue, Row as TableRow, TableDef};

/// Which cells of a row maker's rows identify them and make their content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIdentity {
    /// The cell holding the key field's value as text (null: the row has no key, so it is
    /// always sent); `None` when the table has no such cell (every row is unkeyed).
    pub key: Option<usize>,
    /// The cells whose values make the row's content (their names count too: a renamed column
    /// is a change).
    pub content: Vec<usize>,
    /// The table's columns filled from the result, for the answer when they change between runs.
    pub fields: Vec<String>,
}

/// The rows' key and content hashed with one schedule's seed (names hashed once per run).
pub struct RowHasher {
    seed: Seed,
    key: Option<usize>,
    content: Vec<(usize, NameHash)>,
    key_bytes: KeyBuilder,
    cell_bytes: Vec<u8>,
}

impl RowHasher {
    /// The hasher of `identity`'s cells of rows of `table`.
    pub fn new(seed: Seed, table: &TableDef, identity: &RowIdentity) -> RowHasher {
        let content = identity
            .content
            .iter()
            .filter_map(|&i| {
                let column = table.columns.get(i)?;
                Some((i, NameHash::of(seed, column.name.as_bytes())))
            })
            .collect();
        RowHasher {
            seed,
            key: identity.key,
            content,
            key_bytes: KeyBuilder::new(),
            cell_bytes: Vec::new(),
        }
    }

    /// The row's key (`None`: unkeyed) and the fingerprint of its content.
    pub fn of(&mut self, row: &TableRow) -> (Option<KeyHash>, Fingerprint) {
        let cells = row.cells();
        self.key_bytes.clear();
        match self.key.and_then(|i| cells.get(i)) {
            None | Some(CellValue::Null) => self.key_bytes.part(None),
            Some(CellValue::String(text)) => self.key_bytes.part(Some(text.as_bytes())),
            Some(other) => {
                other.canonical_bytes(&mut self.cell_bytes);
                self.key_bytes.part(Some(&self.cell_bytes));
            }
        }
        let key = self.key_bytes.finish(self.seed);
        let mut content = ContentHasher::new(self.seed);
        for &(i, name) in &self.content {
            let cell = cells.get(i).unwrap_or(&CellValue::Null);
            cell.canonical_bytes(&mut self.cell_bytes);
            content.pair(name, &self.cell_bytes);
        }
        (key, content.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::table::{row_of, ColumnDef, ColumnType, Mode};

    fn table() -> TableDef {
        let col = |name: &str, ty| ColumnDef::new(name, ty, Mode::Nullable, "");
        TableDef {
            name: "t".into(),
            description: String::new(),
            columns: vec![
                col("request_id", ColumnType::String),
                col("key_value", ColumnType::String),
                col("amount", ColumnType::Int64),
                col("note", ColumnType::String),
            ],
            partition_by_day: None,
            clustering: vec![],
            key: vec![],
        }
    }

    fn identity() -> RowIdentity {
        RowIdentity {
            key: Some(1),
            content: vec![1, 2, 3],
            fields: vec!["amount".into()],
        }
    }

    fn hashed(seed: u64, cells: [CellValue; 4]) -> (Option<KeyHash>, Fingerprint) {
        let t = table();
        let row = row_of(&t, cells.to_vec()).unwrap();
        RowHasher::new(Seed(seed), &t, &identity()).of(&row)
    }

    fn cells(request: &str, key: Option<&str>, amount: i64, note: &str) -> [CellValue; 4] {
        [
            request.into(),
            key.map(str::to_string).into(),
            CellValue::Int64(amount),
            note.into(),
        ]
    }

    #[test]
    fn only_the_content_cells_make_the_fingerprint() {
        let a = hashed(1, cells("run-1", Some("k1"), 5, "x"));
        assert_eq!(a, hashed(1, cells("run-2", Some("k1"), 5, "x")));
        assert_ne!(a.1, hashed(1, cells("run-1", Some("k1"), 6, "x")).1);
        assert_ne!(a.1, hashed(1, cells("run-1", Some("k1"), 5, "y")).1);
        assert_ne!(a.0, hashed(1, cells("run-1", Some("k2"), 5, "x")).0);
        assert_ne!(a, hashed(2, cells("run-1", Some("k1"), 5, "x")));
    }

    #[test]
    fn a_row_without_a_key_value_is_unkeyed() {
        assert_eq!(hashed(1, cells("r", None, 5, "x")).0, None);
        let t = table();
        let row = row_of(&t, cells("r", Some("k1"), 5, "x").to_vec()).unwrap();
        let no_key = RowIdentity {
            key: None,
            ..identity()
        };
        assert_eq!(RowHasher::new(Seed(1), &t, &no_key).of(&row).0, None);
    }
}
