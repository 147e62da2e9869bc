#!/usr/bin/env python3
"""Static checks of deploy/k8s without a cluster.

Every overlay renders (`kubectl kustomize`) and every object validates
against the Kubernetes JSON schemas in strict mode (PyPI kubernetes-validate,
which ships them). Then what the schemas cannot see: probes on the endpoints
the processes really serve, requests and limits, preStop, non-root; a PDB for
every Deployment and an HPA for every scaled one; every Service, Ingress
backend, ConfigMap and Secret reference resolves; only the proxy may reach
MySQL. Prints one line per problem, exits 1 if there is any.
"""
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
OVERLAYS = ["local", "production"]
KUBERNETES_VERSION = "1.32.0"
# What each image really serves (deploy/docker/Dockerfile, the processes).
ENDPOINTS = {
    "haoka-proxy": {9307: {"/healthz"}, 3307: set()},
    "haoka-server": {8080: {"/healthz", "/readyz"}},
    "haoka-batch": {9309: {"/healthz"}},
}
# Made outside the repository in production (the cluster's secret store).
EXTERNAL_SECRETS = {"haoka-proxy-config", "haoka-proxy-backend", "haoka-server", "haoka-batch"}
SINGLE_REPLICA = {"haoka-batch"}

problems: list[str] = []


def render(overlay: str) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(HERE / "overlays" / overlay)],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_container(where: str, app: str, c: dict) -> None:
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    for kind in ("readinessProbe", "livenessProbe"):
        probe = c.get(kind)
        if not probe:
            problems.append(f"{where}: no {kind}")
            continue
        action = probe.get("httpGet") or probe.get("tcpSocket")
        port = action["port"] if action else None
        port = ports.get(port, port)
        served = ENDPOINTS.get(app, {})
        if port not in served:
            problems.append(f"{where}: {kind} on port {port}, which {app} does not serve")
        elif "httpGet" in probe and probe["httpGet"]["path"] not in served[port]:
            problems.append(f"{where}: {kind} on {probe['httpGet']['path']}, which {app} does not serve")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(part, {}):
                problems.append(f"{where}: no {part}.{r}")
    if "preStop" not in c.get("lifecycle", {}):
        problems.append(f"{where}: no preStop hook")
    if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")


def refs(pod: dict) -> tuple[set[str], set[str]]:
    cms, secrets = set(), set()
    for v in pod.get("volumes", []):
        if "configMap" in v:
            cms.add(v["configMap"]["name"])
        if "secret" in v:
            secrets.add(v["secret"]["secretName"])
    for c in pod["containers"]:
        for e in c.get("env", []):
            src = e.get("valueFrom", {})
            if "secretKeyRef" in src:
                secrets.add(src["secretKeyRef"]["name"])
            if "configMapKeyRef" in src:
                cms.add(src["configMapKeyRef"]["name"])
        for e in c.get("envFrom", []):
            if "configMapRef" in e:
                cms.add(e["configMapRef"]["name"])
            if "secretRef" in e:
                secrets.add(e["secretRef"]["name"])
    return cms, secrets


def check_overlay(overlay: str) -> None:
    docs = render(overlay)
    for d in docs:
        try:
            kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{overlay}: {d['kind']}/{d['metadata']['name']}: {e.message}")
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    names = {k: {d["metadata"]["name"] for d in v} for k, v in by_kind.items()}
    deployments = by_kind.get("Deployment", [])
    pods = [(d["metadata"]["name"], d["spec"]["template"]) for d in deployments]
    for name, tmpl in pods:
        app = tmpl["metadata"]["labels"].get("app.kubernetes.io/name")
        spec = tmpl["spec"]
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{overlay}: {name}: pods may run as root")
        for c in spec["containers"]:
            check_container(f"{overlay}: {name}/{c['name']}", app, c)
        cms, secrets = refs(spec)
        for cm in cms - names.get("ConfigMap", set()):
            problems.append(f"{overlay}: {name} uses ConfigMap {cm}, which is not rendered")
        missing = secrets - names.get("Secret", set())
        if overlay == "production":
            missing -= EXTERNAL_SECRETS
        for s in missing:
            problems.append(f"{overlay}: {name} uses Secret {s}, which nothing provides")
        labels = tmpl["metadata"]["labels"]
        if not any(matches(p["spec"]["selector"]["matchLabels"], labels)
                   for p in by_kind.get("PodDisruptionBudget", [])):
            problems.append(f"{overlay}: {name} has no PodDisruptionBudget")
        if app not in SINGLE_REPLICA and not any(
                h["spec"]["scaleTargetRef"]["name"] == name
                for h in by_kind.get("HorizontalPodAutoscaler", [])):
            problems.append(f"{overlay}: {name} has no HorizontalPodAutoscaler")
    for svc in by_kind.get("Service", []):
        sel = svc["spec"].get("selector")
        if svc["spec"].get("type") != "ExternalName" and not any(
                matches(sel, t["metadata"]["labels"]) for _, t in pods):
            problems.append(f"{overlay}: Service {svc['metadata']['name']} selects no pods")
    for ing in by_kind.get("Ingress", []):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                target = p["backend"]["service"]["name"]
                if target not in names.get("Service", set()):
                    problems.append(f"{overlay}: Ingress path {p['path']} goes to missing Service {target}")
    for np in by_kind.get("NetworkPolicy", []):
        sel = np["spec"]["podSelector"].get("matchLabels", {})
        for rule in np["spec"].get("egress", []):
            if any(p.get("port") == 3306 for p in rule.get("ports", [])) \
                    and sel.get("app.kubernetes.io/name") != "haoka-proxy":
                problems.append(f"{overlay}: NetworkPolicy {np['metadata']['name']} lets non-proxy pods reach MySQL")
    if "default-deny" not in names.get("NetworkPolicy", set()):
        problems.append(f"{overlay}: no default-deny NetworkPolicy")


if __name__ == "__main__":
    for o in OVERLAYS:
        check_overlay(o)
    for p in problems:
        print(f"deploy/k8s: {p}")
    print(f"deploy/k8s: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)
