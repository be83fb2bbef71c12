#!/usr/bin/env python3
"""The deploy's guard over the write-back tables (run by scripts/deploy.sh; Python 3 standard library).

The tables are insert-only logs of business decisions: no deploy may lose a row or a column. The
Google provider would, silently: on update it runs `ALTER TABLE … DROP COLUMN` for every column
missing from the configuration (resourceBigQueryTableColumnDrop), and it replaces the table (rows
and all) when a column's type changes, a NULLABLE column becomes REQUIRED, a REQUIRED column is
added, or columns are dropped and added at once (resourceBigQueryTableSchemaIsChangeable,
bigQueryTableModeIsForceNew); a changed dataset location replaces the dataset. So:

  plan_guard.py keep-modes STATE_JSON TABLES_DIR
      Before the plan: in the generated schemas of TABLES_DIR (tables.json and one schema per
      table), a column the deployed table (in `terraform show -json` of the state) has REQUIRED
      stays REQUIRED. The generator writes a required field's column NULLABLE (the hub enforces
      `required: true`); tables deployed by earlier releases have it REQUIRED, and relaxing it
      would change a deployed column behind the operator's back. Prints each column kept.

  plan_guard.py deployed-location STATE_JSON
      The location of the deployed write-back dataset (empty when none): scripts/deploy.sh keeps
      it when bigquery_location is not set, as changing it would replace the dataset.

  plan_guard.py check PLAN_JSON
      After `terraform plan -out`, on `terraform show -json` of the plan: refuses (exit 1, one
      line per problem, before anything is applied) a plan that deletes or replaces a write-back
      table or the dataset, drops a column, changes a column's type, makes a column REQUIRED or
      adds a REQUIRED one. Prints the columns it adds and any REQUIRED column made NULLABLE.

A file argument `-` reads standard input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TABLE = "google_bigquery_table"
DATASET = "google_bigquery_dataset"

# The provider's own equivalences (bigQueryTableTypeEq): legacy and standard SQL names, any case.
SAME_TYPE = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}


def norm_type(t: object) -> str:
    t = str(t or "").upper()
    return SAME_TYPE.get(t, t)


def norm_mode(m: object) -> str:
    """bigQueryTableNormalizeMode: no mode is NULLABLE."""
    return str(m).upper() if m else "NULLABLE"


def read_json(arg: str) -> dict:
    text = sys.stdin.read() if arg == "-" else Path(arg).read_text()
    return json.loads(text) if text.strip() else {}


def columns(schema: object) -> dict[str, dict]:
    """name -> column of a `schema` attribute (a JSON string in the state and the plan)."""
    if isinstance(schema, str):
        schema = json.loads(schema) if schema.strip() not in ("", "null") else []
    return {c["name"]: c for c in (schema or [])}


def state_resources(state: dict, rtype: str) -> list[dict]:
    """Every instance of `rtype` in a state's root module (no child modules here)."""
    return [r for r in state.get("values", {}).get("root_module", {}).get("resources", []) if r.get("type") == rtype]


def table_name(values: dict, index: object) -> str:
    return str(values.get("table_id") or index)


# --------------------------------------------------------------------------- keep-modes


def keep_modes(state: dict, tables_dir: Path) -> list[str]:
    manifest = json.loads((tables_dir / "tables.json").read_text())
    kept = []
    for r in state_resources(state, TABLE):
        name = table_name(r.get("values", {}), r.get("index"))
        if name not in manifest:
            continue
        deployed = columns(r["values"].get("schema"))
        path = tables_dir / manifest[name]["schema"]
        schema = json.loads(path.read_text())
        changed = False
        for c in schema:
            d = deployed.get(c["name"])
            if d and norm_mode(d.get("mode")) == "REQUIRED" and norm_mode(c.get("mode")) == "NULLABLE":
                c["mode"] = "REQUIRED"
                changed = True
                kept.append(f"table {name}, column {c['name']}: REQUIRED as deployed (the hub fills it in every row)")
        if changed:
            path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    return kept


# --------------------------------------------------------------------------- check


def schema_problems(table: str, before: dict, after: dict, notes: list[str]) -> list[str]:
    out = []
    for name, b in before.items():
        a = after.get(name)
        if a is None:
            out.append(
                f"table {table}, column {name}: the plan drops it and every value in it. The actions file no longer "
                f"declares it: put its field back and mark it `retired: true` (it leaves the form; the column and its "
                f"history stay). A column is never renamed or removed: add the new name as a new field."
            )
            continue
        if norm_type(a.get("type")) != norm_type(b.get("type")):
            out.append(
                f"table {table}, column {name}: the plan changes its type from {b.get('type')} to {a.get('type')}, "
                f"which replaces the table and its rows. Keep the field's type; put values of the new type in a "
                f"new field (a new NULLABLE column, e.g. {name}_v2)."
            )
        bm, am = norm_mode(b.get("mode")), norm_mode(a.get("mode"))
        if bm != am and am != "NULLABLE":
            out.append(
                f"table {table}, column {name}: the plan makes it {am} (it is {bm}), which replaces the table and its "
                f"rows (BigQuery cannot tighten a column). Remove `mode: {am}` from its `column:`: the hub enforces "
                f"`required: true` on a NULLABLE column."
            )
        elif bm != am:
            notes.append(f"table {table}, column {name}: REQUIRED → NULLABLE (in place, no row changes)")
    for name, a in after.items():
        if name in before:
            continue
        if norm_mode(a.get("mode")) != "NULLABLE":
            out.append(
                f"table {table}, column {name}: the plan adds it {norm_mode(a.get('mode'))}, which replaces the table "
                f"and its rows (its old rows have no value). A new column must be NULLABLE: remove `mode: REQUIRED`."
            )
        else:
            notes.append(f"table {table}, column {name}: added ({a.get('type')}, NULLABLE; old rows read NULL)")
    return out


def check(plan: dict) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    notes: list[str] = []
    for rc in plan.get("resource_changes", []):
        rtype, change = rc.get("type"), rc.get("change", {})
        actions = change.get("actions", [])
        before, after = change.get("before") or {}, change.get("after") or {}
        if rtype == DATASET and "delete" in actions:
            what = "replaces" if "create" in actions else "deletes"
            location = ""
            if "create" in actions and before.get("location") != after.get("location"):
                location = f" (its location changes from {before.get('location')} to {after.get('location')}: set bigquery_location = \"{before.get('location')}\")"
            problems.append(
                f"dataset {before.get('dataset_id')}: the plan {what} it and every write-back table in it{location}. "
                f"A deploy never does; move data between datasets yourself, with BigQuery, if you must."
            )
        if rtype != TABLE:
            continue
        table = table_name(before or after, rc.get("index"))
        if "delete" in actions:
            if "create" in actions:
                why = schema_problems(table, columns(before.get("schema")), columns(after.get("schema")), [])
                problems += why or [
                    f"table {table}: the plan replaces it (deletes it and creates it empty), losing its rows: undo "
                    f"the change of its settings (partitioning, clustering)."
                ]
            else:
                problems.append(
                    f"table {table}: the plan deletes it and its rows (an action removed, or its table renamed?). A "
                    f"table that holds decisions is never removed by a deploy: keep the action (mark its fields "
                    f"`retired: true`, or keep the old table name); to rename, keep the old table and add a new action."
                )
            continue
        if "update" not in actions:
            continue
        if change.get("after_unknown", {}).get("schema") is True:
            problems.append(f"table {table}: its new schema is unknown until apply, so it cannot be checked")
            continue
        problems += schema_problems(table, columns(before.get("schema")), columns(after.get("schema")), notes)
    return problems, notes


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "keep-modes":
        for line in keep_modes(read_json(argv[1]), Path(argv[2])):
            print(f"plan_guard: {line}", file=sys.stderr)
        return 0
    if len(argv) == 2 and argv[0] == "deployed-location":
        datasets = state_resources(read_json(argv[1]), DATASET)
        print(datasets[0]["values"].get("location", "") if datasets else "")
        return 0
    if len(argv) == 2 and argv[0] == "check":
        problems, notes = check(read_json(argv[1]))
        for n in notes:
            print(f"plan_guard: {n}", file=sys.stderr)
        if problems:
            print("plan_guard: the plan would lose write-back history; nothing was applied:", file=sys.stderr)
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
