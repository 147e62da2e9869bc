#!/usr/bin/env python3
"""Checks deploy/grafana against the running processes.

- alerts.yaml passes `promtool check rules` and its unit tests
  (alerts.test.yaml, `promtool test rules`); every dashboard query parses as
  PromQL (promtool, as recording rules) after Grafana's $variables are filled.
- every haoka metric a dashboard or a rule names is exported by a running
  haoka-proxy (metrics port), haoka-server (/metrics) or haoka-batch (its
  metrics port) of the local stack.
  Label-vector families appear only after their first event (a dead letter, a
  MySQL error); the check makes the events it can (a failed login, an unsigned
  channel call, a failing statement through the proxy) and accepts the rest
  only where the process's source registers that exact name (said in a line).
Prints one line per problem and exits 1 if there is any.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROXY_METRICS = os.environ.get("HAOKA_PROXY_METRICS_URL", "http://127.0.0.1:9307/metrics")
SERVER = os.environ.get("HAOKA_SERVER_URL", "http://127.0.0.1:8080")
BATCH_METRICS = os.environ.get("HAOKA_BATCH_METRICS_URL", "http://127.0.0.1:9320/metrics")
METRIC = re.compile(r"\bhaoka_(?:proxy|server|batch)_[a-z0-9_]+\b")
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")
# Where each process registers its metric names (for families not yet observed).
SOURCES = {
    "haoka_proxy_": ([ROOT / "proxy" / "src"], ""),
    # The server crate and every center crate (core registers the outbox and
    # mq families).
    "haoka_server_": ([ROOT / "services" / "src", *sorted((ROOT / "services").glob("*/src"))],
                      "haoka_server_"),
    "haoka_batch_": ([ROOT / "batch" / "src"], ""),
}

problems: list[str] = []


def dashboard_queries() -> dict[str, str]:
    """Every dashboard PromQL expression, keyed by where it stands."""
    out = {}
    for f in sorted((HERE / "dashboards").glob("*.json")):
        for p in json.loads(f.read_text())["panels"]:
            for t in p.get("targets", []):
                out[f"{f.name} panel {p['id']} {t['refId']}"] = t["expr"]
    return out


def alert_queries() -> dict[str, str]:
    out = {}
    for g in yaml.safe_load((HERE / "alerts.yaml").read_text())["groups"]:
        for r in g["rules"]:
            out[f"alerts.yaml {r['alert']}"] = r["expr"]
    return out


def promtool_checks(dashboards: dict[str, str]) -> None:
    res = subprocess.run(["promtool", "check", "rules", str(HERE / "alerts.yaml")],
                         capture_output=True, text=True)
    if res.returncode != 0:
        problems.append(f"alerts.yaml: promtool: {res.stdout}{res.stderr}")
    res = subprocess.run(["promtool", "test", "rules", str(HERE / "alerts.test.yaml")],
                         capture_output=True, text=True)
    if res.returncode != 0:
        problems.append(f"alerts.test.yaml: promtool: {res.stdout}{res.stderr}")
    rules = [{"record": f"dashboard:q{n}", "expr": e.replace("$instance", ".*")}
             for n, e in enumerate(dashboards.values())]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
    res = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if res.returncode != 0:
        problems.append(f"dashboards: a query is not valid PromQL: {res.stdout}{res.stderr}")


def fetch(url: str, data: bytes | None = None, headers=None) -> str:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()


def make_events() -> None:
    """Events that bring lazily created families into the scrape."""
    json_body = {"content-type": "application/json"}
    fetch(f"{SERVER}/api/v1/auth/login", b'{"staff_no":"metrics-check","password":"x"}', json_body)
    fetch(f"{SERVER}/api/v1/open/numbers/select", b"{}", json_body)
    # A statement the shard refuses: haoka_proxy_errors_total{code="1146"}.
    subprocess.run(["mariadb", "-h127.0.0.1", "-P3307", "-uhaoka", "-phaoka", "haoka",
                    "-e", "SELECT * FROM no_such_table_metrics_check"], capture_output=True)


def exported(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def registered(name: str) -> bool:
    for prefix, (roots, strip) in SOURCES.items():
        if name.startswith(prefix):
            short = name[len(strip):]
            return any(f'"{short}' in p.read_text(errors="replace")
                       for root in roots for p in root.rglob("*.rs"))
    return False


def main() -> None:
    dashboards = dashboard_queries()
    promtool_checks(dashboards)
    exprs = {**dashboards, **alert_queries()}
    try:
        make_events()
        live = (exported(fetch(PROXY_METRICS)) | exported(fetch(f"{SERVER}/metrics"))
                | exported(fetch(BATCH_METRICS)))
    except (urllib.error.URLError, OSError) as e:
        problems.append(f"the local stack does not answer ({e}): run deploy/local/up.sh")
        return
    for where, expr in exprs.items():
        for name in sorted(set(METRIC.findall(expr))):
            base = name
            for part in HISTOGRAM_PARTS:
                if name.endswith(part) and name[: -len(part)] in live:
                    base = name[: -len(part)]
            if name in live or base in live:
                continue
            if registered(name):
                print(f"deploy/grafana: {name} ({where}): no event yet; registered in the source")
            else:
                problems.append(f"{where}: {name} is exported by no running haoka process")


if __name__ == "__main__":
    main()
    for p in problems:
        print(f"deploy/grafana: {p}")
    print(f"deploy/grafana: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)
