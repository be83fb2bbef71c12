"""Checks of terraform/monitoring*.tf on an applied stand-in state (scripts/deploy_rehearsal.py
calls `check()` for each deployment it rehearses), against real log lines of the hub
(scripts/monitoring_lines.py):

- every log-based metric's filter (monitoring_query.py: exactly the part of the Cloud Logging query
  language used, anything else refused) matches real lines of the hub, only lines of one event, and
  no line of a service outside the deployment; every label extractor yields a value from them;
  a distribution's value extractor yields an integer from every one;
- the dashboard (Dashboard), the alert policies (AlertPolicy) and the uptime checks
  (UptimeCheckConfig) parse as their API's messages (google-cloud-monitoring-dashboards,
  google-cloud-monitoring: json_format.Parse refuses unknown fields and wrong types);
- every metric type and metric label the alerts and charts read is one the log-based metrics define;
  the dashboard's logs panel matches real lines;
- each service has an uptime check on a path the real binary answers 200 without a token (not one
  ending in z, which Cloud Run's front end keeps), with an ID token of the Monitoring service agent,
  which holds roles/run.invoker on that service.
"""

from __future__ import annotations

import copy
import json
import re

from google.cloud.monitoring_dashboard_v1.types import Dashboard
from google.cloud.monitoring_v3.types import AlertPolicy, UptimeCheckConfig
from google.protobuf import json_format

from monitoring_query import Query, extractor, self_check

# The outcomes of the outcome event (helpers' contract between the hub and these metrics): the
# failure-rate alert names some; the binary must write no other.
OUTCOMES = {"success", "partial", "failed", "invalid", "interrupted", "refused"}
OUTCOME_VALUES = re.compile(r'metric\.labels?\.outcome\s*=\s*(?:one_of\(([^)]*)\)|("[^"]*"))')
USER_METRIC = re.compile(r'metric\.type\s*=\s*"logging\.googleapis\.com/user/([^"]+)"')
METRIC_LABEL = re.compile(r"metric\.labels?\.([a-z_]+)")
# Arguments terraform has and the API message does not (the project is in the request's URL; the
# uptime check's id is Google's answer).
TERRAFORM_ONLY = {"project", "uptime_check_id"}


def resources(state: dict, rtype: str) -> list[dict]:
    return [r["values"] for r in state.get("values", {}).get("root_module", {}).get("resources", [])
            if r["type"] == rtype]


def as_api_json(value, descriptor, where: str) -> dict:
    """A terraform resource's arguments as its API message's JSON: nested blocks (lists of one for
    singular fields) unwrapped by the message's own descriptor. An argument the message lacks is an
    error, so a misspelt or invented field is found."""
    out = {}
    for key, v in value.items():
        if key in TERRAFORM_ONLY or v is None:
            continue
        # The Python messages spell a field named after a Python keyword with a trailing _.
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_name.get(f"{key}_")
        if field is None:
            raise ValueError(f"{where}.{key}: no such field in {descriptor.full_name}")
        if field.message_type is None or field.message_type.GetOptions().map_entry or \
                field.message_type.full_name.startswith("google.protobuf."):
            out[field.name] = v
        elif field.is_repeated:
            out[field.name] = [as_api_json(x, field.message_type, f"{where}.{key}") for x in v]
        else:
            blocks = v if isinstance(v, list) else [v]
            if len(blocks) != 1:
                raise ValueError(f"{where}.{key}: {len(blocks)} blocks for a singular field")
            out[field.name] = as_api_json(blocks[0], field.message_type, f"{where}.{key}")
    return out


def parse_as(message_class, doc: dict) -> None:
    json_format.Parse(json.dumps(doc), message_class.pb()())


def one_event(entries: list[dict]) -> bool:
    """Whether the lines are of one kind: one `event`, or all plain text."""
    kinds = {e["jsonPayload"].get("event") if "jsonPayload" in e else "text" for e in entries}
    return len(kinds) == 1 and None not in kinds


def elsewhere(e: dict) -> dict:
    """The same line written by a service outside the deployment."""
    other = copy.deepcopy(e)
    other["resource"]["labels"]["service_name"] = "someone-else"
    return other


def check_metric(m: dict, entries: list[dict], problem) -> tuple[str, dict] | None:
    """One log-based metric against the real lines: (summary, labels) or None after a problem."""
    name = m["name"]
    try:
        query = Query(m["filter"])
        labels = {k: extractor(x) for k, x in (m.get("label_extractors") or {}).items()}
        value = extractor(m["value_extractor"]) if m.get("value_extractor") else None
    except ValueError as e:
        problem(f"log metric {name}: {e}")
        return None
    matched = [e for e in entries if query.matches(e)]
    if not matched:
        problem(f"log metric {name}: its filter matches none of the {len(entries)} real log lines of the hub: {m['filter']}")
        return None
    if not one_event(matched):
        problem(f"log metric {name}: its filter matches lines of different events: {sorted({json.dumps(e.get('jsonPayload', {}).get('event')) for e in matched})}")
    if any(query.matches(elsewhere(e)) for e in matched):
        problem(f"log metric {name}: its filter also counts the lines of services outside the deployment")
    descriptor = m["metric_descriptor"][0]
    declared = {lab["key"] for lab in descriptor.get("labels") or []}
    if declared != set(labels):
        problem(f"log metric {name}: labels declared {sorted(declared)} but extracted {sorted(labels)}")
    seen = {}
    for key, fn in labels.items():
        seen[key] = sorted({str(v) for v in map(fn, matched) if v not in (None, "")})
        if not seen[key]:
            problem(f"log metric {name}: label {key} extracts nothing from the {len(matched)} lines it matches")
    if "outcome" in seen and not set(seen["outcome"]) <= OUTCOMES:
        problem(f"log metric {name}: the hub writes outcomes {sorted(set(seen['outcome']) - OUTCOMES)}, not among {sorted(OUTCOMES)}")
    distribution = descriptor["value_type"] == "DISTRIBUTION"
    if distribution != (value is not None) or distribution != bool(m.get("bucket_options")):
        problem(f"log metric {name}: a DISTRIBUTION needs a value extractor and buckets, a counter neither")
    if value is not None:
        bad = [v for v in map(value, matched) if not isinstance(v, int) or isinstance(v, bool) or v < 0]
        if bad:
            problem(f"log metric {name}: the value extractor yields {bad[:3]} (not a count) from {len(bad)} of {len(matched)} lines")
    return f"{name}: {len(matched)} lines", seen


def check_metrics(state: dict, entries: list[dict], problem, ok) -> dict[str, set[str]]:
    """The log-based metrics; returns each metric's labels by name."""
    metrics = resources(state, "google_logging_metric")
    out, summaries = {}, []
    for m in sorted(metrics, key=lambda m: m["name"]):
        out[m["name"]] = {lab["key"] for lab in m["metric_descriptor"][0].get("labels") or []}
        result = check_metric(m, entries, problem)
        if result:
            summaries.append(result[0])
    if len(summaries) == len(metrics) and metrics:
        ok(f"{len(metrics)} log-based metrics, each matching real lines of one event only within the deployment, "
           f"every extractor yielding values ({'; '.join(summaries)})")
    return out


def monitoring_filters(node) -> list[str]:
    """Every Cloud Monitoring filter in a resource (alert conditions, dashboard charts)."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in ("filter", "denominator_filter") and isinstance(v, str)] + \
            [f for k, v in node.items() if k != "logsPanel" for f in monitoring_filters(v)]
    if isinstance(node, list):
        return [f for v in node for f in monitoring_filters(v)]
    return []


def check_filters(where: str, filters: list[str], metric_labels: dict[str, set[str]], problem) -> None:
    for f in filters:
        for name in USER_METRIC.findall(f):
            if name not in metric_labels:
                problem(f"{where}: reads logging.googleapis.com/user/{name}, which no log-based metric defines")
            elif not set(METRIC_LABEL.findall(f)) <= metric_labels[name]:
                problem(f"{where}: filters on labels {sorted(set(METRIC_LABEL.findall(f)))}, {name} has {sorted(metric_labels[name])}")
        for listed, single in OUTCOME_VALUES.findall(f):
            named = set(re.findall(r'"([^"]*)"', listed or single))
            if not named or not named <= OUTCOMES:
                problem(f"{where}: outcomes {sorted(named - OUTCOMES) or '(none)'} are not outcomes of an execute {sorted(OUTCOMES)}")


def check_dashboard(state: dict, entries: list[dict], metric_labels: dict[str, set[str]], problem, ok) -> None:
    before = problem.count()
    dashboards = resources(state, "google_monitoring_dashboard")
    if len(dashboards) != 1:
        problem(f"expected one dashboard, found {len(dashboards)}")
        return
    doc = json.loads(dashboards[0]["dashboard_json"])
    try:
        parse_as(Dashboard, doc)
    except json_format.ParseError as e:
        problem(f"dashboard: not a valid Dashboard: {e}")
        return
    tiles = doc["mosaicLayout"]["tiles"]
    check_filters("dashboard", monitoring_filters(tiles), metric_labels, problem)
    panels = [t["widget"]["logsPanel"] for t in tiles if "logsPanel" in t["widget"]]
    for p in panels:
        try:
            if not any(Query(p["filter"]).matches(e) for e in entries):
                problem(f"dashboard logs panel: its filter matches no real log line: {p['filter']}")
        except ValueError as e:
            problem(f"dashboard logs panel: {e}")
    if problem.count() == before:
        ok(f"dashboard: a valid Dashboard of {len(tiles)} tiles, every metric and label it reads defined, "
           f"its logs panel matching real lines")


def check_alerts(state: dict, metric_labels: dict[str, set[str]], problem, ok) -> None:
    before = problem.count()
    policies = resources(state, "google_monitoring_alert_policy")
    for p in policies:
        where = f"alert policy {p['display_name']!r}"
        try:
            parse_as(AlertPolicy, as_api_json(p, AlertPolicy.pb().DESCRIPTOR, where))
        except (ValueError, json_format.ParseError) as e:
            problem(f"{where}: not a valid AlertPolicy: {e}")
        check_filters(where, monitoring_filters(p), metric_labels, problem)
        if not p.get("documentation"):
            problem(f"{where}: no documentation (what the person paged should do)")
    if problem.count() == before:
        ok(f"{len(policies)} alert policies, each a valid AlertPolicy with documentation, every metric and label they read defined")


def check_uptime(state: dict, answers: dict[str, tuple[int, str]], problem, ok) -> None:
    before = problem.count()
    services = {v["uri"].removeprefix("https://"): v["name"] for v in resources(state, "google_cloud_run_v2_service")}
    agents = {f"serviceAccount:{v['email']}" for v in resources(state, "google_project_service_identity")
              if v["service"] == "monitoring.googleapis.com"}
    invokers = {(v["member"], v["name"]) for v in resources(state, "google_cloud_run_v2_service_iam_member")
                if v["role"] == "roles/run.invoker"}
    checked = set()
    for c in resources(state, "google_monitoring_uptime_check_config"):
        where = f"uptime check {c['display_name']!r}"
        try:
            parse_as(UptimeCheckConfig, as_api_json(c, UptimeCheckConfig.pb().DESCRIPTOR, where))
        except (ValueError, json_format.ParseError) as e:
            problem(f"{where}: not a valid UptimeCheckConfig: {e}")
            continue
        http = c["http_check"][0]
        host = c["monitored_resource"][0]["labels"].get("host")
        path = http["path"]
        status, body = answers.get(path, (None, ""))
        if status != 200:
            problem(f"{where}: GET {path} without a token got {status} from the real binary, not 200")
        for matcher in c.get("content_matchers") or []:
            if matcher.get("matcher") != "CONTAINS_STRING" or matcher["content"] not in body:
                problem(f"{where}: the real binary's answer to GET {path} ({body[:80]!r}) does not satisfy {matcher}")
        if path.rstrip("/").endswith("z"):
            problem(f"{where}: {path} ends in z: Cloud Run's front end keeps such paths (the probes' /healthz never reaches the check)")
        if [a.get("type") for a in http.get("service_agent_authentication") or []] != ["OIDC_TOKEN"] or not http.get("use_ssl"):
            problem(f"{where}: not HTTPS with an OIDC token of the Monitoring service agent")
        service = services.get(host)
        if service is None:
            problem(f"{where}: host {host} is no Cloud Run service of the deployment")
            continue
        checked.add(service)
        if not any((a, service) in invokers for a in agents):
            problem(f"{where}: the Monitoring service agent may not invoke {service} (roles/run.invoker)")
    if checked != set(services.values()):
        problem(f"uptime checks cover {sorted(checked)}, the services are {sorted(services.values())}")
    if problem.count() == before:
        ok(f"uptime checks: one per service ({len(checked)}), valid UptimeCheckConfigs, GET {sorted({c['http_check'][0]['path'] for c in resources(state, 'google_monitoring_uptime_check_config')})} "
           "answered 200 and the expected content by the real binary, OIDC token of the Monitoring service agent, which may invoke each service")


class Problems:
    """Counts the problems reported through `problem` (to say ok only when a part had none)."""

    def __init__(self, problem):
        self.report = problem
        self.n = 0

    def __call__(self, msg: str) -> None:
        self.n += 1
        self.report(msg)

    def count(self) -> int:
        return self.n


def check(what: str, state: dict, entries: list[dict], answers: dict[str, tuple[int, str]], problem, ok) -> None:
    problems = Problems(lambda msg: problem(f"{what}: monitoring: {msg}"))
    fine = lambda msg: ok(f"{what}: monitoring: {msg}")  # noqa: E731 - one line, one use
    wrong = self_check()
    for w in wrong:
        problems(w)
    if not wrong:
        fine("the query evaluator refuses what it does not support and evaluates its known cases right")
    metric_labels = check_metrics(state, entries, problems, fine)
    check_dashboard(state, entries, metric_labels, problems, fine)
    check_alerts(state, metric_labels, problems, fine)
    check_uptime(state, answers, problems, fine)
