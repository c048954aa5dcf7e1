#!/usr/bin/env python3
"""BatleHub benchmarks, side by side with nginx (the physical limit of this
machine) and Verdaccio (the npm peer), in one run, as ratios.

Run by `bench/run`, which installs what this needs. Everything listens on
127.0.0.1; the upstream every proxy talks to is a local nginx serving
fixtures, so every system proxies the very same bytes. Results go to stdout
and to BENCHMARKS.md at the repository root.

Usage: bench.py [--quick] [--only 1,2,...]
"""

import argparse
import base64
import concurrent.futures
import glob
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work")
FIX = os.path.join(WORK, "fixtures")
# BATLEHUB_BENCH_BIN measures another build (an earlier commit's, say) with the same fixtures.
BIN = os.environ.get("BATLEHUB_BENCH_BIN") or os.path.join(ROOT, "target", "release", "batlehub")

NGINX_BASE = 18181      # the baseline: files from disk
UPSTREAM = 18182        # the static upstream every proxy uses
THROTTLED = 18183       # the same, rate-limited and logged (stampede)
HUB = 18190
PRIVATE_PORT = 18196
PG_PORT = 18199
VERDACCIO = 18191
DEVPI = 18192

WRK = ["wrk", "-t2", "-c64", "-d4s", "--latency"]
ROUNDS = 3
THROTTLE = "10m"        # nginx limit_rate for the stampede upstream (bytes/s)
THROTTLE_BPS = 10 * 1024 * 1024
FULL = "1,2,3,4,5,6,7,8,9,10,11"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def sha1_hex(b):
    return hashlib.sha1(b).hexdigest()


def integrity(b):
    return "sha512-" + base64.b64encode(hashlib.sha512(b).digest()).decode()


def file_digests(path):
    s1, s256, s512 = hashlib.sha1(), hashlib.sha256(), hashlib.sha512()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            s1.update(chunk)
            s256.update(chunk)
            s512.update(chunk)
    return s1.hexdigest(), s256.hexdigest(), "sha512-" + base64.b64encode(s512.digest()).decode()


def random_file(path, size):
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS.
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


# --------------------------------------------------------------------------
# fixtures


def npm_packument(name, versions, base):
    """A packument for `versions` = [(version, filename, shasum, integrity)],
    each published a year ago (its `time`) under the MIT licence, as the
    npm registry's packuments say."""
    vs = {}
    times = {"created": "2025-01-01T00:00:00.000Z", "modified": "2025-06-01T00:00:00.000Z"}
    for i, (v, filename, shasum, integ) in enumerate(versions):
        vs[v] = {
            "name": name,
            "version": v,
            "description": f"{name} {v}",
            "license": "MIT",
            "dist": {"tarball": f"{base}/{name}/-/{filename}", "shasum": shasum, "integrity": integ},
        }
        times[v] = f"2025-01-{1 + i % 28:02d}T00:00:{i % 60:02d}.000Z"
    latest = versions[-1][0]
    return {"name": name, "dist-tags": {"latest": latest}, "versions": vs, "time": times}


OSV_RECORDS = 10_000


def lay_out_osv(path):
    """An OSV folder of OSV_RECORDS npm records, as OSV exports them (one
    per file): malicious packages and vulnerabilities of other packages,
    one vulnerability of an express version nobody fetches (so express has
    an entry to check) and one of bigmeta 0.0.0 (so its packument has a
    version withheld)."""
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    def record(i, name, versions, severity, mal=False):
        rid = f"MAL-2026-{i:05d}" if mal else f"GHSA-bnch-{i:04x}-{i % 9973:04x}"
        r = {"schema_version": "1.6.0", "id": rid, "modified": "2026-11-01T00:00:00Z",
             "summary": f"advisory {i} of {name}",
             "affected": [{"package": {"ecosystem": "npm", "name": name},
                           **({"versions": versions} if versions else {"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]})}]}
        if severity:
            r["database_specific"] = {"severity": severity}
        json.dump(r, open(os.path.join(path, f"{rid}.json"), "w"))
    record(0, "express", ["0.0.1"], "CRITICAL")
    record(1, "bigmeta", ["0.0.0"], "HIGH")
    for i in range(2, OSV_RECORDS):
        if i % 5 == 0:
            record(i, f"mal-pkg-{i}", [], None, mal=True)
        else:
            record(i, f"vuln-pkg-{i % 3000}", [f"1.{i % 50}.0", f"2.{i % 7}.1"], ["LOW", "MODERATE", "HIGH", "CRITICAL"][i % 4])


def lay_out_fixtures(args):
    os.makedirs(FIX, exist_ok=True)
    free = shutil.disk_usage(WORK).free
    need = 4 * 1024 ** 3
    log(f"free disk under {WORK}: {free / 1024 ** 3:.1f} GiB (need about {need / 1024 ** 3:.0f} GiB)")
    if free < need:
        raise SystemExit(f"not enough free disk for the fixtures: {free / 1024 ** 3:.1f} GiB free, {need / 1024 ** 3:.0f} GiB needed")
    up = f"http://127.0.0.1:{UPSTREAM}/npm"
    npm_dir = os.path.join(FIX, "npm")
    os.makedirs(npm_dir, exist_ok=True)

    # 1. a real ~50 KB npm tarball, obtained once by name with npm itself.
    small = None
    for f in os.listdir(npm_dir):
        if f.startswith("express-") and f.endswith(".tgz"):
            small = f
    if small is None:
        out = sh(["npm", "pack", "express@4.18.2", "--json", "--pack-destination", npm_dir])
        small = json.loads(out)[0]["filename"]
    small_path = os.path.join(npm_dir, small)
    version = small[len("express-"):-len(".tgz")]
    data = open(small_path, "rb").read()
    os.makedirs(os.path.join(npm_dir, "express", "-"), exist_ok=True)
    shutil.copy(small_path, os.path.join(npm_dir, "express", "-", small))
    json.dump(npm_packument("express", [(version, small, sha1_hex(data), integrity(data))], up),
              open(os.path.join(npm_dir, "express", "index.json"), "w"))

    # 11. advisory data for the registry with rules.
    lay_out_osv(os.path.join(FIX, "osv"))

    # 2. a 512 MB artifact and 3. three 100 MB ones (one per stampede round).
    sizes = {"bigfile": [("1.0.0", (64 if args.quick else 512) * 1024 ** 2)],
             "stampede": [(f"1.0.{i}", (20 if args.quick else 100) * 1024 ** 2) for i in range(ROUNDS)]}
    for name, vs in sizes.items():
        d = os.path.join(npm_dir, name, "-")
        os.makedirs(d, exist_ok=True)
        entries = []
        for v, size in vs:
            fn = f"{name}-{v}.tgz"
            p = os.path.join(d, fn)
            random_file(p, size)
            s1, _, s512 = file_digests(p)
            entries.append((v, fn, s1, s512))
        base = up if name == "bigfile" else f"http://127.0.0.1:{THROTTLED}/npm"
        json.dump(npm_packument(name, entries, base), open(os.path.join(npm_dir, name, "index.json"), "w"))

    # 4. big metadata: 2,000 versions (npm), a cargo index file, a PyPI page.
    vs = [(f"{i // 100}.{i % 100}.0", f"bigmeta-{i // 100}.{i % 100}.0.tgz", "0" * 40,
           "sha512-" + base64.b64encode(hashlib.sha512(str(i).encode()).digest()).decode()) for i in range(2000)]
    doc = npm_packument("bigmeta", vs, up)
    for v in doc["versions"].values():
        v["dependencies"] = {f"dep-{j}": f"^{j}.0.0" for j in range(12)}
        v["scripts"] = {"test": "node test.js", "build": "tsc -p ."}
        v["readme"] = "x" * 400
    os.makedirs(os.path.join(npm_dir, "bigmeta"), exist_ok=True)
    json.dump(doc, open(os.path.join(npm_dir, "bigmeta", "index.json"), "w"))

    cargo_dir = os.path.join(FIX, "cargo")
    os.makedirs(os.path.join(cargo_dir, "bi", "gm"), exist_ok=True)
    json.dump({"dl": f"http://127.0.0.1:{UPSTREAM}/cargo/dl/{{crate}}/{{version}}/download", "api": None},
              open(os.path.join(cargo_dir, "config.json"), "w"))
    with open(os.path.join(cargo_dir, "bi", "gm", "bigmeta"), "w") as f:
        for i in range(2000):
            f.write(json.dumps({"name": "bigmeta", "vers": f"{i // 100}.{i % 100}.0",
                                "deps": [{"name": "serde", "req": "^1", "features": [], "optional": False,
                                          "default_features": True, "target": None, "kind": "normal"}],
                                "cksum": hashlib.sha256(str(i).encode()).hexdigest(), "features": {}, "yanked": False}) + "\n")

    pypi_dir = os.path.join(FIX, "pypi", "simple", "bigmeta")
    os.makedirs(pypi_dir, exist_ok=True)
    with open(os.path.join(pypi_dir, "index.html"), "w") as f:
        f.write("<!DOCTYPE html><html><body>\n")
        for i in range(2000):
            v = f"{i // 100}.{i % 100}.0"
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            f.write(f'<a href="../../files/bigmeta-{v}-py3-none-any.whl#sha256={digest}" data-requires-python="&gt;=3.8">bigmeta-{v}-py3-none-any.whl</a>\n')
        f.write("</body></html>\n")
    return small, version


# --------------------------------------------------------------------------
# the systems


class Proc:
    def __init__(self, name, cmd, cwd=None, env=None):
        self.name = name
        self.log = open(os.path.join(WORK, f"{name}.log"), "w")
        self.p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)


def start_nginx():
    conf = os.path.join(WORK, "nginx.conf")
    tmp = os.path.join(WORK, "nginx-tmp")
    os.makedirs(tmp, exist_ok=True)
    common = f"""
        sendfile on; tcp_nopush on; tcp_nodelay on;
        keepalive_requests 100000; keepalive_timeout 65;
        default_type application/octet-stream;
        types {{ application/json json; text/html html; }}
    """
    # npm packuments: /npm/{name} and /npm/@scope/{name} are index.json files.
    packuments = ("location ~ ^/npm/([^/]+)$ { default_type application/json; try_files /npm/$1/index.json =404; }\n"
                  "        location ~ ^/npm/(@[^/]+)/([^/]+)$ { default_type application/json; try_files /npm/$1/$2/index.json =404; }")
    open(conf, "w").write(f"""
daemon off;
worker_processes 2;
pid {WORK}/nginx.pid;
error_log {WORK}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    {common}
    server {{
        listen 127.0.0.1:{NGINX_BASE};
        root {FIX};
    }}
    server {{
        listen 127.0.0.1:{UPSTREAM};
        root {FIX};
        {packuments}
        location /pypi/ {{ index index.html; default_type text/html; }}
    }}
    server {{
        listen 127.0.0.1:{THROTTLED};
        root {FIX};
        access_log {WORK}/throttled-access.log;
        limit_rate {THROTTLE};
        {packuments}
    }}
}}
""")
    p = Proc("nginx", ["nginx", "-c", conf, "-p", WORK])
    wait_http(f"http://127.0.0.1:{UPSTREAM}/npm/express")
    return p


# What every hub of the benchmarks shares: its address, catalog, folder, and
# the admin token; the registries follow.
HUB_BASE = """
[server]
host = "127.0.0.1"
port = {port}

[database]
url = "{db}"

[storage]
type = "filesystem"
path = "{data}/storage"

[log]
level = "warn"

[[auth]]
type = "token"
[[auth.tokens]]
value = "bench-admin-token"
role = "admin"
user_id = "bench"
"""

HUB_CONFIG = HUB_BASE + """
[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["http://127.0.0.1:{up}/npm/"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]

# The same upstream with cache limits that never bite: every hit is then
# remembered and written in batches, and the eviction pass runs every 30 s
# (scenario 10 measures what that bookkeeping costs).
[[registries]]
type = "npm"
name = "npm-capped"
mode = "proxy"
upstreams = ["http://127.0.0.1:{up}/npm/"]
[registries.cache]
max_bytes = 1099511627776
evict_after_days = 3650
[registries.rbac]
anonymous = ["releases:read", "source:read"]

# The same upstream with five rules, 10,000 advisories among them
# (scenario 11 measures what judging every version costs).
[[registries]]
type = "npm"
name = "npm-ruled"
mode = "proxy"
upstreams = ["http://127.0.0.1:{up}/npm/"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]
[[registries.rules]]
type = "release_age"
min_age = "72h"
bypass = ["release-managers"]
[[registries.rules]]
type = "version"
deny = ["event-stream@3.3.6", "colors@>=1.4.1", "left-pad"]
[[registries.rules]]
type = "version"
allow = ["lodash@^4.17.21"]
[[registries.rules]]
type = "advisories"
source = "{osv}"
min_severity = "high"
[[registries.rules]]
type = "licence"
deny = ["GPL-3.0-only", "AGPL-3.0-only"]

[[registries]]
type = "npm"
name = "stampede"
mode = "proxy"
upstreams = ["http://127.0.0.1:{throttled}/npm/"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]

[[registries]]
type = "cargo"
name = "cargo"
mode = "proxy"
upstreams = ["sparse+http://127.0.0.1:{up}/cargo/"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]

[[registries]]
type = "pypi"
name = "pypi"
mode = "proxy"
upstreams = ["http://127.0.0.1:{up}/pypi/simple/"]
[registries.rbac]
anonymous = ["releases:read", "source:read"]

[[registries]]
type = "npm"
name = "private-npm"
mode = "local"

[[registries]]
type = "pypi"
name = "private-pypi"
mode = "local"
"""


def start_hub(data, port=HUB):
    os.makedirs(data, exist_ok=True)
    conf = os.path.join(data, "batlehub.toml")
    db = f"sqlite://{data}/catalog.db"
    open(conf, "w").write(HUB_CONFIG.format(port=port, data=data, db=db, up=UPSTREAM, throttled=THROTTLED,
                                            osv=os.path.join(FIX, "osv")))
    t0 = time.perf_counter()
    p = Proc("batlehub", [BIN, "serve", "--config", conf])
    url = f"http://127.0.0.1:{port}/livez"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    break
        except Exception:
            if p.p.poll() is not None:
                raise RuntimeError("batlehub exited; see bench/work/batlehub.log")
            time.sleep(0.001)
    return p, time.perf_counter() - t0


def start_verdaccio():
    storage = os.path.join(WORK, "verdaccio-storage")
    shutil.rmtree(storage, ignore_errors=True)
    conf = os.path.join(WORK, "verdaccio.yaml")
    open(conf, "w").write(f"""
storage: {storage}
uplinks:
  local:
    url: http://127.0.0.1:{UPSTREAM}/npm/
    timeout: 600s
    maxage: 30m
packages:
  '**':
    access: $all
    publish: $all
    proxy: local
max_body_size: 2gb
log: {{ type: stdout, format: pretty, level: warn }}
""")
    p = Proc("verdaccio", [os.path.join(HERE, "node_modules", ".bin", "verdaccio"), "--config", conf,
                           "--listen", f"127.0.0.1:{VERDACCIO}"])
    wait_http(f"http://127.0.0.1:{VERDACCIO}/-/ping")
    return p


# --------------------------------------------------------------------------
# measuring


def wrk(url, args=WRK, headers=()):
    cmd = list(args)
    for h in headers:
        cmd += ["-H", h]
    out = sh(cmd + [url])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    unit = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    bps = float(tr.group(1)) * unit.get(tr.group(2), 1) if tr else 0.0
    p99 = None
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)", out, re.M)
    if m:
        p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "bps": bps, "p99_ms": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


def med(xs):
    return statistics.median(xs)


def spread(xs):
    return (max(xs) - min(xs)) / med(xs) * 100 if med(xs) else 0.0


class Report:
    def __init__(self):
        self.sections = []

    def add(self, title, text):
        log(f"\n## {title}\n{text}")
        self.sections.append(f"## {title}\n\n{text}\n")


def table(rows, header):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def alternate(systems, measure):
    """Run `measure(name, url)` for each system, ROUNDS times, alternating."""
    results = {name: [] for name, _ in systems}
    for _ in range(ROUNDS):
        for name, url in systems:
            results[name].append(measure(name, url))
    return results


# --------------------------------------------------------------------------
# scenarios


def scenario_small(rep, hub, small, version):
    path = f"/npm/express/-/{small}"
    urls = [("nginx", f"http://127.0.0.1:{NGINX_BASE}{path}"),
            ("BatleHub", f"http://127.0.0.1:{HUB}/proxy/npm/express/-/{small}"),
            ("Verdaccio", f"http://127.0.0.1:{VERDACCIO}/express/-/{small}")]
    # Warm: the packument and the tarball once through each proxy.
    get(f"http://127.0.0.1:{HUB}/proxy/npm/express")
    get(f"http://127.0.0.1:{VERDACCIO}/express")
    for _, u in urls:
        assert len(get(u)) == os.path.getsize(os.path.join(FIX, "npm", small))
    for _, u in urls:
        wrk(u, ["wrk", "-t2", "-c64", "-d1s"])
    res = alternate(urls, lambda n, u: wrk(u))
    rows = []
    for name, rs in res.items():
        rps = [r["rps"] for r in rs]
        p99 = [r["p99_ms"] for r in rs]
        bad = sum(r["non2xx"] for r in rs)
        rows.append((name, f"{med(rps):,.0f} req/s", f"±{spread(rps):.0f}%", f"{med(p99):.2f} ms", bad))
    hub_rps = med([r["rps"] for r in res["BatleHub"]])
    ratios = {n: hub_rps / med([r["rps"] for r in rs]) for n, rs in res.items() if n != "BatleHub"}
    text = table(rows, ["system", "median", "spread", "p99", "non-2xx"])
    text += (f"\n\nBatleHub / nginx: **{ratios['nginx']:.2f}×** (target ≥ 0.8×); "
             f"BatleHub / Verdaccio: **{ratios['Verdaccio']:.1f}×** (target ≥ 10×).")
    text += f"\n\n`{' '.join(WRK)}` on a {os.path.getsize(os.path.join(FIX, 'npm', small)) // 1024} KB tarball (express {version}), keep-alive, warm caches."
    rep.add("1. Cached small artifact", text)
    return ratios


def scenario_eviction(rep, hub, small):
    """Scenario 1's cached tarball through two registries of one hub on the
    same upstream: one without cache limits (no access bookkeeping at all),
    one with limits that never bite (every hit remembered, written in
    batches; the eviction pass every 30 s)."""
    urls = [("no limits", f"http://127.0.0.1:{HUB}/proxy/npm/express/-/{small}"),
            ("max_bytes + evict_after_days", f"http://127.0.0.1:{HUB}/proxy/npm-capped/express/-/{small}")]
    for reg in ("npm", "npm-capped"):
        get(f"http://127.0.0.1:{HUB}/proxy/{reg}/express")
    for _, u in urls:
        assert len(get(u)) == os.path.getsize(os.path.join(FIX, "npm", small))
        wrk(u, ["wrk", "-t2", "-c64", "-d1s"])
    rounds = 7
    res = {name: [] for name, _ in urls}
    for i in range(rounds):
        # Alternate which goes first, so neither always follows the other.
        for name, u in (urls if i % 2 == 0 else urls[::-1]):
            res[name].append(wrk(u))
    rows = []
    for name, rs in res.items():
        rps = [r["rps"] for r in rs]
        p99 = [r["p99_ms"] for r in rs]
        rows.append((name, f"{med(rps):,.0f} req/s", f"±{spread(rps):.0f}%", f"{med(p99):.2f} ms",
                     sum(r["non2xx"] for r in rs)))
    plain = [r["rps"] for r in res["no limits"]]
    capped = [r["rps"] for r in res["max_bytes + evict_after_days"]]
    # Each round measured both back to back: the median of the rounds'
    # ratios is robust to the machine's drift between rounds.
    ratio = med([c / p for c, p in zip(capped, plain)])
    text = table(rows, ["registry", "median", "spread", "p99", "non-2xx"])
    text += (f"\n\nWith limits / without, median of the {rounds} rounds' ratios: **{ratio:.3f}×**, bookkeeping cost "
             f"**{(1 - ratio) * 100:.1f}%** (target under 5%); ratio of the medians {med(capped) / med(plain):.3f}×; "
             f"per round: {', '.join(f'{c / p:.2f}' for c, p in zip(capped, plain))}.")
    text += (f"\n\n`{' '.join(WRK)}`, {rounds} alternating rounds, on scenario 1's tarball through two npm "
             "registries of one hub with the same upstream: `npm` has no cache limits, so a hit records nothing; "
             "`npm-capped` has `max_bytes` and `evict_after_days` set far above what it holds, so every hit is "
             "remembered in memory, written to the catalog in one batch every 2 s, and the eviction pass "
             "(usage query, document listing) runs every 30 s during the measurement.")
    rep.add("10. Eviction bookkeeping", text)
    return ratio


def scenario_rules(rep, hub, small):
    """Scenario 1's cached tarball and scenario 4's packument through two
    registries of one hub on the same upstream: one without rules, one with
    five (release age, two version rules, 10,000 OSV advisories, licences)."""
    pairs = {
        "cached tarball": (f"http://127.0.0.1:{HUB}/proxy/npm/express/-/{small}",
                           f"http://127.0.0.1:{HUB}/proxy/npm-ruled/express/-/{small}", WRK, ()),
        "cached packument (2,000 versions)": (f"http://127.0.0.1:{HUB}/proxy/npm/bigmeta",
                                              f"http://127.0.0.1:{HUB}/proxy/npm-ruled/bigmeta",
                                              ["wrk", "-t2", "-c16", "-d4s", "--latency"], ["Accept: application/json"]),
    }
    for reg in ("npm", "npm-ruled"):
        get(f"http://127.0.0.1:{HUB}/proxy/{reg}/express")
    ruled = json.loads(get(f"http://127.0.0.1:{HUB}/proxy/npm-ruled/bigmeta", {"accept": "application/json"}))
    assert "0.0.0" not in ruled["versions"] and len(ruled["versions"]) == 1999, "the advisory withholds bigmeta 0.0.0"
    status = json.loads(get(f"http://127.0.0.1:{HUB}/api/v1/admin/registries/npm-ruled/advisories",
                            {"authorization": "Bearer bench-admin-token"}))
    records = status["advisories"][0]["records"]
    assert records == OSV_RECORDS, status
    rounds = 7
    rows, ratios = [], {}
    for what, (plain_url, ruled_url, args, headers) in pairs.items():
        for u in (plain_url, ruled_url):
            get(u, {"accept": "application/json"})
            wrk(u, ["wrk", "-t2", "-c16", "-d1s"], headers)
        res = {"no rules": [], "five rules": []}
        for i in range(rounds):
            order = [("no rules", plain_url), ("five rules", ruled_url)]
            for name, u in (order if i % 2 == 0 else order[::-1]):
                res[name].append(wrk(u, args, headers))
        for name, rs in res.items():
            rps = [r["rps"] for r in rs]
            rows.append((what, name, f"{med(rps):,.0f} req/s", f"±{spread(rps):.0f}%", f"{med([r['p99_ms'] for r in rs]):.2f} ms",
                         sum(r["non2xx"] for r in rs)))
        per_round = [c / p for c, p in zip([r["rps"] for r in res["five rules"]], [r["rps"] for r in res["no rules"]])]
        ratios[what] = (med(per_round), per_round)
    text = table(rows, ["request", "registry", "median", "spread", "p99", "non-2xx"])
    for what, (ratio, per_round) in ratios.items():
        text += (f"\n\n{what}: with rules / without, median of the {rounds} rounds' ratios **{ratio:.3f}×**, cost "
                 f"**{(1 - ratio) * 100:.1f}%** (target under 10%); per round: {', '.join(f'{x:.2f}' for x in per_round)}.")
    text += (f"\n\n{rounds} alternating rounds; `npm-ruled` has a `release_age` rule (72 h, with a bypass group), two `version` "
             f"rules, an `advisories` rule over a folder of {records:,} OSV records (one names an express version nobody "
             "fetches, one withholds bigmeta 0.0.0, so the packument served has 1,999 versions) and a `licence` rule. "
             "Every request is judged: a listing's versions once per fetched body and class of caller (the judgement "
             "remembered until a withheld version comes of age or the advisories are read again), a tarball by its "
             "release (version, time and licence remembered once read from the packument) through all five rules. "
             "Tarball: `wrk -t2 -c64 -d4s`; packument: `wrk -t2 -c16 -d4s`.")
    rep.add("11. Supply-chain rules", text)
    return ratios


def scenario_large(rep, hub, quick):
    path = "/npm/bigfile/-/bigfile-1.0.0.tgz"
    size = os.path.getsize(os.path.join(FIX, path.lstrip("/")))
    urls = [("nginx", f"http://127.0.0.1:{NGINX_BASE}{path}"),
            ("BatleHub", f"http://127.0.0.1:{HUB}/proxy/npm/bigfile/-/bigfile-1.0.0.tgz")]
    get(f"http://127.0.0.1:{HUB}/proxy/npm/bigfile")
    assert len(get(urls[1][1])) == size
    args = ["wrk", "-t2", "-c8", "-d8s"]
    peaks = []

    def measure(name, url):
        if name == "BatleHub":
            before = rss_kb(hub.pid)
            reset_peak(hub.pid)
            r = wrk(url, args)
            peaks.append((rss_kb(hub.pid, "VmHWM") - before) / 1024)
            return r
        return wrk(url, args)

    res = alternate(urls, measure)
    rows = []
    for name, rs in res.items():
        bps = [r["bps"] for r in rs]
        rows.append((name, f"{med(bps) / 1024 ** 2:,.0f} MiB/s", f"±{spread(bps):.0f}%"))
    ratio = med([r["bps"] for r in res["BatleHub"]]) / med([r["bps"] for r in res["nginx"]])
    text = table(rows, ["system", "median throughput", "spread"])
    text += (f"\n\nBatleHub / nginx: **{ratio:.2f}×** (target ≥ 0.7×). BatleHub's peak RSS growth while serving: "
             f"**{max(peaks):.1f} MB** (target ≤ 64 MB).\n\n`wrk -t2 -c8 -d8s`, a {size // 1024 ** 2} MB file, 8 concurrent downloads.")
    rep.add("2. Cached large artifact", text)
    return ratio, max(peaks)


def curl_timed(url):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total} %{size_download}", url],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2]), int(out[3])


def scenario_stampede(rep, hub, clients):
    logf = os.path.join(WORK, "throttled-access.log")
    rows = []
    ratios = []
    direct = None
    crowd_ttfb = 0.0
    for i in range(ROUNDS):
        v = f"1.0.{i}"
        fn = f"stampede-{v}.tgz"
        size = os.path.getsize(os.path.join(FIX, "npm", "stampede", "-", fn))
        if direct is None:
            # The references: one download straight from the throttled
            # upstream, and the same stampede straight at it (each client
            # its own upstream stream), whose median TTFB includes what 200
            # clients starting at once cost this machine.
            direct = curl_timed(f"http://127.0.0.1:{THROTTLED}/npm/stampede/-/{fn}")
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                crowd = list(pool.map(lambda _: curl_timed(f"http://127.0.0.1:{THROTTLED}/npm/stampede/-/{fn}"), range(clients)))
            crowd_ttfb = med([g[1] for g in crowd])
        get(f"http://127.0.0.1:{HUB}/proxy/stampede/stampede")
        before = open(logf).read().count(f"/{fn} ") if os.path.exists(logf) else 0
        url = f"http://127.0.0.1:{HUB}/proxy/stampede/stampede/-/{fn}"
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            got = list(pool.map(lambda _: curl_timed(url), range(clients)))
        total = time.perf_counter() - t0
        time.sleep(0.5)
        upstream_requests = open(logf).read().count(f"/{fn} ") - before
        ok = sum(1 for g in got if g[0] == 200 and g[3] == size)
        ttfb = med([g[1] for g in got])
        rows.append((i + 1, ok, upstream_requests, f"{ttfb * 1000:.1f} ms", f"{total:.2f} s"))
        ratios.append((upstream_requests, ttfb, total))
    text = table(rows, ["round", f"complete downloads (of {clients})", "upstream requests", "median TTFB", "all done"])
    text += (f"\n\nStraight from the throttled upstream: one download has TTFB {direct[1] * 1000:.1f} ms and takes {direct[2]:.2f} s; "
             f"the same {clients}-client stampede sent straight to it has a median TTFB of {crowd_ttfb * 1000:.1f} ms. "
             f"Through BatleHub, medians over rounds: TTFB **{med([r[1] for r in ratios]) * 1000:.1f} ms** "
             f"(target ≤ the upstream's {crowd_ttfb * 1000:.1f} ms + 10 ms), "
             f"all done in **{med([r[2] for r in ratios]) / direct[2]:.2f}×** one direct download (target ≤ 1.1×), "
             f"upstream requests per round: **{', '.join(str(r[0]) for r in ratios)}** (target exactly 1)."
             f"\n\n{clients} concurrent `curl` clients ask for the same uncached {size // 1024 ** 2} MB artifact; the upstream is nginx with `limit_rate {THROTTLE}`.")
    rep.add("3. Cold miss under a stampede", text)
    return ratios, direct


def scenario_metadata(rep, hub):
    hub_url = f"http://127.0.0.1:{HUB}/proxy/npm/bigmeta"
    body = get(hub_url, {"accept": "application/json"})
    served = os.path.join(FIX, "served")
    os.makedirs(served, exist_ok=True)
    open(os.path.join(served, "bigmeta.json"), "wb").write(body)
    urls = [("nginx", f"http://127.0.0.1:{NGINX_BASE}/served/bigmeta.json"), ("BatleHub", hub_url)]
    for _, u in urls:
        wrk(u, ["wrk", "-t2", "-c16", "-d1s"])
    res = alternate(urls, lambda n, u: wrk(u, ["wrk", "-t2", "-c16", "-d4s", "--latency"], ["Accept: application/json"]))
    rows = []
    for name, rs in res.items():
        rps = [r["rps"] for r in rs]
        rows.append((name, f"{med(rps):,.0f} req/s", f"±{spread(rps):.0f}%", f"{med([r['p99_ms'] for r in rs]):.2f} ms"))
    ratio = med([r["rps"] for r in res["BatleHub"]]) / med([r["rps"] for r in res["nginx"]])
    # p99 of a cargo index file and a PyPI simple page (2,000 entries each).
    cargo = f"http://127.0.0.1:{HUB}/proxy/cargo/registry/bi/gm/bigmeta"
    pypi = f"http://127.0.0.1:{HUB}/proxy/pypi/simple/bigmeta/"
    get(f"http://127.0.0.1:{HUB}/proxy/cargo/registry/config.json")
    get(cargo)
    get(pypi)
    p99s = {}
    for name, u in (("cargo index file", cargo), ("PyPI simple page", pypi)):
        light = [wrk(u, ["wrk", "-t2", "-c4", "-d4s", "--latency"]) for _ in range(ROUNDS)]
        heavy = [wrk(u, ["wrk", "-t2", "-c16", "-d4s", "--latency"]) for _ in range(ROUNDS)]
        p99s[name] = (med([r["p99_ms"] for r in light]), med([r["rps"] for r in heavy]), med([r["p99_ms"] for r in heavy]))
        rows.append((f"BatleHub, {name}", f"{p99s[name][1]:,.0f} req/s", "", f"{p99s[name][2]:.2f} ms (4 connections: {p99s[name][0]:.2f} ms)"))
    text = table(rows, ["system", "median", "spread", "p99"])
    text += (f"\n\nnpm packument of 2,000 versions ({len(body) / 1024 ** 2:.1f} MB as served): BatleHub / nginx serving the same "
             f"rewritten bytes: **{ratio:.2f}×** (target ≥ 0.5×). p99: cargo index file **{p99s['cargo index file'][0]:.2f} ms**, "
             f"PyPI simple page **{p99s['PyPI simple page'][0]:.2f} ms** (target ≤ 5 ms), measured at 4 concurrent connections; "
             f"the table's p99 is at 16. `wrk -t2 -c16 -d4s` unless stated.")
    rep.add("4. Big metadata", text)
    return ratio, p99s


def npm_publish_body(name, version, tgz):
    fn = f"{name}-{version}.tgz"
    return json.dumps({
        "_id": name, "name": name, "dist-tags": {"latest": version},
        "versions": {version: {"name": name, "version": version,
                               "dist": {"tarball": f"http://x/{name}/-/{fn}", "shasum": sha1_hex(tgz), "integrity": integrity(tgz)}}},
        "_attachments": {fn: {"content_type": "application/octet-stream", "data": base64.b64encode(tgz).decode(), "length": len(tgz)}},
    }).encode()


def npm_tgz(name, version, pad):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        pj = json.dumps({"name": name, "version": version}).encode()
        for fname, data in (("package/package.json", pj), ("package/blob.bin", pad)):
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- 5. a real install -----------------------------------------------------

NPM_DEPS = {"express": "4.18.2", "webpack": "5.88.2", "eslint": "8.45.0", "@babel/core": "7.22.9", "mocha": "10.2.0"}
PIP_REQS = ["flask==2.3.2", "requests==2.31.0", "httpx==0.24.1", "rich==13.5.2", "pytest==7.4.0",
            "pydantic==1.10.12", "sqlalchemy==2.0.19", "attrs==23.1.0", "jinja2==3.1.2", "pyyaml==6.0.1"]


def lay_out_install_fixtures():
    """Real npm packages (a lockfile's worth) and real wheels, fetched once
    by name with npm and pip, served by the static upstream."""
    src = os.path.join(WORK, "install-src")
    lock_path = os.path.join(src, "package-lock.json")
    if not os.path.exists(lock_path):
        os.makedirs(src, exist_ok=True)
        json.dump({"name": "bench-install", "version": "1.0.0", "private": True, "dependencies": NPM_DEPS},
                  open(os.path.join(src, "package.json"), "w"))
        sh(["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=src)
    lock = json.load(open(lock_path))
    # The tarball URL of a name and version on the registry npm is set up
    # with (lockfiles here carry no `resolved` URLs).
    registry = sh(["npm", "config", "get", "registry"]).strip().rstrip("/")
    entries = {}
    for path, meta in lock["packages"].items():
        if not path or meta.get("link") or "version" not in meta:
            continue
        name = meta.get("name") or path.rsplit("node_modules/", 1)[1]
        meta = dict(meta)
        meta.setdefault("resolved", f"{registry}/{name}/-/{name.split('/')[-1]}-{meta['version']}.tgz")
        entries.setdefault(name, {})[meta["version"]] = meta
    npm_dir = os.path.join(FIX, "npm")

    def fetch(item):
        name, version, meta = item
        fn = meta["resolved"].rsplit("/", 1)[1]
        d = os.path.join(npm_dir, name, "-")
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, fn)
        if not os.path.exists(p):
            data = get(meta["resolved"])
            open(p + ".part", "wb").write(data)
            os.rename(p + ".part", p)
        return name, version, fn

    items = [(n, v, m) for n, vs in entries.items() for v, m in vs.items()]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        files = list(pool.map(fetch, items))
    up = f"http://127.0.0.1:{UPSTREAM}/npm"
    for name, vs in entries.items():
        versions = {}
        for v, meta in sorted(vs.items()):
            fn = next(f for n, ver, f in files if n == name and ver == v)
            data = open(os.path.join(npm_dir, name, "-", fn), "rb").read()
            versions[v] = {"name": name, "version": v,
                           "dependencies": meta.get("dependencies", {}),
                           "optionalDependencies": meta.get("optionalDependencies", {}),
                           "peerDependencies": meta.get("peerDependencies", {}),
                           "engines": meta.get("engines", {}),
                           "bin": meta.get("bin", {}),
                           "dist": {"tarball": f"{up}/{name}/-/{fn}", "shasum": sha1_hex(data), "integrity": meta["integrity"]}}
        latest = sorted(vs)[-1]
        os.makedirs(os.path.join(npm_dir, name), exist_ok=True)
        json.dump({"name": name, "dist-tags": {"latest": latest}, "versions": versions},
                  open(os.path.join(npm_dir, name, "index.json"), "w"))
    # The project as measured: the lockfile without `resolved`, so that
    # every client resolves through the registry it is pointed at.
    proj = os.path.join(WORK, "install-proj")
    os.makedirs(proj, exist_ok=True)
    shutil.copy(os.path.join(src, "package.json"), proj)
    for meta in lock["packages"].values():
        meta.pop("resolved", None)
    json.dump(lock, open(os.path.join(proj, "package-lock.json"), "w"), indent=1)

    # Wheels, with their whole dependency closure, by name with pip.
    wheels = os.path.join(WORK, "wheels")
    if not os.path.isdir(wheels) or not os.listdir(wheels):
        os.makedirs(wheels, exist_ok=True)
        sh([sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-cache-dir", "-d", wheels] + PIP_REQS,
           env={**os.environ, "PIP_FIND_LINKS": ""})
    simple = os.path.join(FIX, "pypi", "simple")
    files_dir = os.path.join(FIX, "pypi", "files")
    os.makedirs(files_dir, exist_ok=True)
    projects = {}
    for fn in sorted(os.listdir(wheels)):
        shutil.copy(os.path.join(wheels, fn), files_dir)
        project = re.sub(r"[-_.]+", "-", fn.split("-")[0]).lower()
        digest = hashlib.sha256(open(os.path.join(wheels, fn), "rb").read()).hexdigest()
        projects.setdefault(project, []).append((fn, digest))
    for project, fs in projects.items():
        os.makedirs(os.path.join(simple, project), exist_ok=True)
        with open(os.path.join(simple, project, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><html><body>\n")
            for fn, digest in fs:
                f.write(f'<a href="../../files/{fn}#sha256={digest}">{fn}</a>\n')
            f.write("</body></html>\n")
    # The root index (devpi reads the project list from it).
    with open(os.path.join(simple, "index.html"), "w") as f:
        f.write("<!DOCTYPE html><html><body>\n")
        for project in sorted(os.listdir(simple)):
            if os.path.isdir(os.path.join(simple, project)):
                f.write(f'<a href="{project}/">{project}</a>\n')
        f.write("</body></html>\n")
    return len(items), len(os.listdir(wheels))


def npm_ci(registry):
    proj = os.path.join(WORK, "install-proj")
    shutil.rmtree(os.path.join(proj, "node_modules"), ignore_errors=True)
    cache = tempfile.mkdtemp(prefix="npm-cache-", dir=WORK)
    try:
        t0 = time.perf_counter()
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--registry", registry, "--cache", cache],
                       cwd=proj, check=True, capture_output=True, text=True,
                       env={**os.environ, "npm_config_userconfig": "/dev/null", "npm_config_update_notifier": "false"})
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def pip_install(index):
    target = tempfile.mkdtemp(prefix="pip-target-", dir=WORK)
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--only-binary=:all:",
                        "--quiet", "--target", target, "--index-url", index] + PIP_REQS,
                       check=True, capture_output=True, text=True, env={**os.environ, "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": "/dev/null"})
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(target, ignore_errors=True)


def start_devpi():
    """devpi-server with a mirror index of the static upstream."""
    venv = os.path.join(HERE, ".venv", "bin")
    server_dir = os.path.join(WORK, "devpi")
    shutil.rmtree(server_dir, ignore_errors=True)
    sh([os.path.join(venv, "devpi-init"), "--serverdir", server_dir, "--no-root-pypi", "--root-passwd", "bench"])
    p = Proc("devpi", [os.path.join(venv, "devpi-server"), "--serverdir", server_dir, "--host", "127.0.0.1", "--port", str(DEVPI)])
    wait_http(f"http://127.0.0.1:{DEVPI}/+api", timeout=120)
    req = urllib.request.Request(f"http://127.0.0.1:{DEVPI}/+login", data=json.dumps({"user": "root", "password": "bench"}).encode(),
                                 headers={"content-type": "application/json", "accept": "application/json"}, method="POST")
    token = json.loads(urllib.request.urlopen(req).read())["result"]["password"]
    auth = base64.b64encode(f"root:{token}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{DEVPI}/root/mirror",
                                 data=json.dumps({"type": "mirror", "mirror_url": f"http://127.0.0.1:{UPSTREAM}/pypi/simple/"}).encode(),
                                 headers={"content-type": "application/json", "accept": "application/json", "X-Devpi-Auth": auth}, method="PUT")
    urllib.request.urlopen(req).read()
    return p


def scenario_install(rep, n_npm, n_wheels):
    # nginx serving the fixtures directly is the floor: the client's own work.
    systems = [("BatleHub", f"http://127.0.0.1:{HUB}/proxy/npm/"), ("Verdaccio", f"http://127.0.0.1:{VERDACCIO}/"),
               ("nginx (static files, no proxy)", f"http://127.0.0.1:{UPSTREAM}/npm/")]
    for _, url in systems:
        npm_ci(url)   # warm the servers
    res = alternate(systems, lambda n, u: npm_ci(u))
    rows = [(f"npm ci ({n_npm} packages)", name, f"{med(ts):.2f} s", f"±{spread(ts):.0f}%") for name, ts in res.items()]
    npm_ratio = med(res["BatleHub"]) / med(res["Verdaccio"])
    devpi = start_devpi()
    try:
        psystems = [("BatleHub", f"http://127.0.0.1:{HUB}/proxy/pypi/simple/"), ("devpi", f"http://127.0.0.1:{DEVPI}/root/mirror/+simple/"),
                    ("nginx (static files, no proxy)", f"http://127.0.0.1:{UPSTREAM}/pypi/simple/")]
        for _, url in psystems:
            pip_install(url)
        pres = alternate(psystems, lambda n, u: pip_install(u))
    finally:
        devpi.stop()
    rows += [(f"pip install ({n_wheels} wheels)", name, f"{med(ts):.2f} s", f"±{spread(ts):.0f}%") for name, ts in pres.items()]
    pip_ratio = med(pres["BatleHub"]) / med(pres["devpi"])
    text = table(rows, ["install", "through", "median time", "spread"])
    npm_floor = med(res["nginx (static files, no proxy)"]) / med(res["Verdaccio"])
    pip_floor = med(pres["nginx (static files, no proxy)"]) / med(pres["devpi"])
    text += (f"\n\nBatleHub / Verdaccio (npm ci): **{npm_ratio:.2f}×** the time (target ≤ 0.5×). "
             f"BatleHub / devpi (pip install): **{pip_ratio:.2f}×** the time (target ≤ 0.5×). "
             f"The floor, the clients installing straight from static files: {npm_floor:.2f}× Verdaccio's time for npm, "
             f"{pip_floor:.2f}× devpi's for pip; what a registry can still save is the difference.\n\n"
             "Warm servers, a cold client cache each time (`npm ci --cache <fresh>`, `pip install --no-cache-dir`); the lockfile has no "
             "`resolved` URLs, so npm resolves every package through the registry it is given.")
    rep.add("5. A real install", text)
    return npm_ratio, pip_ratio


def scenario_publish(rep, hub, quick):
    n = 200
    pad = os.urandom(50 * 1024)
    bodies = [npm_publish_body("bench-pub", f"1.0.{i}", npm_tgz("bench-pub", f"1.0.{i}", pad)) for i in range(n)]

    def put(body):
        c = http.client.HTTPConnection("127.0.0.1", HUB, timeout=120)
        c.request("PUT", "/proxy/private-npm/bench-pub", body=body,
                  headers={"content-type": "application/json", "authorization": "Bearer bench-admin-token"})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(put, bodies))
    took = time.perf_counter() - t0
    errors = sum(1 for s in statuses if s not in (200, 201))
    # One big upload, streamed: a wheel through the PyPI upload API.
    size = (128 if quick else 1024) * 1024 ** 2
    wheel = os.path.join(WORK, "bench_big-1.0.0-py3-none-any.whl")
    if not os.path.exists(wheel) or os.path.getsize(wheel) < size:
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            z.writestr("bench_big/__init__.py", "")
            with z.open("bench_big/blob.bin", "w", force_zip64=True) as f:
                left = size
                while left:
                    k = min(left, 1 << 20)
                    f.write(os.urandom(k))
                    left -= k
            meta = "Metadata-Version: 2.1\nName: bench-big\nVersion: 1.0.0\n\n"
            z.writestr("bench_big-1.0.0.dist-info/METADATA", meta)
            z.writestr("bench_big-1.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            z.writestr("bench_big-1.0.0.dist-info/RECORD", "")
    before = rss_kb(hub.pid)
    reset_peak(hub.pid)
    t1 = time.perf_counter()
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "__token__:bench-admin-token",
                          "-F", ":action=file_upload", "-F", "name=bench-big", "-F", "version=1.0.0",
                          "-F", f"content=@{wheel}", f"http://127.0.0.1:{HUB}/proxy/private-pypi/legacy/"],
                         capture_output=True, text=True).stdout
    big_took = time.perf_counter() - t1
    growth = (rss_kb(hub.pid, "VmHWM") - before) / 1024
    text = table([
        (f"{n} concurrent npm publishes of distinct versions (~50 KB)", f"{errors} errors", f"{n / took:.0f} publishes/s ({took:.2f} s)"),
        (f"one {size // 1024 ** 2} MB wheel upload (multipart, streamed)", f"HTTP {out}", f"{size / big_took / 1024 ** 2:.0f} MiB/s, peak RSS growth **{growth:.1f} MB** (target ≤ 64 MB)"),
    ], ["what", "outcome", "throughput"])
    rep.add("6. Publish", text)
    return errors, growth


def scenario_footprint(rep, startup):
    data = tempfile.mkdtemp(prefix="bh-footprint-", dir=WORK)
    times = []
    rss = []
    for _ in range(ROUNDS):
        p, took = start_hub(data, port=HUB + 5)
        time.sleep(1.0)
        rss.append(rss_kb(p.pid) / 1024)
        p.stop()
        times.append(took)
    size = os.path.getsize(BIN)
    stripped = os.path.join(data, "batlehub-stripped")
    subprocess.run(["strip", "-o", stripped, BIN], check=True)
    stripped_size = os.path.getsize(stripped)
    text = table([
        ("idle RSS", f"**{med(rss):.1f} MB**", "< 30 MB"),
        ("start to `/livez` answering", f"**{med(times) * 1000:.0f} ms** (first start with an empty folder: {startup * 1000:.0f} ms)", "< 200 ms"),
        ("binary size (release)", f"{stripped_size / 1024 ** 2:.1f} MB stripped ({size / 1024 ** 2:.1f} MB with the debug info the release profile keeps for profiling)", ""),
    ], ["what", "measured", "target"])
    rep.add("7. Footprint", text)
    shutil.rmtree(data, ignore_errors=True)
    return med(rss), med(times)


# -- 9. private packages ---------------------------------------------------

PRIVATE_CONFIG = HUB_BASE + """
[[registries]]
type = "npm"
name = "private-npm"
mode = "local"

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["http://127.0.0.1:{up}/npm/"]

[[registries]]
type = "cargo"
name = "private-cargo"
mode = "local"

[[registries]]
type = "pypi"
name = "private-pypi"
mode = "local"
"""


def start_postgres():
    """A throwaway PostgreSQL server under bench/work (as .ci/run starts
    one), or None when its binaries are not installed."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    if not bins or not os.path.exists(os.path.join(bins[-1], "initdb")):
        return None, None
    pgbin = bins[-1]
    pgdir = tempfile.mkdtemp(prefix="bench-pg-", dir=WORK)
    as_pg = [] if os.geteuid() != 0 else ["su", "postgres", "-c"]
    if as_pg:
        shutil.chown(pgdir, "postgres")

    def run(cmd):
        subprocess.run(as_pg + [cmd] if as_pg else ["sh", "-c", cmd], check=True, capture_output=True)

    run(f"{pgbin}/initdb -D {pgdir}/data -U batle --auth=trust -E UTF8")
    run(f"{pgbin}/pg_ctl -D {pgdir}/data -l {pgdir}/pg.log -w start -o '-c listen_addresses=127.0.0.1 -p {PG_PORT} -k {pgdir} -c fsync=off'")

    def stop():
        subprocess.run(as_pg + [f"{pgbin}/pg_ctl -D {pgdir}/data -m immediate -w stop"] if as_pg
                       else ["sh", "-c", f"{pgbin}/pg_ctl -D {pgdir}/data -m immediate -w stop"], capture_output=True)
        shutil.rmtree(pgdir, ignore_errors=True)
    return f"postgres://batle@127.0.0.1:{PG_PORT}/postgres", stop


def start_private_hub(data, port, db):
    os.makedirs(data, exist_ok=True)
    conf = os.path.join(data, "batlehub.toml")
    open(conf, "w").write(PRIVATE_CONFIG.format(port=port, data=data, db=db, up=UPSTREAM))
    p = Proc(f"batlehub-private-{port}", [BIN, "serve", "--config", conf])
    wait_http(f"http://127.0.0.1:{port}/livez")
    return p


def http_call(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def crate_file(name, vers):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for fname, data in ((f"{name}-{vers}/Cargo.toml",
                             f'[package]\nname = "{name}"\nversion = "{vers}"\nedition = "2021"\n'.encode()),
                            (f"{name}-{vers}/src/lib.rs", b"pub fn hello() {}\n")):
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cargo_publish_body(name, vers, crate):
    meta = json.dumps({"name": name, "vers": vers, "deps": [], "features": {}, "authors": [],
                       "description": f"the {name} crate", "license": "MIT", "keywords": [], "categories": [],
                       "badges": {}, "links": None}).encode()
    return len(meta).to_bytes(4, "little") + meta + len(crate).to_bytes(4, "little") + crate


def small_wheel(path, name, version, pad):
    dist = name.replace("-", "_")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{dist}/__init__.py", "")
        z.writestr(f"{dist}/blob.bin", pad)
        z.writestr(f"{dist}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
        z.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}-{version}.dist-info/RECORD", "")


def fill_private(port):
    """Publish the same private packages to a hub; a user's API token back."""
    admin = {"authorization": "Bearer bench-admin-token"}
    pad = bytes(random.Random(7).getrandbits(8) for _ in range(50 * 1024))
    for i in range(20):
        v = f"1.{i}.0"
        st, _ = http_call(port, "PUT", "/proxy/private-npm/private-lib",
                          npm_publish_body("private-lib", v, npm_tgz("private-lib", v, pad)),
                          {**admin, "content-type": "application/json"})
        assert st in (200, 201), st
        st, out = http_call(port, "PUT", "/proxy/private-cargo/api/v1/crates/new",
                            cargo_publish_body("private-crate", v, crate_file("private-crate", v)),
                            {"authorization": "bench-admin-token"})
        assert st == 200, (st, out)
    wheel = os.path.join(WORK, "private_pkg-1.0.0-py3-none-any.whl")
    small_wheel(wheel, "private-pkg", "1.0.0", pad)
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", "__token__:bench-admin-token",
                          "-F", ":action=file_upload", "-F", "name=private-pkg", "-F", "version=1.0.0",
                          "-F", f"content=@{wheel}", f"http://127.0.0.1:{port}/proxy/private-pypi/legacy/"],
                         capture_output=True, text=True).stdout
    assert out == "200", out
    st, made = http_call(port, "POST", "/api/v1/auth/tokens", json.dumps({"name": "bench", "role": "user"}).encode(),
                         {**admin, "content-type": "application/json"})
    assert st == 201, (st, made)
    return json.loads(made)["token"]


PRIVATE_READS = [
    # (what, path under /proxy, file under fixtures/private for nginx, target)
    ("for reference: a cached proxied npm tarball (~55 KB)", "/npm/express/-/express-4.18.2.tgz", "npm-express.tgz", 0.8),
    ("npm tarball (~50 KB)", "/private-npm/private-lib/-/private-lib-1.19.0.tgz", "npm-private-lib.tgz", 0.8),
    ("npm packument (20 versions)", "/private-npm/private-lib", "npm-private-lib.json", 0.5),
    ("cargo index file (20 versions)", "/private-cargo/registry/pr/iv/private-crate", "cargo-private-crate", 0.5),
    ("PyPI simple page", "/private-pypi/simple/private-pkg/", "pypi-private-pkg.html", 0.5),
]


def scenario_private(rep):
    """Local (published) packages read with an API token, on SQLite and on
    PostgreSQL, against nginx serving the same bytes from disk."""
    hubs = []
    pg_url, pg_stop = start_postgres()
    try:
        sqlite_data = tempfile.mkdtemp(prefix="bh-private-sqlite-", dir=WORK)
        hubs.append(("BatleHub (SQLite)", PRIVATE_PORT,
                     start_private_hub(sqlite_data, PRIVATE_PORT, f"sqlite://{sqlite_data}/catalog.db")))
        if pg_url:
            pg_data = tempfile.mkdtemp(prefix="bh-private-pg-", dir=WORK)
            hubs.append(("BatleHub (PostgreSQL)", PRIVATE_PORT + 1, start_private_hub(pg_data, PRIVATE_PORT + 1, pg_url)))
        tokens = {name: fill_private(port) for name, port, _ in hubs}
        # What nginx serves: the bytes BatleHub (SQLite) serves, from disk.
        os.makedirs(os.path.join(FIX, "private"), exist_ok=True)
        first = hubs[0]
        for name, port, _ in hubs:
            # The proxied reference: its packument and tarball fetched once.
            for path in ("/npm/express", PRIVATE_READS[0][1]):
                get(f"http://127.0.0.1:{port}/proxy{path}", {"authorization": f"Bearer {tokens[name]}"})
        for _, path, fname, _ in PRIVATE_READS:
            body = get(f"http://127.0.0.1:{first[1]}/proxy{path}", {"authorization": f"Bearer {tokens[first[0]]}"})
            open(os.path.join(FIX, "private", fname), "wb").write(body)
        rows, figures = [], {}
        for what, path, fname, target in PRIVATE_READS:
            systems = [("nginx", f"http://127.0.0.1:{NGINX_BASE}/private/{fname}")]
            systems += [(name, f"http://127.0.0.1:{port}/proxy{path}") for name, port, _ in hubs]
            for name, url in systems:
                headers = [f"Authorization: Bearer {tokens[name]}"] if name in tokens else []
                wrk(url, ["wrk", "-t2", "-c64", "-d1s"], headers)
            res = alternate(systems, lambda n, u: wrk(u, WRK, [f"Authorization: Bearer {tokens[n]}"] if n in tokens else []))
            base = med([r["rps"] for r in res["nginx"]])
            for name, rs in res.items():
                rps = med([r["rps"] for r in rs])
                bad = sum(r["non2xx"] for r in rs)
                ratio = rps / base
                if name != "nginx":
                    figures[(what, name)] = (ratio, target)
                rows.append((what, name, f"{rps:,.0f} req/s", f"±{spread([r['rps'] for r in rs]):.0f}%",
                             "1×" if name == "nginx" else f"**{ratio:.2f}×** (target ≥ {target}×)", bad))
        text = table(rows, ["read", "system", "median", "spread", "vs nginx", "non-2xx"])
        text += ("\n\nPackages published to local registries, read with a user's API token (`Authorization: Bearer bh_...`); "
                 "nginx serves the same bytes from disk. `" + " ".join(WRK) + "`, keep-alive."
                 + ("" if pg_url else " PostgreSQL is not installed here: its rows are missing."))
        rep.add("9. Private packages", text)
        return figures
    finally:
        for _, _, p in hubs:
            p.stop()
        if pg_stop:
            pg_stop()


ATTACK_RUNS = [
    ("the default `[limits]`", "documents,metadata", ""),
    ("caches capped at 64 MiB each (`document_cache_bytes`, `parsed_cache_bytes`, `rendered_cache_bytes`)",
     "documents,metadata", "document_cache_bytes=67108864;parsed_cache_bytes=67108864;rendered_cache_bytes=67108864"),
    ("unknown tokens with the per-address throttle out of the way (`auth_failures_per_minute` = 1000000), "
     "so that every token is checked (those that can only be a static token with Argon2)", "tokens", "auth_failures_per_minute=1000000"),
    ("unknown tokens with the default throttle", "tokens", ""),
]


def scenario_attacks(rep):
    """bench/attacks.py: peak memory under the hardening review's attacks."""
    parts = ["`bench/attacks.py` on the release build, each attack against a fresh server (its upstream a small "
             "server on 127.0.0.1): RSS before, the peak during (VmHWM), and a second after. Before the hardening, the "
             "review measured 8.4 GB for the 400 packuments, 4.8 GB for the eight readers and 9.4 GB for 640 "
             "random tokens. The defaults allow about 1.1 GiB of caches; what remains after is freed memory the "
             "allocator keeps.\n"]
    for label, only, limits in ATTACK_RUNS:
        out = subprocess.run([sys.executable, os.path.join(HERE, "attacks.py"), "--markdown", "--bin", BIN,
                              "--only", only, "--limits", limits], check=True, text=True, capture_output=True).stdout
        parts.append(f"With {label}:\n\n{out.strip()}\n")
    rep.add("8. Memory under attack", "\n".join(parts))


# --------------------------------------------------------------------------


def machine():
    cores = os.cpu_count()
    mem = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 1024 ** 2
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{cores} cores ({model}), {mem:.1f} GiB memory, Linux {os.uname().release}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller files, for trying the harness")
    ap.add_argument("--only", default=FULL)
    ap.add_argument("--clients", type=int, default=200)
    args = ap.parse_args()
    only = set(args.only.split(","))
    os.makedirs(WORK, exist_ok=True)
    small, version = lay_out_fixtures(args)
    n_npm, n_wheels = lay_out_install_fixtures() if "5" in only else (0, 0)
    procs = []
    rep = Report()
    try:
        procs.append(start_nginx())
        data = os.path.join(WORK, "hub-data")
        shutil.rmtree(data, ignore_errors=True)
        hub, startup = start_hub(data)
        procs.append(hub)
        verdaccio = start_verdaccio()
        procs.append(verdaccio)
        if "1" in only:
            scenario_small(rep, hub, small, version)
        if "10" in only:
            scenario_eviction(rep, hub, small)
        if "11" in only:
            scenario_rules(rep, hub, small)
        if "2" in only:
            scenario_large(rep, hub, args.quick)
        if "3" in only:
            scenario_stampede(rep, hub, args.clients)
        if "4" in only:
            scenario_metadata(rep, hub)
        if "5" in only:
            scenario_install(rep, n_npm, n_wheels)
        if "6" in only:
            scenario_publish(rep, hub, args.quick)
        if "7" in only:
            hub.stop()
            scenario_footprint(rep, startup)
        if "8" in only:
            hub.stop()
            scenario_attacks(rep)
        if "9" in only:
            hub.stop()
            scenario_private(rep)
    finally:
        for p in reversed(procs):
            p.stop()
    version_line = sh([BIN, "--version"]).strip() if os.path.exists(BIN) else "?"
    node_v = sh(["node", "--version"]).strip()
    devpi_bin = os.path.join(HERE, ".venv", "bin", "devpi-server")
    devpi_v = sh([devpi_bin, "--version"]).strip() if os.path.exists(devpi_bin) else "(not installed)"
    header = ("# Benchmarks\n\nWritten by `bench/run` (see the README); every figure below was measured in the same run, "
              "and ratios compare systems measured alternately in that run (absolute numbers drift on shared machines).\n\n"
              f"- Machine: {machine()}\n- When: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
              f"- BatleHub: {version_line} (release build); nginx: {sh(['nginx', '-v']) or subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip()}; "
              f"Verdaccio 6.8.0 (Node {node_v}); devpi-server {devpi_v}; wrk `-t2`, {ROUNDS} alternating rounds, medians.\n"
              f"- Baseline nginx: `worker_processes 2`, `sendfile on`, `access_log off`, `keepalive_requests 100000`.\n"
              + ("- **Quick run** (`--quick`): smaller files; not the targets' sizes.\n" if args.quick else "") + "\n")
    # Only a full run replaces BENCHMARKS.md; partial runs go beside the fixtures.
    out = os.path.join(ROOT, "BENCHMARKS.md") if only == set(FULL.split(",")) and not args.quick else os.path.join(WORK, "BENCHMARKS.partial.md")
    open(out, "w").write(header + "\n".join(rep.sections))
    log(f"\nwrote {out}")


if __name__ == "__main__":
    main()
