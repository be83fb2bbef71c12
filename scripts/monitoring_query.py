"""Exactly the part of the Cloud Logging query language terraform/monitoring*.tf uses, evaluated
against log entries, and the EXTRACT() extractors of log-based metrics. Anything outside the part
is refused (ValueError), so a filter cannot pass the checks by being misread.

The part:
- comparisons `FIELD = "string"` (equal), `FIELD =~ "regex"` (RE2 search; a small safe subset of
  regex syntax, the same in Python), `severity >= LEVEL` (severity order);
- `AND`, `OR` and parentheses, never both at one level (Cloud Logging binds OR tighter than AND,
  a reader may not expect it); no implicit AND, no NOT,
  no `:` (has), no `!=`, no bare words, no functions;
- FIELD: resource.type, resource.labels.NAME, logName, severity, textPayload, jsonPayload.NAME.
- extractors: `EXTRACT(jsonPayload.NAME)` only.

A log entry is a dict in the LogEntry shape: resource {type, labels}, logName, severity,
jsonPayload or textPayload (monitoring_lines.entry() makes one from a line the hub wrote).
"""

from __future__ import annotations

import re

SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]
FIELD = re.compile(r"^(resource\.type|resource\.labels\.[a-z_]+|logName|severity|textPayload|jsonPayload\.[A-Za-z_][A-Za-z0-9_]*)$")
# Regex syntax that means the same in RE2 and Python: literals, classes, anchors, groups, |, ?, *, +.
SAFE_REGEX = re.compile(r"^[A-Za-z0-9_ %:./\-^$()|?*+\[\]]*$")
TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>=~|>=|=)|(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))')


def tokens(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = TOKEN.match(text, i)
        if not m or m.end() == i:
            raise ValueError(f"outside the supported query language at {text[i:i + 30]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        i = m.end()
    return out


def unquote(s: str) -> str:
    body = s[1:-1]
    if re.search(r"\\[^\\\"]", body):
        raise ValueError(f"escape sequence outside the supported subset in {s}")
    return body.replace('\\"', '"').replace("\\\\", "\\")


class Query:
    """A parsed filter: `Query(text).matches(entry)`."""

    def __init__(self, text: str):
        self.text = text
        self.toks = tokens(text)
        self.pos = 0
        self.tree = self.disjunction()
        if self.pos != len(self.toks):
            raise ValueError(f"unexpected {self.toks[self.pos][1]!r} in {text!r} (implicit AND is not supported)")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ValueError(f"filter ends too early: {self.text!r}")
        self.pos += 1
        return tok

    def disjunction(self):
        """Terms joined by one operator. Cloud Logging binds OR tighter than AND (the reverse of
        most languages): a level that mixes them is refused, parentheses say what is meant."""
        terms, ops = [self.primary()], set()
        while self.peek() in (("word", "AND"), ("word", "OR")):
            ops.add(self.take()[1])
            terms.append(self.primary())
        if len(ops) > 1:
            raise ValueError(f"AND and OR mixed without parentheses in {self.text!r}")
        return (ops.pop().lower(), terms) if ops else terms[0]

    def primary(self):
        kind, value = self.take()
        if (kind, value) == ("paren", "("):
            inner = self.disjunction()
            if self.take() != ("paren", ")"):
                raise ValueError(f"unbalanced parentheses in {self.text!r}")
            return inner
        if kind != "word" or not FIELD.match(value):
            raise ValueError(f"{value!r} is not a supported field in {self.text!r}")
        _, op = self.take()
        if op == ">=":
            if value != "severity":
                raise ValueError(f">= is supported on severity only: {self.text!r}")
            kind, level = self.take()
            if kind != "word" or level not in SEVERITIES:
                raise ValueError(f"{level!r} is not a severity")
            return ("sev>=", SEVERITIES.index(level))
        kind, literal = self.take()
        if kind != "str":
            raise ValueError(f"compare {value} with a quoted string, not {literal!r}: {self.text!r}")
        text = unquote(literal)
        if op == "=~":
            if not SAFE_REGEX.match(text):
                raise ValueError(f"regex {text!r} uses syntax outside the supported subset")
            return ("re", value, re.compile(text))
        if op == "=":
            return ("eq", value, text)
        raise ValueError(f"operator {op!r} is not supported")

    def matches(self, entry: dict) -> bool:
        return evaluate(self.tree, entry)


def field_value(entry: dict, path: str):
    """The value at `path` in the entry, or None (a missing field matches no comparison)."""
    if path == "resource.type":
        return entry["resource"]["type"]
    if path.startswith("resource.labels."):
        return entry["resource"]["labels"].get(path.removeprefix("resource.labels."))
    if path == "jsonPayload" or path.startswith("jsonPayload."):
        payload = entry.get("jsonPayload")
        return None if payload is None else payload.get(path.removeprefix("jsonPayload."))
    return entry.get(path)


def as_text(v) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def evaluate(node, entry: dict) -> bool:
    kind = node[0]
    if kind == "or":
        return any(evaluate(n, entry) for n in node[1])
    if kind == "and":
        return all(evaluate(n, entry) for n in node[1])
    if kind == "sev>=":
        return SEVERITIES.index(entry.get("severity", "DEFAULT")) >= node[1]
    value = as_text(field_value(entry, node[1]))
    if value is None:
        return False
    if kind == "eq":
        return value == node[2]
    return node[2].search(value) is not None


EXTRACT = re.compile(r"^EXTRACT\((jsonPayload\.[A-Za-z_][A-Za-z0-9_]*)\)$")


def extractor(expr: str):
    """A function entry -> extracted value (None when the field is absent)."""
    m = EXTRACT.match(expr.strip())
    if not m:
        raise ValueError(f"extractor {expr!r}: only EXTRACT(jsonPayload.NAME) is supported")
    path = m.group(1)
    return lambda entry: field_value(entry, path)


def self_check() -> list[str]:
    """The evaluator on known cases: what it must refuse, and what it must (not) match."""
    refused = [
        'jsonPayload.a="x" OR jsonPayload.b="y" AND jsonPayload.c="z"',  # Cloud Logging: OR first
        'NOT jsonPayload.a="x"',
        'jsonPayload.a:"x"',
        'jsonPayload.a!="x"',
        'jsonPayload.a="x" jsonPayload.b="y"',  # implicit AND
        "jsonPayload.a=x",
        'jsonPayload.a=~"\\\\d+"',
        'httpRequest.status="500"',
        'severity>="WARNING" OR',
        'jsonPayload.a>="x"',
    ]
    out = []
    for text in refused:
        try:
            Query(text)
            out.append(f"the evaluator accepts {text!r}, which it must refuse")
        except ValueError:
            pass
    e = {"resource": {"type": "cloud_run_revision", "labels": {"service_name": "s"}}, "severity": "ERROR",
         "logName": "projects/p/logs/run.googleapis.com%2Fstdout", "jsonPayload": {"a": "x", "n": 3}}
    cases = [
        ('jsonPayload.a="x" AND (resource.labels.service_name="t" OR resource.labels.service_name="s")', True),
        ('jsonPayload.a="x" AND resource.labels.service_name="t"', False),
        ('jsonPayload.missing="x"', False),
        ('jsonPayload.n="3" AND severity>=WARNING', True),
        ("severity>=CRITICAL", False),
        ('logName=~"%2Fstdout$" AND resource.type="cloud_run_revision"', True),
        ('textPayload=~"x"', False),
    ]
    for text, want in cases:
        if Query(text).matches(e) != want:
            out.append(f"the evaluator says {not want} for {text!r} on {e}")
    if extractor("EXTRACT(jsonPayload.n)")(e) != 3 or extractor("EXTRACT(jsonPayload.b)")(e) is not None:
        out.append("EXTRACT() reads the wrong value")
    for bad in ['REGEXP_EXTRACT(jsonPayload.a, "(x)")', "EXTRACT(textPayload)"]:
        try:
            extractor(bad)
            out.append(f"the evaluator accepts the extractor {bad!r}")
        except ValueError:
            pass
    return out
