#!/usr/bin/env python3
"""Static checks of deploy/docker (no Docker engine on these machines).

- Dockerfile: parsed (PyPI `dockerfile`, BuildKit's own parser); every runtime
  target runs as a non-root user, has a HEALTHCHECK and an exec-form
  ENTRYPOINT whose binary is a COPY --from=build of a workspace binary; every
  config path its CMD names is copied into the image; COPY sources exist and
  are not ignored; no ARG/ENV carries a secret.
- compose.yaml: valid against the vendored Compose Specification schema;
  depends_on names real services and waits for health only where there is a
  health check; bind-mounted files exist (or are made by make-secrets.sh);
  build targets exist in the Dockerfile.
- the multi-host rules file is what rules_for_hosts.py derives today.
Prints one line per failure and exits 1 if there is any.
"""
import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import dockerfile
import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import rules_for_hosts  # noqa: E402

RUNTIME_TARGETS = {"proxy": "haoka-proxy", "server": "haoka-server", "batch": "haoka-batch"}
# Binaries whose crate is still being written (issue 17): their bin target
# may be missing from the workspace until it lands; everything else is checked.
SECRET_WORDS = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|_KEY\b", re.I)
# Files make-secrets.sh creates (compose mounts them; they are never committed).
MADE_SECRETS = re.compile(r"^\./secrets/")

failures: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)


def workspace_bins() -> set[str]:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return {t["name"] for p in json.loads(out)["packages"] for t in p["targets"]
            if "bin" in t["kind"]}


def ignored(rel: str, patterns: list[str]) -> bool:
    hit = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*") \
                or (pat.startswith("**/") and fnmatch.fnmatch(rel, pat[3:])):
            hit = not neg
    return hit


def stages(cmds) -> dict[str, list]:
    out: dict[str, list] = {}
    current = None
    for c in cmds:
        if c.cmd == "FROM":
            vals = list(c.value)
            current = vals[2] if len(vals) >= 3 and vals[1].upper() == "AS" else vals[0]
            out[current] = [c]
        elif current is not None:
            out[current].append(c)
    return out


def copies(stage_cmds) -> list[tuple[str | None, list[str], str]]:
    """(from-stage or None, sources, destination) of every COPY."""
    res = []
    for c in stage_cmds:
        if c.cmd == "COPY":
            frm = next((f.split("=", 1)[1] for f in c.flags if f.startswith("--from=")), None)
            *srcs, dst = c.value
            res.append((frm, srcs, dst))
    return res


def inherited(all_stages, name: str, cmd: str):
    """The last `cmd` of a stage or of the stages it is built FROM."""
    while name in all_stages:
        found = [c for c in all_stages[name] if c.cmd == cmd]
        if found:
            return found[-1]
        name = all_stages[name][0].value[0]
    return None


def check_dockerfile() -> set[str]:
    path = HERE / "Dockerfile"
    cmds = dockerfile.parse_file(str(path))
    all_stages = stages(cmds)
    ignore = [l.strip() for l in (HERE / "Dockerfile.dockerignore").read_text().splitlines()
              if l.strip() and not l.startswith("#")]
    for must in (".git", "**/target", "var", "deploy/docker/secrets"):
        if must not in ignore:
            fail(f"Dockerfile.dockerignore: {must} is not ignored")
    for c in cmds:
        if c.cmd in ("ARG", "ENV"):
            for v in c.value:
                if SECRET_WORDS.search(v.split("=", 1)[0]):
                    fail(f"Dockerfile:{c.start_line}: {c.cmd} {v} looks like a secret in a layer")
        if c.cmd == "COPY":
            frm = any(f.startswith("--from=") for f in c.flags)
            for src in ([] if frm else c.value[:-1]):
                rel = src.rstrip("/")
                if rel != "." and not (ROOT / rel).exists():
                    fail(f"Dockerfile:{c.start_line}: COPY source {src} does not exist")
                elif rel != "." and ignored(rel, ignore):
                    fail(f"Dockerfile:{c.start_line}: COPY source {src} is excluded by the dockerignore")
    bins = workspace_bins()
    for target, binary in RUNTIME_TARGETS.items():
        if target not in all_stages:
            fail(f"Dockerfile: no stage {target}")
            continue
        user = inherited(all_stages, target, "USER")
        if user is None or user.value[0].split(":")[0] in ("root", "0"):
            fail(f"Dockerfile: {target} runs as root")
        hc = inherited(all_stages, target, "HEALTHCHECK")
        if hc is None or hc.value[0].upper() == "NONE":
            fail(f"Dockerfile: {target} has no HEALTHCHECK")
        ep = inherited(all_stages, target, "ENTRYPOINT")
        cmd = inherited(all_stages, target, "CMD")
        if ep is None or not ep.json:
            fail(f"Dockerfile: {target} needs an exec-form ENTRYPOINT")
            continue
        dests = {}
        for frm, srcs, dst in copies(all_stages[target]):
            for s in srcs:
                full = dst.rstrip("/") + "/" + Path(s).name if dst.endswith("/") else dst
                dests[full] = (frm, s)
        exe = next((v for v in ep.value if v.endswith("/" + binary)), None)
        if exe is None:
            fail(f"Dockerfile: {target}'s ENTRYPOINT does not run {binary}")
        elif exe not in dests or dests[exe][0] != "build" or Path(dests[exe][1]).name != binary:
            fail(f"Dockerfile: {target}'s {exe} is not copied from the build stage")
        build_cmd = " ".join(c.value[0] for c in all_stages["build"] if c.cmd == "RUN")
        if f"target/release/{binary}" not in build_cmd:
            fail(f"Dockerfile: the build stage does not produce {binary}")
        if binary not in bins:
            fail(f"Dockerfile: {binary} is not a binary of the workspace (cargo metadata)")
        args = list(cmd.value) if cmd else []
        for flag, val in zip(args, args[1:]):
            if flag == "--config" and val not in dests:
                fail(f"Dockerfile: {target}'s config {val} is not copied into the image")
            elif flag == "--config":
                src = dests[val][1]
                if dests[val][0] is None and not (ROOT / src).is_file():
                    fail(f"Dockerfile: {target}'s config source {src} does not exist")
    return set(all_stages)


def check_compose(dockerfile_stages: set[str]) -> None:
    compose = yaml.safe_load((HERE / "compose.yaml").read_text())
    schema = json.loads((HERE / "schema" / "compose-spec.json").read_text())
    # The vendored schema names draft 2019-09 (with a trailing "#" jsonschema does not look up).
    validator = jsonschema.Draft201909Validator(schema)
    for err in validator.iter_errors(compose):
        fail(f"compose.yaml: {'/'.join(map(str, err.absolute_path))}: {err.message}")
    services = compose.get("services", {})
    made = (HERE / "make-secrets.sh").read_text()
    for name, svc in services.items():
        build = svc.get("build")
        if isinstance(build, dict):
            if build.get("target") not in dockerfile_stages:
                fail(f"compose.yaml: {name} builds unknown target {build.get('target')}")
            if not (HERE / build["context"] / build["dockerfile"]).is_file():
                fail(f"compose.yaml: {name}'s Dockerfile does not exist")
        has_health = "healthcheck" in svc or (
            isinstance(build, dict) and build.get("target") in RUNTIME_TARGETS)
        svc["_healthy"] = has_health
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if src.startswith("."):
                check_local_file(f"{name} mounts", src, made)
        for env in svc.get("env_file", []):
            check_local_file(f"{name} reads", env if env.startswith(".") else "./" + env, made)
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        for dep, how in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            if dep not in services:
                fail(f"compose.yaml: {name} depends on unknown service {dep}")
            elif how.get("condition") == "service_healthy" and not services[dep]["_healthy"]:
                fail(f"compose.yaml: {name} waits for {dep} to be healthy; it has no health check")
    for name, sec in compose.get("secrets", {}).items():
        check_local_file(f"secret {name} is", sec["file"], made)


def check_local_file(what: str, src: str, made_secrets: str) -> None:
    if MADE_SECRETS.match(src):
        stem = Path(src).name.removesuffix(".pub")
        if f"{stem}" not in made_secrets:
            fail(f"compose.yaml: {what} {src}, which make-secrets.sh does not make")
    elif not (HERE / src).exists():
        fail(f"compose.yaml: {what} {src}, which does not exist")


def check_rules() -> None:
    want = rules_for_hosts.derive(rules_for_hosts.SOURCE.read_text(encoding="utf-8"),
                                  rules_for_hosts.DEFAULT_HOSTS)
    if rules_for_hosts.DERIVED.read_text(encoding="utf-8") != want:
        fail(f"{rules_for_hosts.DERIVED.relative_to(ROOT)} is stale: run "
             "deploy/docker/rules_for_hosts.py > deploy/k8s/base/config/rules.toml")


if __name__ == "__main__":
    check_compose(check_dockerfile())
    check_rules()
    for f in failures:
        print(f"deploy/docker: {f}")
    print(f"deploy/docker: {len(failures)} problem(s)")
    sys.exit(1 if failures else 0)
