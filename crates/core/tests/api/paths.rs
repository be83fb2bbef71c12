//! One list of paths: the core crate's route table, the API Gateway spec (deploy/openapi.yaml),
//! the Apigee bundle (apigee/apiproxy) and terraform (terraform/main.tf) name exactly the same
//! routes, each served by the same function.
//!
//! The files are read as text with small purpose-built readers (no YAML/XML/HCL dependency); each
//! reader fails loudly when the file no longer has the shape it expects. The files' full syntax is
//! checked by scripts/validate_deploy.sh (openapi-spec-validator, apigeelint, terraform).

use std::collections::BTreeSet;
use std::path::PathBuf;

use hub_core::routes::{Function, Method, HEALTH_PATH, ROUTES, UPTIME_PATH};

/// (method, path, function) — e.g. ("POST", "/actions/{name}/form", "action_form").
type RouteSet = BTreeSet<(String, String, String)>;

/// (method, path) of one route.
type MethodPath = (String, String);

/// A conditional flow of the Apigee proxy: the route it selects and its XML.
type ApigeeFlow = (MethodPath, String);

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
    }
}

fn core_routes() -> RouteSet {
    ROUTES
        .iter()
        .map(|r| {
            (
                method_name(r.method).to_string(),
                r.path.to_string(),
                r.function.service_name().to_string(),
            )
        })
        .collect()
}

/// The routes without a hub token (browser-facing), as (method, path).
fn core_browser_routes() -> BTreeSet<MethodPath> {
    ROUTES
        .iter()
        .filter(|r| !r.needs_hub_token)
        .map(|r| (method_name(r.method).to_string(), r.path.to_string()))
        .collect()
}

fn assert_same(what: &str, expected: &RouteSet, actual: &RouteSet) {
    let missing: Vec<_> = expected.difference(actual).collect();
    let extra: Vec<_> = actual.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} and the core route table (crates/core/src/routes.rs) differ:\n  \
         missing from {what}: {missing:?}\n  only in {what}: {extra:?}"
    );
}

fn quoted_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let open = rest.find('"')? + 1;
    let close = rest[open..].find('"')? + open;
    Some(&rest[open..close])
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim())
}

/// `paths:` of the OpenAPI 2.0 spec: path keys at indent 2, methods at 4, `x-google-backend`
/// fields at 8. Returns the routes (function from `address: ${<function>_url}`) and the operations
/// with `security: []`.
fn openapi_routes(spec: &str) -> (RouteSet, BTreeSet<MethodPath>) {
    let mut routes = RouteSet::new();
    let mut unauthenticated = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    let mut method: Option<String> = None;
    let mut ops_without_backend = Vec::new();
    let mut backend_found = true;
    for line in spec.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 0 {
            in_paths = t == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        match indent {
            2 => {
                path = Some(t.trim_end_matches(':').trim_matches('"').to_string());
                method = None;
            }
            4 => {
                if !backend_found {
                    ops_without_backend.push(format!("{method:?} {path:?}"));
                }
                method = Some(t.trim_end_matches(':').to_ascii_uppercase());
                backend_found = false;
            }
            6 if t == "security: []" => {
                unauthenticated.insert((method.clone().unwrap(), path.clone().unwrap()));
            }
            8 if t.starts_with("address:") => {
                let value = t["address:".len()..].trim();
                let function = value
                    .strip_prefix("${")
                    .and_then(|v| v.strip_suffix("_url}"))
                    .unwrap_or_else(|| {
                        panic!("deploy/openapi.yaml: address {value:?} is not ${{<function>_url}}")
                    });
                let (m, p) = (method.clone(), path.clone());
                routes.insert((
                    m.expect("address outside an operation"),
                    p.expect("address outside a path"),
                    function.to_string(),
                ));
                backend_found = true;
            }
            _ => {}
        }
    }
    if !backend_found {
        ops_without_backend.push(format!("{method:?} {path:?}"));
    }
    assert!(
        ops_without_backend.is_empty(),
        "deploy/openapi.yaml: operations without x-google-backend address: {ops_without_backend:?}"
    );
    assert!(!routes.is_empty(), "deploy/openapi.yaml: no paths found");
    (routes, unauthenticated)
}

/// Every `<tag ...>...</tag>` block of an XML text (tags not nested in themselves).
fn xml_blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    let close = format!("</{tag}>");
    let mut blocks = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let head_end = after.find('>').expect("unterminated tag");
        if after[..head_end].ends_with('/') {
            rest = &after[head_end..]; // <RouteRule name="none"/>: no route
            continue;
        }
        let end = after.find(&close).expect("unclosed block") + close.len();
        blocks.push(&after[..end]);
        rest = &after[end..];
    }
    blocks
}

/// The (method, path) an Apigee condition selects, in route-table syntax.
fn apigee_condition_route(condition: &str) -> MethodPath {
    let verb = quoted_after(condition, "request.verb =")
        .unwrap_or_else(|| panic!("apigee condition without request.verb: {condition}"));
    let path = match quoted_after(condition, "MatchesPath") {
        Some(p) => p.replace('*', "{name}"),
        None if condition.contains(r#"proxy.pathsuffix = "/""#) => "/".to_string(),
        None => panic!("apigee condition without a path: {condition}"),
    };
    (verb.to_string(), path)
}

/// Route rules of the proxy endpoint, plus the policies each conditional flow runs.
fn apigee_routes(proxy: &str) -> (RouteSet, Vec<ApigeeFlow>) {
    let mut routes = RouteSet::new();
    for rule in xml_blocks(proxy, "RouteRule") {
        let target = between(rule, "<TargetEndpoint>", "</TargetEndpoint>")
            .unwrap_or_else(|| panic!("apigee route rule without target: {rule}"));
        let condition = between(rule, "<Condition>", "</Condition>")
            .unwrap_or_else(|| panic!("apigee route rule without condition: {rule}"));
        let (m, p) = apigee_condition_route(condition);
        routes.insert((m, p, target.replace('-', "_")));
    }
    let flows = xml_blocks(proxy, "Flow")
        .into_iter()
        .filter_map(|flow| {
            // The flow's own condition is its last <Condition> (steps may carry conditions too).
            let condition = flow
                .rfind("<Condition>")
                .map(|i| between(&flow[i..], "<Condition>", "</Condition>").unwrap())?;
            Some((apigee_condition_route(condition), flow.to_string()))
        })
        .collect();
    (routes, flows)
}

/// `routes = [ { method = "POST", path = "/", function = "actions_list" }, ... ]` in main.tf.
fn terraform_routes(main_tf: &str) -> RouteSet {
    let start = main_tf
        .find("  routes = [")
        .expect("terraform/main.tf: no `routes = [` in locals");
    let block = &main_tf[start..start + main_tf[start..].find("\n  ]").unwrap()];
    let routes: RouteSet = block
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| {
            let field = |k: &str| {
                quoted_after(l, &format!("{k} ="))
                    .unwrap_or_else(|| panic!("terraform route without {k}: {l}"))
                    .to_string()
            };
            (field("method"), field("path"), field("function"))
        })
        .collect();
    assert!(!routes.is_empty(), "terraform/main.tf: empty routes list");
    routes
}

/// The keys of `all_functions = { ... }` in main.tf (one Cloud Run service each; `functions`
/// leaves out the OAuth ones in service mode).
fn terraform_functions(main_tf: &str) -> BTreeSet<String> {
    let start = main_tf
        .find("  all_functions = {")
        .expect("terraform/main.tf: no `all_functions = {` in locals");
    let block = &main_tf[start..start + main_tf[start..].find("\n  }").unwrap()];
    block
        .lines()
        .filter(|l| l.starts_with("    ") && !l.starts_with("     ") && l.ends_with("= {"))
        .map(|l| l.trim().trim_end_matches("= {").trim().to_string())
        .collect()
}

#[test]
fn openapi_spec_routes_every_core_path_to_its_function() {
    let (routes, unauthenticated) = openapi_routes(&repo_file("deploy/openapi.yaml"));
    assert_same("deploy/openapi.yaml", &core_routes(), &routes);
    assert_eq!(
        unauthenticated,
        core_browser_routes(),
        "deploy/openapi.yaml: exactly the browser-facing routes (no hub token) must have `security: []`"
    );
}

#[test]
fn apigee_bundle_routes_every_core_path_to_its_function() {
    let proxy = repo_file("apigee/apiproxy/proxies/default.xml");
    let (routes, flows) = apigee_routes(&proxy);
    assert_same(
        "apigee/apiproxy/proxies/default.xml",
        &core_routes(),
        &routes,
    );

    // Quota and spike arrest on exactly the Looker-facing routes.
    let browser = core_browser_routes();
    for route in ROUTES {
        let key = (
            method_name(route.method).to_string(),
            route.path.to_string(),
        );
        let flow = flows
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("apigee: no flow for {key:?}"));
        let limited = flow.1.contains("<Name>SA-LookerCalls</Name>")
            && flow.1.contains("<Name>Q-LookerCalls</Name>");
        assert_eq!(
            limited,
            !browser.contains(&key),
            "apigee flow for {key:?}: spike arrest + quota on Looker-facing routes only"
        );
    }

    // Each target endpoint reaches its function's target server with its custom audience
    // (both named by terraform/apigee.tf and terraform/main.tf).
    for f in Function::ALL {
        let name = f.service_name().replace('_', "-");
        let target = repo_file(&format!("apigee/apiproxy/targets/{name}.xml"));
        assert!(
            target.contains(&format!("<Audience>looker-action-hub-{name}</Audience>")),
            "apigee target {name}: audience must be looker-action-hub-{name}"
        );
        // The default name_prefix's target server (docs/deployment.md: packaging rewrites the prefix).
        assert!(
            target.contains(&format!(r#"<Server name="looker-hub-{name}"/>"#)),
            "apigee target {name}: target server must be looker-hub-{name}"
        );
    }
}

#[test]
fn terraform_routes_and_services_match_the_core() {
    let main_tf = repo_file("terraform/main.tf");
    assert_same(
        "terraform/main.tf",
        &core_routes(),
        &terraform_routes(&main_tf),
    );
    let services: BTreeSet<String> = Function::ALL
        .iter()
        .map(|f| f.service_name().to_string())
        .collect();
    assert_eq!(
        terraform_functions(&main_tf),
        services,
        "terraform/main.tf: one Cloud Run service per function of the core crate"
    );
    // The names the Apigee targets rely on: custom audience and target server per function.
    assert!(
        main_tf.contains(r#""looker-action-hub-${replace(f, "_", "-")}""#),
        "terraform/main.tf: the custom audiences must stay looker-action-hub-<function>"
    );
    assert!(
        repo_file("terraform/apigee.tf").contains("name        = local.service_names[each.key]")
            && main_tf.contains(
                r#"service_names = { for f, _ in local.functions : f => "${var.name_prefix}-${replace(f, "_", "-")}" }"#
            )
            && repo_file("terraform/variables.tf").contains(r#"default     = "looker-hub""#),
        "terraform/apigee.tf: the target servers must be <name_prefix>-<function> (looker-hub-<function> by default)"
    );
}

#[test]
fn health_path_stays_off_the_gateways() {
    for file in [
        "deploy/openapi.yaml",
        "apigee/apiproxy/proxies/default.xml",
        "terraform/main.tf",
    ] {
        for path in [HEALTH_PATH, UPTIME_PATH] {
            assert!(
                !repo_file(file).contains(path),
                "{file} names {path}: health checks go to each service directly, not through a gateway"
            );
        }
    }
}

/// The BigQuery tables terraform creates are the table descriptions (`sinks::table`): same columns
/// (name, type, mode, description) in the same order, the same partitioning and clustering; and the
/// embedded store's tables have the described columns, NOT NULL (or key) exactly where REQUIRED.
#[test]
fn terraform_table_schemas_match_the_write_back_tables() {
    use hub_core::declared::builtin;
    use hub_core::sinks::sqlite::SqliteSink;

    // The built-in actions' tables and the run ledger's.
    let builtin_tables = || {
        let mut all = builtin::tables();
        all.extend(hub_core::sinks::ledger::tables());
        all
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.sqlite");
    drop(SqliteSink::open_with(&path, &builtin_tables()).expect("open the embedded store"));
    let conn = rusqlite::Connection::open(&path).unwrap();
    // terraform/bigquery.tf creates the tables of terraform/schemas/tables.json (generated from
    // the built-in actions, fresh by declared::emit's tests) under these same keys.
    let bigquery_tf = repo_file("terraform/bigquery.tf");
    assert!(
        bigquery_tf.contains(r#"jsondecode(file("${local.tables_dir}/tables.json"))"#)
            && bigquery_tf.contains(r#""${path.module}/schemas""#),
        "terraform/bigquery.tf must read its tables from schemas/tables.json"
    );
    let tables: serde_json::Value =
        serde_json::from_str(&repo_file("terraform/schemas/tables.json")).unwrap();
    assert_eq!(
        tables.as_object().unwrap().len(),
        builtin_tables().len(),
        "terraform/schemas/tables.json must hold exactly the built-in and run ledger tables"
    );
    for def in builtin_tables() {
        let table = def.name.as_str();
        let entry = &tables[table];
        assert_eq!(
            entry["schema"],
            format!("{table}.json"),
            "tables.json: {table} must be created from schemas/{table}.json"
        );
        assert_eq!(
            entry["description"], def.description,
            "tables.json: the description of {table} differs from its table description"
        );
        let partition = def.partition_by_day.as_deref().unwrap_or("");
        assert_eq!(
            entry["partition"], partition,
            "tables.json: {table} must be partitioned on {partition:?}"
        );
        assert_eq!(
            entry["clustering"],
            serde_json::json!(def.clustering),
            "tables.json: {table} must be clustered by {:?}",
            def.clustering
        );

        let schema: serde_json::Value =
            serde_json::from_str(&repo_file(&format!("terraform/schemas/{table}.json"))).unwrap();
        let described: Vec<serde_json::Value> = def
            .columns
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "type": c.ty.bigquery_name(),
                    "mode": c.mode.bigquery_name(),
                    "description": c.description,
                })
            })
            .collect();
        assert_eq!(
            schema,
            serde_json::Value::Array(described),
            "terraform/schemas/{table}.json differs from the table description"
        );

        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .unwrap();
        let store: Vec<(String, bool)> = stmt
            .query_map([], |r| {
                let notnull: i64 = r.get(3)?;
                let pk: i64 = r.get(5)?;
                Ok((r.get::<_, String>(1)?, notnull == 1 || pk > 0))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let required: Vec<(String, bool)> = def
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.mode == hub_core::sinks::Mode::Required))
            .collect();
        assert_eq!(
            store, required,
            "the embedded store's {table} differs from the table description"
        );
    }
}

/// The LookML views of the write-back tables read only described columns, with a matching
/// LookML type (string / number / yesno / time), so a renamed or retyped column cannot leave a
/// view pointing at nothing.
#[test]
fn lookml_views_read_only_described_columns() {
    use hub_core::declared::builtin;
    use hub_core::sinks::ColumnType;

    for def in builtin::tables() {
        let table = def.name.as_str();
        let lookml = repo_file(&format!("lookml/{table}.view.lkml"));
        let head = format!("sql_table_name: `@{{writeback_dataset}}.{table}` ;;");
        let start = lookml
            .find(&head)
            .unwrap_or_else(|| panic!("lookml/{table}.view.lkml has no view of {table}"));
        let view = &lookml[start..];
        let view = &view[..view.find("\nview:").unwrap_or(view.len())];
        let mut read = 0;
        // Each field: its kind line (`dimension: x {`), its type, its sql.
        for field in view.split("\n  dimension").skip(1) {
            let ty = field
                .lines()
                .find_map(|l| l.trim().strip_prefix("type: "))
                .unwrap_or("string");
            // Every column is backquoted (`${TABLE}.`col``): a GoogleSQL keyword is a fine name.
            for (i, _) in field.match_indices("${TABLE}.`") {
                let rest = &field[i + "${TABLE}.`".len()..];
                let col: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let (_, c) = def.column(&col).unwrap_or_else(|| {
                    panic!("the LookML view of {table} reads {col}, which the table does not have")
                });
                read += 1;
                // A plain `sql: ${TABLE}.`col` ;;` shows the column as it is: its type must fit.
                if field.contains(&format!("sql: ${{TABLE}}.`{col}` ;;")) {
                    let fits = match c.ty {
                        ColumnType::String | ColumnType::Json => ty == "string",
                        ColumnType::Int64 | ColumnType::Numeric | ColumnType::Float64 => {
                            ty == "number"
                        }
                        ColumnType::Bool => ty == "yesno",
                        ColumnType::Date | ColumnType::Timestamp => ty == "time",
                    };
                    assert!(
                        fits,
                        "the LookML view of {table} shows {col} ({}) as type {ty}",
                        c.ty.bigquery_name()
                    );
                }
            }
        }
        assert!(read > 0, "the LookML view of {table} reads no column");
    }
}
