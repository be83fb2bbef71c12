//! The `fields` of a result, read one field at a time within bounds: memory for the header does
//! not grow with what Looker says about a field (its SQL, description, enumerations, links are
//! validated and dropped), only with what the hub keeps (name, label, tags, hidden), and that is
//! bounded per field and for the whole header.

use std::io::Read;

use super::header::{FieldMeta, RawFields};
use super::json_error;
use super::scanner::{ScanError, Scanner};

/// Most fields a result may list (dimensions, measures, table calculations and pivots together).
/// Real Looks and schedules carry tens to a few hundred fields; 5 000 is far above them, below
/// BigQuery's 10 000 columns per table, and about what a 32 KB RudderStack event could carry at
/// all (6 bytes per property at the least). Above it the execute is refused before anything is
/// written, with the field count to cut.
pub const MAX_FIELDS: usize = 5_000;
/// Most JSON text of one field's description (one element of `dimensions`, …): Looker sends a few
/// kilobytes (with its SQL when the user may see LookML); a longer one is refused, never held.
pub const MAX_FIELD_TEXT: usize = 1 << 20;
/// Most memory the hub keeps for one field (see [`kept_bytes`]).
pub const MAX_FIELD_KEPT: usize = 4 << 10;
/// Most memory the hub keeps for all fields of a result (see [`kept_bytes`]).
pub const MAX_FIELDS_KEPT: usize = 4 << 20;

/// Bookkeeping of a kept field (struct, allocations) counted on top of its text.
const FIELD_OVERHEAD: usize = 128;
/// Bookkeeping of a kept tag counted on top of its text.
const TAG_OVERHEAD: usize = 32;

/// What the hub keeps for a field, in bytes: its name, label and tags, each tag and the field
/// itself counted with their bookkeeping (so a field of thousands of empty tags is not free).
pub fn kept_bytes(f: &FieldMeta) -> usize {
    FIELD_OVERHEAD
        + f.name.len()
        + f.label.as_ref().map_or(0, String::len)
        + f.tags.iter().map(|t| t.len() + TAG_OVERHEAD).sum::<usize>()
}

/// Where a field list goes.
const LISTS: [&str; 4] = ["dimensions", "measures", "table_calculations", "pivots"];

/// Read the `fields` value (`null` is a result without fields) within the bounds above.
pub(super) fn read_fields<R: Read>(scan: &mut Scanner<R>) -> Result<RawFields, ScanError> {
    let mut raw = RawFields::default();
    match scan.peek_token()? {
        Some(b'{') => scan.skip(),
        Some(b'n') => return read_null(scan, "fields").map(|()| raw),
        Some(_) => return Err(scan.syntax("the fields object")),
        None => return Err(ScanError::Eof),
    }
    let mut reader = FieldReader::default();
    if scan.peek_token()? == Some(b'}') {
        scan.skip();
        return Ok(raw);
    }
    loop {
        let key = read_key(scan, "fields")?;
        scan.expect(b':', "`:`")?;
        match LISTS.iter().position(|l| Some(*l) == key.as_deref()) {
            Some(i) => {
                if reader.seen[i] {
                    return Err(ScanError::Syntax(format!(
                        "fields.{} given twice",
                        LISTS[i]
                    )));
                }
                reader.seen[i] = true;
                let list = reader.read_list(scan, LISTS[i])?;
                *raw.list_mut(i) = list;
            }
            // Anything else is validated (the header is parsed strictly) and dropped.
            None => reader.validate_other(scan)?,
        }
        if scan.end_of_item(b'}')? {
            return Ok(raw);
        }
    }
}

/// A key of an object; `None` for a key too long to be one the hub reads (it is skipped).
pub(super) fn read_key<R: Read>(
    scan: &mut Scanner<R>,
    within: &str,
) -> Result<Option<String>, ScanError> {
    const MAX_KEY: usize = 256;
    match scan.peek_token()? {
        Some(b'"') => {}
        Some(_) => return Err(scan.syntax("a key")),
        None => return Err(ScanError::Eof),
    }
    let mut text = Vec::new();
    if !scan.capture_at_most(&mut text, MAX_KEY)? {
        return Ok(None);
    }
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| ScanError::Syntax(format!("a key of {within}: {}", json_error(&e, &text))))
}

/// `null` and nothing else (fuzzing found any word starting with `n` taken for it).
pub(super) fn read_null<R: Read>(scan: &mut Scanner<R>, what: &str) -> Result<(), ScanError> {
    let mut word = Vec::with_capacity(4);
    let short = scan.capture_at_most(&mut word, 4)?;
    if short && word == b"null" {
        Ok(())
    } else {
        Err(scan.syntax(&format!("{what} as an object, an array or null")))
    }
}

/// The state of one `fields` reading: fields and memory kept so far, lists seen, and the buffer
/// each field's text is captured into (reused).
#[derive(Default)]
struct FieldReader {
    count: usize,
    kept: usize,
    seen: [bool; 4],
    text: Vec<u8>,
}

impl FieldReader {
    /// One list (`null` is empty).
    fn read_list<R: Read>(
        &mut self,
        scan: &mut Scanner<R>,
        list: &str,
    ) -> Result<Vec<FieldMeta>, ScanError> {
        let mut out = Vec::new();
        match scan.peek_token()? {
            Some(b'[') => scan.skip(),
            Some(b'n') => return read_null(scan, list).map(|()| out),
            Some(_) => return Err(scan.syntax(&format!("fields.{list} as an array"))),
            None => return Err(ScanError::Eof),
        }
        if scan.peek_token()? == Some(b']') {
            scan.skip();
            return Ok(out);
        }
        loop {
            out.push(self.read_field(scan, list, out.len() + 1)?);
            if scan.end_of_item(b']')? {
                return Ok(out);
            }
        }
    }

    /// Field `n` (1-based) of `list`, checked against the bounds.
    fn read_field<R: Read>(
        &mut self,
        scan: &mut Scanner<R>,
        list: &str,
        n: usize,
    ) -> Result<FieldMeta, ScanError> {
        self.count += 1;
        if self.count > MAX_FIELDS {
            return Err(ScanError::Limit(format!(
                "the query result has more than {} fields (dimensions, measures, table \
                 calculations and pivots together), more than the hub reads: remove fields from \
                 the Look or query",
                MAX_FIELDS
            )));
        }
        self.text.clear();
        if !scan.capture_at_most(&mut self.text, MAX_FIELD_TEXT)? {
            return Err(ScanError::Limit(format!(
                "field {n} of fields.{list} of the query result is described in more than {} \
                 bytes of JSON, more than the hub reads: remove it from the Look or query, or \
                 shorten its LookML (sql, description, enumerations)",
                MAX_FIELD_TEXT
            )));
        }
        let field: FieldMeta = serde_json::from_slice(&self.text).map_err(|e| {
            ScanError::Syntax(format!(
                "fields.{list}, field {n}: {}",
                json_error(&e, &self.text)
            ))
        })?;
        let kept = kept_bytes(&field);
        if kept > MAX_FIELD_KEPT {
            return Err(ScanError::Limit(format!(
                "field {n} of fields.{list} of the query result has a name, label and tags of \
                 more than {} bytes together, more than the hub keeps for a field: shorten them \
                 in the LookML or remove the field from the Look or query",
                MAX_FIELD_KEPT
            )));
        }
        self.kept += kept;
        if self.kept > MAX_FIELDS_KEPT {
            return Err(ScanError::Limit(format!(
                "the names, labels and tags of the query result's fields pass {} bytes together \
                 (at field {n} of fields.{list}), more than the hub keeps for a result: remove \
                 fields from the Look or query",
                MAX_FIELDS_KEPT
            )));
        }
        Ok(field)
    }

    /// A member of `fields` the hub does not read: valid JSON of at most [`MAX_FIELD_TEXT`]
    /// (its key is the document's, never quoted in an answer).
    fn validate_other<R: Read>(&mut self, scan: &mut Scanner<R>) -> Result<(), ScanError> {
        self.text.clear();
        if !scan.capture_at_most(&mut self.text, MAX_FIELD_TEXT)? {
            return Err(ScanError::Limit(format!(
                "a member of the query result's fields is longer than {} bytes, more than the hub \
                 reads",
                MAX_FIELD_TEXT
            )));
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(&self.text)
            .map(|_| ())
            .map_err(|e| {
                ScanError::Syntax(format!(
                    "a member of fields: {}",
                    json_error(&e, &self.text)
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RowSource, RowStream, RowsError};
    use super::*;

    /// A result of `fields` dimension objects (each the JSON text given) and one row.
    fn doc(fields: impl Iterator<Item = String>) -> String {
        let list: Vec<String> = fields.collect();
        format!(
            r#"{{"fields":{{"dimensions":[{}]}},"data":[{{"v.f0":{{"value":1}}}}]}}"#,
            list.join(",")
        )
    }

    async fn open(doc: String) -> Result<RowStream, RowsError> {
        RowStream::open(RowSource::Bytes(doc.into())).await
    }

    fn over_limit(r: Result<RowStream, RowsError>) -> String {
        match r {
            Err(RowsError::OverLimit(why)) => why,
            Err(e) => panic!("another error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[tokio::test]
    async fn what_looker_says_about_a_field_is_validated_and_dropped() {
        let sql = "CASE WHEN x THEN 1 END ".repeat(2000);
        let field = serde_json::json!({"name": "v.f0", "label": "F0", "tags": ["user_id"],
            "hidden": false, "sql": sql, "enumerations": [{"label": "a", "value": 1}],
            "description": "x".repeat(10_000), "lookml_link": "/projects/p"});
        let mut s = open(doc(std::iter::once(field.to_string()))).await.unwrap();
        let f = &s.header().fields[0];
        assert_eq!(
            (f.name.as_str(), f.label.as_deref(), &f.tags[..]),
            ("v.f0", Some("F0"), &["user_id".to_string()][..])
        );
        assert!(kept_bytes(f) < 200, "{}", kept_bytes(f));
        assert_eq!(s.next_row().await.unwrap().unwrap()["v.f0"]["value"], 1);

        // Strict: an invalid value under a key the hub drops is still refused.
        let bad = r#"{"name":"v.f0","sql":tru}"#.to_string();
        assert!(matches!(
            open(doc(std::iter::once(bad))).await,
            Err(RowsError::Malformed { .. })
        ));
        let bad = r#"{"fields":{"dimensions":[],"other":[1,}]},"data":[]}"#.to_string();
        assert!(matches!(open(bad).await, Err(RowsError::Malformed { .. })));
        let twice = r#"{"fields":{"dimensions":[],"dimensions":[]},"data":[]}"#.to_string();
        assert!(matches!(
            open(twice).await,
            Err(RowsError::Malformed { .. })
        ));
    }

    #[tokio::test]
    async fn the_field_count_is_bounded_with_what_to_change() {
        let field = |i: usize| format!(r#"{{"name":"v.f{i}","tags":[]}}"#);
        let s = open(doc((0..MAX_FIELDS).map(field))).await.unwrap();
        assert_eq!(s.header().fields.len(), MAX_FIELDS);
        // Pivots count too.
        let at_limit = doc((0..MAX_FIELDS).map(field))
            .replace(r#"]},"data""#, r#"],"pivots":[{"name":"v.p"}]},"data""#);
        assert_eq!(
            over_limit(open(at_limit).await),
            "the query result has more than 5000 fields (dimensions, measures, table calculations \
             and pivots together), more than the hub reads: remove fields from the Look or query"
        );
        // A flood stops at the limit: the rest is never read.
        let why = over_limit(open(doc((0..380_000).map(field))).await);
        assert!(why.contains("more than 5000 fields"), "{why}");
    }

    #[tokio::test]
    async fn what_is_kept_of_a_field_and_of_a_header_is_bounded() {
        let long = "x".repeat(MAX_FIELD_KEPT);
        for field in [
            format!(r#"{{"name":"{long}"}}"#),
            format!(r#"{{"name":"v.a","label":"{long}"}}"#),
            format!(
                r#"{{"name":"v.a","tags":[{}]}}"#,
                vec![r#""""#; 200].join(",")
            ),
        ] {
            let why = over_limit(open(doc(std::iter::once(field))).await);
            assert_eq!(
                why,
                "field 1 of fields.dimensions of the query result has a name, label and tags of \
                 more than 4096 bytes together, more than the hub keeps for a field: shorten \
                 them in the LookML or remove the field from the Look or query"
            );
        }
        let huge = format!(r#"{{"name":"v.a","sql":"{}"}}"#, "x".repeat(MAX_FIELD_TEXT));
        let why = over_limit(open(doc(std::iter::once(huge))).await);
        assert!(why.starts_with("field 1 of fields.dimensions of the query result is described in more than 1048576 bytes"), "{why}");

        // Each field under its own bound, all of them over the header's.
        let label = "l".repeat(MAX_FIELD_KEPT - 200);
        let fields = (0..MAX_FIELDS).map(|i| format!(r#"{{"name":"v.f{i}","label":"{label}"}}"#));
        let why = over_limit(open(doc(fields)).await);
        assert!(why.starts_with("the names, labels and tags of the query result's fields pass 4194304 bytes together (at field "), "{why}");

        let ran_at = format!(r#"{{"ran_at":"{}","data":[]}}"#, "1".repeat(2000));
        assert_eq!(
            over_limit(open(ran_at).await),
            "the query result's ran_at is longer than 1024 bytes (Looker writes a timestamp)"
        );
    }
}
