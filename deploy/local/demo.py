#!/usr/bin/env python3
"""Loads haoka's demo data set through the API (deploy/local/up.sh runs it;
HAOKA_NO_DEMO=1 skips it).

Everything goes through haoka-server's endpoints, so the same rules, scopes,
histories and audit rows apply as for any operator: three provinces on
different shards (51 广东 shard 5, 11 北京 shard 0, 31 上海 shard 2), a
department each, demo roles (operator, approver, analyst) and staff scoped to
their province, a channel with an API credential, depots, pools, 100,000
numbers (national premium rules classify some), most on shelf, some held and
some sold.

Idempotent: what it made is recorded in /var/lib/haoka/secrets/demo.json
(with the demo passwords and the channel secret, owner-only); a run that finds
the set complete prints `up: =` and changes nothing. Numbers come from whole
segments just above the benchmark's first three per city (loadtest) and below
the upper half the tests draw from, so neither collides with them.
"""
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SERVER = os.environ.get("HAOKA_SERVER_URL", "http://127.0.0.1:8080")
SECRETS = Path(os.environ.get("HAOKA_SECRETS_DIR", "/var/lib/haoka/secrets"))
STATE = SECRETS / "demo.json"
# (province, name, city, segments of 10,000 numbers)
PROVINCES = [("51", "广东", [("510", 3), ("580", 2)]),
             ("11", "北京", [("110", 3)]),
             ("31", "上海", [("310", 2)])]
# The loadtest stocks each city's first three segments.
FIRST_FREE_SEGMENT = 3
ROLES = {
    "demo-operator": ("号码运营", ["number:read", "number:write", "number:hold", "pool:write",
                                   "premium:read", "card:read", "card:write", "card:occupy",
                                   "card:pair", "card:transfer", "channel:read"]),
    "demo-approver": ("靓号审批", ["number:read", "premium:read", "premium:approve"]),
    "demo-analyst": ("数据分析", ["number:read", "card:read", "premium:read", "log:read"]),
}
SHELVED_SHARE = 0.8
HELD_PER_CITY = 20
SOLD_PER_CITY = 10
CARDS_PER_DEPOT = 500


class ApiError(Exception):
    pass


def call(method: str, path: str, body=None, token=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    h = {"content-type": "application/json", "x-request-id": "demo-" + secrets.token_hex(6)}
    if token:
        h["authorization"] = f"Bearer {token}"
    h.update(headers or {})
    req = urllib.request.Request(SERVER + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            text = r.read().decode()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        raise ApiError(f"{method} {path}: {e.code} {e.read().decode()[:500]}") from None


def login(staff_no: str, password: str) -> str:
    return call("POST", "/api/v1/auth/login", {"staff_no": staff_no, "password": password})["token"]


def save(state: dict) -> None:
    tmp = STATE.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2, ensure_ascii=False)
    tmp.replace(STATE)


CHANGED = []


def step(state: dict, key: str, make):
    """Runs `make` once: its result is kept in the state file."""
    if key not in state:
        state[key] = make()
        save(state)
        CHANGED.append(key)
    return state[key]


class Tokens:
    """Logs in on first use only: a run with nothing to do hashes no password."""

    def __init__(self, state: dict):
        self.state, self.tokens = state, {}

    def __call__(self, staff_no: str) -> str:
        if staff_no not in self.tokens:
            pw = ((SECRETS / "admin.password").read_text().strip() if staff_no == "admin"
                  else self.state[f"staff:{staff_no}"]["password"])
            self.tokens[staff_no] = login(staff_no, pw)
        return self.tokens[staff_no]


def segments(province: str, city: str, n: int) -> list[str]:
    """Whole free segments of a city, read from the reference data through the proxy."""
    out = subprocess.run(
        ["mariadb", "-h127.0.0.1", "-P3307", "-uhaoka", "-phaoka", "haoka", "-N", "-B", "-e",
         f"SELECT segment FROM segment WHERE province_code = '{province}' AND city_code = '{city}' "
         f"ORDER BY segment LIMIT {n} OFFSET {FIRST_FREE_SEGMENT}"],
        check=True, capture_output=True, text=True).stdout.split()
    if len(out) < n:
        sys.exit(f"demo: city {city} has fewer than {FIRST_FREE_SEGMENT + n} segments")
    return out


def people(state: dict, tok: Tokens) -> None:
    roles = step(state, "roles", lambda: {
        code: make_role(tok("admin"), code, name, perms) for code, (name, perms) in ROLES.items()})
    for p, pname, _ in PROVINCES:
        dept = step(state, f"department:{p}", lambda p=p, pname=pname: call(
            "POST", "/api/v1/departments",
            {"code": f"demo-{p}", "name": f"{pname}演示分公司", "province_code": p},
            tok("admin"))["department_id"])
        for code in ROLES:
            staff_no = f"{code.removeprefix('demo-')}-{p}"
            step(state, f"staff:{staff_no}", lambda staff_no=staff_no, code=code, dept=dept, p=p:
                 make_staff(tok("admin"), staff_no, dept, p, roles[code]))


def make_role(admin: str, code: str, name: str, perms: list[str]) -> int:
    role_id = call("POST", "/api/v1/roles", {"code": code, "name": name}, admin)["role_id"]
    call("PUT", f"/api/v1/roles/{role_id}/permissions", {"permissions": perms}, admin)
    return role_id


def make_staff(admin: str, staff_no: str, dept: int, province: str, role_id: int) -> dict:
    made = call("POST", "/api/v1/staff", {"staff_no": staff_no, "name": staff_no,
                                          "department_id": dept, "province_code": province}, admin)
    sid = made["staff"]["staff_id"]
    call("PUT", f"/api/v1/staff/{sid}/roles", {"roles": [{"role_id": role_id}]}, admin)
    # The initial password must be changed at first login: do it, so the
    # printed password is the one that works.
    password = secrets.token_urlsafe(12) + "-Aa1"
    token = login(staff_no, made["initial_password"])
    call("POST", "/api/v1/auth/password",
         {"old_password": made["initial_password"], "new_password": password}, token)
    return {"staff_id": sid, "password": password}


def channel(state: dict, tok: Tokens) -> dict:
    cid = step(state, "channel", lambda: call("POST", "/api/v1/channels", {
        "code": "demo-shop-51", "name": "广州演示营业厅", "channel_type": "shop",
        "province_code": "51"}, tok("admin"))["channel_id"])
    return step(state, "credential", lambda: call(
        "POST", f"/api/v1/channels/{cid}/credentials", None, tok("admin")))


def grant(tok: Tokens, pool: int, kind: str, grantee: int, operate: bool = False) -> bool:
    call("PUT", f"/api/v1/numbers/pools/{pool}/grants",
         {"grantee_kind": kind, "grantee_id": grantee, "can_view": True, "can_use": True,
          "can_operate": operate}, tok("admin"))
    return True


def stock(state: dict, tok: Tokens) -> None:
    for p, _, cities in PROVINCES:
        for city, nseg in cities:
            depot = step(state, f"depot:{city}", lambda p=p, city=city: call(
                "POST", "/api/v1/numbers/depots",
                {"province_code": p, "city_code": city, "name": f"demo depot {city}"},
                tok("admin"))["depot_id"])
            pool = step(state, f"pool:{city}", lambda p=p, city=city: call(
                "POST", "/api/v1/numbers/pools",
                {"province_code": p, "city_code": city, "name": f"demo pool {city}"},
                tok("admin"))["pool_id"])
            if p == "51":
                step(state, f"grant:{city}", lambda pool=pool: grant(
                    tok, pool, "channel", state["channel"]))
            # The approver and the analyst see the pool's numbers too.
            for who in ("approver", "analyst"):
                sid = state[f"staff:{who}-{p}"]["staff_id"]
                step(state, f"grant:{city}:{who}", lambda pool=pool, sid=sid: grant(
                    tok, pool, "staff", sid))
            for seg in segments(p, city, nseg):
                step(state, f"intake:{seg}", lambda seg=seg, depot=depot, pool=pool: intake(
                    tok("admin"), seg, depot, pool))
                step(state, f"shelve:{seg}", lambda seg=seg: shelve(tok("admin"), seg))
            step(state, f"holds:{city}", lambda city=city, p=p, pool=pool: holds(
                tok(f"operator-{p}"), p, city, pool))


def intake(admin: str, seg: str, depot: int, pool: int) -> dict:
    r = call("POST", "/api/v1/numbers/intake",
             {"depot_id": depot, "pool_id": pool, "range": {"from": f"{seg}0000", "count": 10000}}, admin)
    return {"accepted": r["accepted"], "by_level": r["by_level"]}


def shelve(admin: str, seg: str) -> int:
    count = int(10000 * SHELVED_SHARE)
    for start in range(0, count, 1000):
        nums = [f"{seg}{i:04d}" for i in range(start, start + 1000)]
        call("POST", "/api/v1/numbers/status", {"numbers": nums, "to": "03", "reason": "demo"}, admin)
    return count


def holds(operator: str, province: str, city: str, pool: int) -> dict:
    """A province operator holds some ordinary (level 9) numbers of the demo
    pool and sells some of them."""
    page = call("GET", f"/api/v1/numbers/select?province_code={province}&city_code={city}"
                f"&pool_id={pool}&level=9&page_size={HELD_PER_CITY + SOLD_PER_CITY}", None, operator)
    held, sold = [], []
    for n, row in enumerate(page["items"]):
        no = row["phone_no"]
        key = f"demo-order-{no}"
        call("POST", f"/api/v1/numbers/{no}/hold",
             {"key_kind": "order_id", "key": key, "hold_seconds": 604800}, operator)
        if n < SOLD_PER_CITY:
            call("POST", f"/api/v1/numbers/{no}/sell", {"key": key}, operator)
            sold.append(no)
        else:
            held.append(no)
    return {"held": held, "sold": sold}


def luhn(payload: str) -> str:
    """The ICCID check digit (services/card/src/iccid.rs)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def iccid(province: str, n: int) -> str:
    payload = f"8986019{province}{n:010d}"
    return payload + luhn(payload)


def cards(state: dict, tok: Tokens) -> None:
    """A package, made cards in stock in every demo depot, and transfers:
    within 广东 (510 -> 580) and across provinces (510 -> 上海 310)."""
    package = step(state, "package", lambda: call("POST", "/api/v1/cards/packages", {
        "code": "demo-39", "name": "演示39元套餐", "province_code": "51",
        "monthly_fee_cents": 3900}, tok("admin"))["package_id"])
    for p, _, cities in PROVINCES:
        for n, (city, _) in enumerate(cities):
            depot = state[f"depot:{city}"]
            base = (int(city) * 10 + n) * 100000
            body = {"province_code": p, "depot_id": depot,
                    "package_id": package if p == "51" else None,
                    "cards": [{"iccid": iccid(p, base + i), "card_type": "made",
                               "imsi": f"46001{p}{n}{i:07d}"} for i in range(CARDS_PER_DEPOT)]}
            step(state, f"cards:{city}", lambda body=body: call(
                "POST", "/api/v1/cards/intake", body, tok("admin"))["accepted"])
    for name, src, dst, count in [("510-580", "510", "580", 20), ("510-310", "510", "310", 10)]:
        step(state, f"transfer:{name}", lambda src=src, dst=dst, count=count: call(
            "POST", "/api/v1/cards/transfers",
            {"from_depot_id": state[f"depot:{src}"], "to_depot_id": state[f"depot:{dst}"],
             "count": count}, tok("admin"))["transfer_id"])


def signed_example(state: dict) -> str:
    """A ready-to-paste curl of a signed channel call (services/README.md):
    the channel searches the 广州 demo pool it was granted."""
    cred = state["credential"]
    path = (f"/api/v1/open/numbers/select?province_code=51&city_code=510"
            f"&pool_id={state['pool:510']}&page_size=5")
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    body_hash = hashlib.sha256(b"").hexdigest()
    string = "\n".join(["GET", path, cred["key_id"], ts, nonce, body_hash])
    sig = hmac.new(cred["secret"].encode(), string.encode(), hashlib.sha256).hexdigest()
    return (f"curl -s '{SERVER}{path}' -H 'X-Haoka-Key: {cred['key_id']}' "
            f"-H 'X-Haoka-Timestamp: {ts}' -H 'X-Haoka-Nonce: {nonce}' -H 'X-Haoka-Signature: {sig}'")


def main() -> None:
    if not (SECRETS / "admin.password").is_file():
        print("up: = demo data skipped: no administrator password file to load it with")
        return
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    tok = Tokens(state)
    people(state, tok)
    cred = channel(state, tok)
    stock(state, tok)
    cards(state, tok)
    if not CHANGED:
        print(f"up: = demo data is loaded (users and secrets in {STATE})")
        return
    total = sum(v["accepted"] for k, v in state.items() if k.startswith("intake:"))
    print(f"up: + demo data: {total} numbers in provinces "
          f"{', '.join(p for p, _, _ in PROVINCES)}, {len(CHANGED)} step(s) done; kept in {STATE}")
    for k, v in state.items():
        if k.startswith("staff:") and k in CHANGED:
            print(f"up:   staff {k[6:]:<14} password {v['password']} (printed once)")
    if "credential" in CHANGED:
        print(f"up:   channel demo-shop-51 key {cred['key_id']} secret {cred['secret']} (printed once)")
    print(f"up:   a signed call (valid for 300 s): {signed_example(state)}")


if __name__ == "__main__":
    try:
        if sys.argv[1:] == ["--signed-call"]:
            # A fresh signed example (timestamps go stale after 300 s).
            print(signed_example(json.loads(STATE.read_text())))
        else:
            main()
    except ApiError as e:
        sys.exit(f"up: ! demo data: {e}")
