//! Which names Looker, BigQuery and LookML accept: checked at load so a bad name is a
//! configuration error with a suggestion, never a failed deploy or a 404 in Looker.

/// Longest action name (a URL path segment Looker stores in its action hub settings).
pub const MAX_ACTION_NAME: usize = 64;
/// Longest column name BigQuery accepts.
pub const MAX_COLUMN_NAME: usize = 300;
/// Longest table name this hub accepts (BigQuery allows 1024; LookML view names stay readable).
pub const MAX_TABLE_NAME: usize = 128;

/// Column-name prefixes BigQuery reserves (case-insensitive).
const BQ_RESERVED_PREFIXES: &[&str] = &[
    "_table_",
    "_file_",
    "_partition",
    "_row_timestamp",
    "__root__",
    "_colidentifier",
    "_change_sequence_number",
    "_change_type",
    "_change_timestamp",
];

/// GoogleSQL reserved keywords: a column of that name needs quoting everywhere (LookML `sql:`
/// included), so they are refused.
const BQ_KEYWORDS: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "assert_rows_modified",
    "at",
    "between",
    "by",
    "case",
    "cast",
    "collate",
    "contains",
    "create",
    "cross",
    "cube",
    "current",
    "default",
    "define",
    "desc",
    "distinct",
    "else",
    "end",
    "enum",
    "escape",
    "except",
    "exclude",
    "exists",
    "extract",
    "false",
    "fetch",
    "following",
    "for",
    "from",
    "full",
    "group",
    "grouping",
    "groups",
    "hash",
    "having",
    "if",
    "ignore",
    "in",
    "inner",
    "intersect",
    "interval",
    "into",
    "is",
    "join",
    "lateral",
    "left",
    "like",
    "limit",
    "lookup",
    "merge",
    "natural",
    "new",
    "no",
    "not",
    "null",
    "nulls",
    "of",
    "on",
    "or",
    "order",
    "outer",
    "over",
    "partition",
    "preceding",
    "proto",
    "qualify",
    "range",
    "recursive",
    "respect",
    "right",
    "rollup",
    "rows",
    "select",
    "set",
    "some",
    "struct",
    "tablesample",
    "then",
    "to",
    "treat",
    "true",
    "unbounded",
    "union",
    "unnest",
    "using",
    "when",
    "where",
    "window",
    "with",
    "within",
];

/// A lowercase snake_case suggestion for a refused name, at most `max` characters.
pub fn suggest_within(name: &str, max: usize) -> String {
    let s = suggest(name);
    if s.len() <= max {
        return s;
    }
    // ASCII only: any byte is a character boundary.
    s[..max].trim_end_matches('_').to_string()
}

/// A lowercase snake_case suggestion for a refused name.
pub fn suggest(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        None => "my_name".into(),
        Some(c) if c.is_ascii_digit() => format!("n_{out}"),
        Some(_) => out,
    }
}

fn snake(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Why Looker would refuse an action name (it is a path segment of every call), if it would.
pub fn action_name_problem(name: &str) -> Option<String> {
    if !snake(name) || name.len() > MAX_ACTION_NAME {
        return Some(format!(
            "action name {name:?} must be lowercase letters, digits and underscores, start with a letter, at most {MAX_ACTION_NAME} characters (it is part of the URL Looker calls); write `name: {}`",
            suggest_within(name, MAX_ACTION_NAME)
        ));
    }
    None
}

/// Why a form field name would not work (form_params key, message placeholder), if it would not.
pub fn field_name_problem(name: &str) -> Option<String> {
    if !snake(name) || name.len() > MAX_ACTION_NAME {
        return Some(format!(
            "field name {name:?} must be lowercase letters, digits and underscores, start with a letter, at most {MAX_ACTION_NAME} characters; write `name: {}`",
            suggest_within(name, MAX_ACTION_NAME)
        ));
    }
    None
}

/// Why BigQuery (or the LookML generated over it) would refuse a column name, if it would.
pub fn column_name_problem(name: &str) -> Option<String> {
    if !snake(name) || name.len() > MAX_COLUMN_NAME {
        return Some(format!(
            "column name {name:?} must be lowercase letters, digits and underscores and start with a letter, at most {MAX_COLUMN_NAME} characters (BigQuery and LookML identifiers); write `{}`",
            suggest_within(name, MAX_COLUMN_NAME)
        ));
    }
    if let Some(p) = BQ_RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Some(format!(
            "column name {name:?} starts with {p:?}, which BigQuery reserves; write `{}`",
            name.trim_start_matches('_')
        ));
    }
    if BQ_KEYWORDS.contains(&name) {
        return Some(format!(
            "column name {name:?} is a reserved word in BigQuery SQL; write `{name}_value` or another name"
        ));
    }
    None
}

/// Why BigQuery / LookML would refuse a table name, if they would.
pub fn table_name_problem(name: &str) -> Option<String> {
    if !snake(name) || name.len() > MAX_TABLE_NAME {
        return Some(format!(
            "table name {name:?} must be lowercase letters, digits and underscores, start with a letter, at most {MAX_TABLE_NAME} characters (BigQuery table and LookML view name); write `name: {}`",
            suggest_within(name, MAX_TABLE_NAME)
        ));
    }
    // SQLite reserves every name starting with `sqlite_` (case aside) for its own tables
    // (sqlite_schema, sqlite_sequence, sqlite_stat1, ...): the embedded store could not create it.
    if let Some(rest) = name.strip_prefix(SQLITE_RESERVED_PREFIX) {
        let rest = rest.trim_start_matches('_');
        let instead = if rest.is_empty() {
            "my_table".to_string()
        } else {
            format!("{rest}_log")
        };
        return Some(format!(
            "table name {name:?} starts with `{SQLITE_RESERVED_PREFIX}`, which SQLite reserves for its own tables (the embedded store could not create it); write `name: {instead}` or another name"
        ));
    }
    None
}

/// Table-name prefix SQLite reserves (the embedded store's tables are named as in the file).
pub const SQLITE_RESERVED_PREFIX: &str = "sqlite_";

/// Why a LookML tag would not work in `tags: [...]`, if it would not.
pub fn tag_problem(tag: &str) -> Option<String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':' || c == '.');
    (!ok).then(|| {
        format!(
            "tag {tag:?} must be letters, digits, '-', '_', ':' or '.' (a LookML field tag); write `{}`",
            suggest(tag).replace('_', "-")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_looker_and_bigquery_rules() {
        assert!(action_name_problem("mark_suspicious").is_none());
        assert!(action_name_problem("Mark Suspicious")
            .unwrap()
            .contains("write `name: mark_suspicious`"));
        assert!(action_name_problem("a/b").is_some());
        assert!(action_name_problem(&"a".repeat(65)).is_some());
        assert!(column_name_problem("order_id").is_none());
        assert!(column_name_problem("_partitiontime").is_some());
        assert!(column_name_problem("select")
            .unwrap()
            .contains("reserved word"));
        assert!(column_name_problem("Order ID")
            .unwrap()
            .contains("write `order_id`"));
        assert!(table_name_problem("9lives").unwrap().contains("n_9lives"));
        assert!(table_name_problem("sqlite_stat1")
            .unwrap()
            .contains("write `name: stat1_log`"));
        assert!(table_name_problem("sqlite_flags").is_some());
        assert!(table_name_problem("my_sqlite_flags").is_none());
        // A suggestion is itself a valid name: within the length limit.
        for (long, max) in [
            (
                "a_two_with_an_extremely_long_name_that_goes_on_and_on_past_sixty_four_chars",
                64,
            ),
            (&*format!("{}_x", "b".repeat(63)), 64),
        ] {
            let p = action_name_problem(long).unwrap();
            let s = p.rsplit("`name: ").next().unwrap().trim_end_matches('`');
            assert!(s.len() <= max && action_name_problem(s).is_none(), "{p}");
        }
        assert!(tag_problem("mark-suspicious").is_none());
        assert!(tag_problem("mark suspicious").is_some());
    }
}
