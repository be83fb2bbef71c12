//! Which names Looker, BigQuery, LookML and the embedded store accept, and which the files
//! `hub generate-actions` writes leave free: checked at load so a bad name is a configuration
//! error with a suggestion, never a failed deploy or a 404 in Looker.
//!
//! A keyword of SQLite or GoogleSQL is a column name like any other: every SQL text the hub
//! builds quotes its identifiers (the embedded store's DDL and inserts, the generated LookML's
//! `sql:`). A table name cannot be a GoogleSQL reserved keyword: Looker, not the hub, writes the
//! LookML view's name — the table's — unquoted as the table alias of its queries.

use super::report::{advice, advice_on, Says};

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

/// GoogleSQL reserved keywords: refused as table names (see the module's documentation).
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

/// `name` as shown in a problem: a very long one is cut (the line stays readable).
fn shown(name: &str) -> String {
    const SHOWN: usize = 80;
    match name.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{:?}… ({} characters)", &name[..i], name.chars().count()),
        None => format!("{name:?}"),
    }
}

/// The problem of a snake_case name of at most `max` characters (`what` names its kind, `why`
/// says who needs the rule): the length limit named as such, else the character rule.
fn snake_problem(what: &str, name: &str, max: usize, why: &str, instead: &str) -> Option<Says> {
    let write = || format!("write `{instead}`");
    if snake(name) && name.len() > max {
        let message = format!(
            "{what} {} is longer than {max} characters{why}",
            shown(name)
        );
        return Some(advice_on(message, write()));
    }
    (!snake(name)).then(|| {
        let message = format!(
            "{what} {} must be lowercase letters, digits and underscores, start with a letter, at most {max} characters{why}",
            shown(name)
        );
        advice_on(message, write())
    })
}

/// Why Looker would refuse an action name (it is a path segment of every call), if it would.
pub(crate) fn action_name_problem(name: &str) -> Option<Says> {
    snake_problem(
        "action name",
        name,
        MAX_ACTION_NAME,
        " (it is part of the URL Looker calls)",
        &format!("name: {}", suggest_within(name, MAX_ACTION_NAME)),
    )
}

/// Why a form field name would not work (form_params key, message placeholder), if it would not.
pub(crate) fn field_name_problem(name: &str) -> Option<Says> {
    snake_problem(
        "field name",
        name,
        MAX_ACTION_NAME,
        "",
        &format!("name: {}", suggest_within(name, MAX_ACTION_NAME)),
    )
}

/// A column name that passes [`column_name_problem`], close to `name`.
fn column_suggestion(name: &str) -> String {
    // `suggest` never starts with '_': no reserved prefix.
    suggest_within(name, MAX_COLUMN_NAME)
}

/// Why BigQuery (or the LookML generated over it) would refuse a column name, if it would.
pub(crate) fn column_name_problem(name: &str) -> Option<Says> {
    if let Some(p) = snake_problem(
        "column name",
        name,
        MAX_COLUMN_NAME,
        " (BigQuery and LookML identifiers)",
        &column_suggestion(name),
    ) {
        return Some(p);
    }
    if let Some(p) = BQ_RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        let message = format!("column name {name:?} starts with {p:?}, which BigQuery reserves");
        return Some(advice_on(
            message,
            format!("write `{}`", column_suggestion(name)),
        ));
    }
    None
}

/// A table name that passes [`table_name_problem`], close to `name`.
fn table_suggestion(name: &str) -> String {
    let s = suggest_within(name, MAX_TABLE_NAME);
    match s.strip_prefix(SQLITE_RESERVED_PREFIX) {
        Some(rest) if rest.trim_matches('_').is_empty() => "my_table".to_string(),
        Some(rest) => format!("{}_log", suggest_within(rest, MAX_TABLE_NAME - 4)),
        None if BQ_KEYWORDS.contains(&s.as_str())
            || is_generated_file(&s)
            || crate::sinks::ledger::is_ledger_table(&s) =>
        {
            format!("{s}_log")
        }
        None => s,
    }
}

/// Whether a table of this name would have the name of a file `hub generate-actions` writes
/// besides the table's own (its terraform schema `<table>.json` would be `tables.json`).
fn is_generated_file(table: &str) -> bool {
    super::emit::schema_file(table) == super::emit::MANIFEST_FILE
}

/// Why BigQuery / LookML would refuse a table name, if they would.
pub(crate) fn table_name_problem(name: &str) -> Option<Says> {
    if let Some(p) = snake_problem(
        "table name",
        name,
        MAX_TABLE_NAME,
        " (BigQuery table and LookML view name)",
        &format!("name: {}", table_suggestion(name)),
    ) {
        return Some(p);
    }
    // SQLite reserves every name starting with `sqlite_` (case aside) for its own tables
    // (sqlite_schema, sqlite_sequence, sqlite_stat1, ...): the embedded store could not create it.
    let message = if name.starts_with(SQLITE_RESERVED_PREFIX) {
        format!(
            "table name {name:?} starts with `{SQLITE_RESERVED_PREFIX}`, which SQLite reserves for its own tables (the embedded store could not create it)"
        )
    } else if BQ_KEYWORDS.contains(&name) {
        format!(
            "table name {name:?} is a reserved word in BigQuery SQL: the generated LookML view has the table's name, and Looker writes a view's name unquoted as the table alias of its queries (`FROM … AS {name}`), which BigQuery refuses"
        )
    } else if crate::sinks::ledger::is_ledger_table(name) {
        format!(
            "table name {name:?} is a table of the hub's run ledger ({}, {}: one row per execute of any action)",
            crate::sinks::ledger::RUNS_TABLE,
            crate::sinks::ledger::REJECTED_ROWS_TABLE,
        )
    } else if is_generated_file(name) {
        format!(
            "table name {name:?} would make `hub generate-actions` write its schema to `{}`, the list of tables terraform reads",
            super::emit::MANIFEST_FILE,
        )
    } else {
        return None;
    };
    let help = format!("write `name: {}` or another name", table_suggestion(name));
    Some(advice_on(message, help))
}

/// Table-name prefix SQLite reserves (the embedded store's tables are named as in the file).
pub const SQLITE_RESERVED_PREFIX: &str = "sqlite_";

/// Longest LookML tag this hub accepts.
pub const MAX_TAG: usize = 128;

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':' || c == '.'
}

/// A tag that passes [`tag_problem`], close to `tag`.
fn tag_suggestion(tag: &str) -> String {
    let s = if tag.chars().all(tag_char) && !tag.is_empty() {
        tag.to_string()
    } else {
        suggest(tag).replace('_', "-")
    };
    // ASCII only: any byte is a character boundary.
    let s = s[..s.len().min(MAX_TAG)].trim_end_matches(['-', '_', ':', '.']);
    if s.is_empty() {
        "my-tag".into()
    } else {
        s.to_string()
    }
}

/// Why a LookML tag would not work in `tags: [...]`, if it would not.
pub(crate) fn tag_problem(tag: &str) -> Option<Says> {
    if tag.is_empty() {
        let help = "write the LookML tag of the fields this action applies to";
        return Some(advice("a tag is empty", help));
    }
    if !tag.chars().all(tag_char) {
        let message = format!(
            "tag {} must be letters, digits, '-', '_', ':' or '.' (a LookML field tag)",
            shown(tag)
        );
        return Some(advice_on(
            message,
            format!("write `{}`", tag_suggestion(tag)),
        ));
    }
    (tag.len() > MAX_TAG).then(|| {
        let message = format!("tag {} is longer than {MAX_TAG} characters", shown(tag));
        let help = format!("write `{}` or another shorter tag", tag_suggestion(tag));
        advice_on(message, help)
    })
}

#[cfg(test)]
mod tests {
    // The problems in their one-line form.
    fn action_name_problem(name: &str) -> Option<String> {
        super::action_name_problem(name).map(|p| p.to_string())
    }
    fn column_name_problem(name: &str) -> Option<String> {
        super::column_name_problem(name).map(|p| p.to_string())
    }
    fn table_name_problem(name: &str) -> Option<String> {
        super::table_name_problem(name).map(|p| p.to_string())
    }
    fn tag_problem(tag: &str) -> Option<String> {
        super::tag_problem(tag).map(|p| p.to_string())
    }
    fn field_name_problem(name: &str) -> Option<String> {
        super::field_name_problem(name).map(|p| p.to_string())
    }

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
        // Keywords are quoted wherever the hub writes SQL: fine column names, not table names.
        for keyword in [
            "select", "order", "index", "values", "check", "primary", "table",
        ] {
            assert_eq!(column_name_problem(keyword), None, "{keyword}");
        }
        assert!(table_name_problem("select")
            .unwrap()
            .contains("reserved word in BigQuery SQL"));
        // The run ledger's tables are the hub's own.
        assert!(table_name_problem("hub_runs")
            .unwrap()
            .contains("a table of the hub's run ledger (hub_runs, hub_rejected_rows: one row per execute of any action); write `name: hub_runs_log`"));
        assert!(table_name_problem("hub_rejected_rows").is_some());
        assert!(table_name_problem("tables")
            .unwrap()
            .contains("write `name: tables_log`"));
        assert!(table_name_problem("table").is_none());
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

    /// The text between the last "write `" and the next '`' of a problem (without a `name: `).
    fn suggestion(problem: &str) -> &str {
        let s = problem.rsplit("write `").next().unwrap();
        let s = &s[..s.find('`').unwrap()];
        s.strip_prefix("name: ").unwrap_or(s)
    }

    /// Every refusal names its real reason, and its suggestion passes the same rule.
    #[test]
    fn every_suggestion_passes_its_own_rule() {
        let long_tag = "t".repeat(300);
        let p = tag_problem(&long_tag).unwrap();
        assert!(p.contains("longer than 128 characters"), "{p}");
        assert!(!p.contains("must be letters"), "{p}");
        assert_eq!(suggestion(&p), "t".repeat(128));
        assert!(tag_problem(&"t".repeat(128)).is_none());
        let p = action_name_problem(&"a".repeat(65)).unwrap();
        assert!(p.contains("longer than 64 characters"), "{p}");
        let inputs = [
            "",
            "_",
            "Select",
            "_partition",
            "_PARTITION",
            "__root__",
            "Sqlite_stat1",
            "sqlite_",
            "sqlite__1",
            "SQLITE_x y",
            "9lives",
            "Même",
            "日本語",
            "a b:c.d",
            "--",
            "x-",
            &"t".repeat(300),
            &format!("{}-{}", "a".repeat(127), "b".repeat(10)),
            &format!("{} x", "b".repeat(400)),
            &format!("sqlite_{}", "c".repeat(200)),
        ];
        type Rule = fn(&str) -> Option<String>;
        let rules: [(&str, Rule); 5] = [
            ("action", action_name_problem),
            ("field", field_name_problem),
            ("column", column_name_problem),
            ("table", table_name_problem),
            ("tag", tag_problem),
        ];
        for (what, rule) in rules {
            for input in inputs {
                let Some(p) = rule(input) else { continue };
                if p.contains("is empty") {
                    continue;
                }
                let s = suggestion(&p);
                assert_ne!(s, input, "{what}: {p}");
                assert_eq!(rule(s), None, "{what} {input:?}: {p}");
            }
        }
    }
}
