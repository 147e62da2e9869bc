#!/usr/bin/env python3
"""Writes schema/rules.toml for shards spread over several MySQL hosts.

schema/rules.toml puts every shard on one local MariaDB; containers and
Kubernetes run the shards on separate hosts. Only the datasources change, so
the multi-host file is derived from the one source of tables, sequences and
province mapping instead of being kept by hand (check.py fails when the
committed copy is stale).

    deploy/docker/rules_for_hosts.py mysql-a:3306 mysql-b:3306 > rules.toml

Data shard n goes to host n * hosts // shards (contiguous halves for two
hosts); global shards go to the first host.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "schema" / "rules.toml"
# The derived copy every deployment mounts (compose and the Kustomize base).
DERIVED = ROOT / "deploy" / "k8s" / "base" / "config" / "rules.toml"
DEFAULT_HOSTS = ["mysql-a:3306", "mysql-b:3306"]

DATASOURCES = re.compile(r"^\[\[datasources\]\]\n(?:[^\[\n].*\n)+", re.M)
SHARD = re.compile(r'datasource = "local", database = "(\w+?)_(s(\d+)|global)"')


def derive(text: str, hosts: list[str]) -> str:
    names = [h.split(":")[0] for h in hosts]
    blocks = []
    for host in hosts:
        name, _, port = host.partition(":")
        blocks.append(f'[[datasources]]\nname = "{name}"\nhost = "{name}"\nport = {port or 3306}\n')
    header = "# Derived from schema/rules.toml by deploy/docker/rules_for_hosts.py: do not edit.\n"
    text, n = DATASOURCES.subn("\n".join(blocks), text, count=1)
    if n != 1:
        sys.exit("rules_for_hosts: no [[datasources]] block in schema/rules.toml")
    counts: dict[str, int] = {}
    for m in SHARD.finditer(text):
        if m.group(3) is not None:
            counts[m.group(1)] = max(counts.get(m.group(1), 0), int(m.group(3)) + 1)

    def place(m: re.Match) -> str:
        if m.group(3) is None:
            host = names[0]
        else:
            host = names[int(m.group(3)) * len(names) // counts[m.group(1)]]
        return f'datasource = "{host}", database = "{m.group(1)}_{m.group(2)}"'

    text = SHARD.sub(place, text)
    if '"local"' in text:
        sys.exit('rules_for_hosts: a datasource "local" is left that this script does not place')
    return header + text


if __name__ == "__main__":
    print(derive(SOURCE.read_text(encoding="utf-8"), sys.argv[1:] or DEFAULT_HOSTS), end="")
