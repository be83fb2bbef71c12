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
            suggest(name)
        ));
    }
    None
}

/// Why a form field name would not work (form_params key, message placeholder), if it would not.
pub fn field_name_problem(name: &str) -> Option<String> {
    if !snake(name) || name.len() > MAX_ACTION_NAME {
        return Some(format!(
            "field name {name:?} must be lowercase letters, digits and underscores and start with a letter; write `name: {}`",
            suggest(name)
        ));
    }
    None
}

/// Why BigQuery (or the LookML generated over it) would refuse a column name, if it would.
pub fn column_name_problem(name: &str) -> Option<String> {
    if !snake(name) || name.len() > MAX_COLUMN_NAME {
        return Some(format!(
            "column name {name:?} must be lowercase letters, digits and underscores and start with a letter (BigQuery and LookML identifiers); write `{}`",
            suggest(name)
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
            suggest(name)
        ));
    }
    None
}

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
        assert!(tag_problem("mark-suspicious").is_none());
        assert!(tag_problem("mark suspicious").is_some());
    }
}
