#!/usr/bin/env python3
"""Peak memory of BatleHub under the memory attacks of the hardening review,
as numbers: the server's resident set (VmRSS) before, its peak (VmHWM)
during, and after each attack, on a release build.

1. Unknown tokens: 640 concurrent requests, each with a random credential
   (API-token shaped, JWT shaped, or anything), against a server with one
   Argon2-hashed static token (the README's recommendation).
2. Parsed upstream documents: a read-only user asks a proxy for 400
   different packuments of 2.4 MB each (real packuments are that big).
3. npm metadata: a publish with a 100 MB readme, and eight concurrent
   readers of a package published with 4 MB readmes on 50 versions.

Everything is on 127.0.0.1; the upstream is a small Python server made for
this run. Usage: bench/attacks.py [--bin PATH]. Results go to stdout.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import http.client
import http.server
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  (rss_kb, reset_peak, Proc, log)

HUB = 18290
UP = 18291
STATIC = "the-one-static-token-of-this-run"
ADMIN = "admin-static-token-plain"


def packument(name, versions=600):
    """About 2.4 MB: many versions with long descriptions, as big packages have."""
    vs = {}
    for i in range(versions):
        v = f"1.{i}.0"
        vs[v] = {
            "name": name,
            "version": v,
            "description": "x" * 3000,
            "dependencies": {f"dep-{j}": "^1.0.0" for j in range(20)},
            "dist": {
                "tarball": f"http://127.0.0.1:{UP}/{name}/-/{name}-{v}.tgz",
                "shasum": "0" * 40,
                "integrity": "sha512-" + base64.b64encode(b"\0" * 64).decode(),
            },
        }
    return json.dumps({"name": name, "dist-tags": {"latest": "1.0.0"}, "versions": vs}).encode()


TEMPLATE = packument("NAME_PLACEHOLDER")


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        name = self.path.strip("/")
        body = TEMPLATE.replace(b"NAME_PLACEHOLDER", name.encode())
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def start_upstream():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", UP), Upstream)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def hub_config(data, phc):
    return f"""
[server]
host = "127.0.0.1"
port = {HUB}

[database]
url = "sqlite://{data}/catalog.db"

[storage]
type = "filesystem"
path = "{data}/storage"

[log]
level = "warn"

[[auth]]
type = "token"
[[auth.tokens]]
value = "{phc}"
user_id = "alice"
role = "user"
[[auth.tokens]]
value = "{ADMIN}"
user_id = "admin"
role = "admin"

[[registries]]
type = "npm"
name = "npm"
mode = "proxy"
upstreams = ["http://127.0.0.1:{UP}/"]

[[registries]]
type = "npm"
name = "internal"
mode = "local"
"""


def request(method, path, token=None, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", HUB, timeout=600)
    h = dict(headers or {})
    if token:
        h["authorization"] = f"Bearer {token}"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def random_token(i):
    alphabet = string.ascii_letters + string.digits
    rnd = "".join(random.choice(alphabet) for _ in range(40))
    return [f"bh_{rnd}", f"eyJ{rnd[:10]}.eyJ{rnd[10:25]}.{rnd[25:]}", rnd][i % 3]


class Sampler:
    """Peak RSS over an interval: VmHWM after a reset, checked in the end."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        self.before = bench.rss_kb(self.pid)
        bench.reset_peak(self.pid)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *a):
        self.seconds = time.perf_counter() - self.t0
        self.peak = bench.rss_kb(self.pid, "VmHWM")
        time.sleep(1)
        self.after = bench.rss_kb(self.pid)
        self.anon = bench.rss_kb(self.pid, "RssAnon")


def mb(kb):
    return f"{kb / 1024:.0f} MB"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="documents,metadata,tokens", help="which attacks, in this order")
    ap.add_argument("--limits", default="", help="lines for the [limits] section, `;`-separated")
    ap.add_argument("--documents", type=int, default=400, help="how many packuments the documents attack asks for")
    ap.add_argument("--markdown", action="store_true", help="print the rows as a Markdown table")
    ap.add_argument("--bin", default=os.environ.get("BATLEHUB_BENCH_BIN") or os.path.join(ROOT, "target", "release", "batlehub"))
    args = ap.parse_args()
    global DOCUMENTS
    DOCUMENTS = args.documents
    bench.BIN = args.bin
    os.makedirs(bench.WORK, exist_ok=True)
    data = tempfile.mkdtemp(prefix="batlehub-attacks-")
    phc = subprocess.run([args.bin, "hash-token", STATIC], check=True, text=True, capture_output=True).stdout.strip()
    conf = os.path.join(data, "batlehub.toml")
    limits = "\n".join(x.strip() for x in args.limits.split(";") if x.strip())
    open(conf, "w").write(hub_config(data, phc) + (f"\n[limits]\n{limits}\n" if limits else ""))
    up = start_upstream()
    hub = bench.Proc("batlehub-attacks", [args.bin, "serve", "--config", conf])
    for _ in range(600):
        try:
            if request("GET", "/livez")[0] == 200:
                break
        except OSError:
            time.sleep(0.05)
    rows = []
    try:
        assert request("GET", "/api/v1/me", STATIC)[0] == 200
        assert request("GET", "/api/v1/me", ADMIN)[0] == 200
        for attack in args.only.split(","):
            rows.extend(ATTACKS[attack](hub))
    finally:
        hub.stop()
        up.shutdown()
    if args.markdown:
        print("| attack | RSS before | peak | after (anonymous) | seconds | outcome |")
        print("|---|---|---|---|---|---|")
        for name, s, notes in rows:
            print(f"| {name} | {mb(s.before)} | **{mb(s.peak)}** | {mb(s.after)} ({mb(s.anon)}) | {s.seconds:.1f} | {notes} |")
        return
    print(f"\n{'attack':50} {'before':>8} {'peak':>8} {'after':>8} {'(anon)':>8} {'seconds':>8}  notes")
    for name, s, notes in rows:
        print(f"{name:50} {mb(s.before):>8} {mb(s.peak):>8} {mb(s.after):>8} {mb(s.anon):>8} {s.seconds:>8.1f}  {notes}")


DOCUMENTS = 400


def attack_documents(hub):
    """A read-only user asks for 400 different 2.4 MB packuments."""
    with Sampler(hub.pid) as s, concurrent.futures.ThreadPoolExecutor(8) as ex:
        sizes = list(ex.map(lambda i: len(request("GET", f"/proxy/npm/big-{i}", STATIC)[1]), range(DOCUMENTS)))
    return [(f"{DOCUMENTS} packuments of 2.4 MB", s, f"{sum(1 for n in sizes if n > 2_000_000)} served whole")]


def attack_metadata(hub):
    """A 100 MB readme; eight readers of 50 versions with 4 MB readmes."""
    rows = []
    tgz = tiny_tgz()
    with Sampler(hub.pid) as s:
        try:
            status, _ = request("PUT", "/proxy/internal/huge-readme", STATIC,
                                publish_body("huge-readme", "1.0.0", tgz, "r" * (100 * 1024 * 1024)),
                                {"content-type": "application/json"})
            said = f"answered {status}"
        except OSError as e:
            said = f"refused mid-body ({e.__class__.__name__})"
    kept = request("GET", "/proxy/internal/huge-readme", ADMIN)[0]
    rows.append(("publish with a 100 MB readme", s, f"{said}; the package then: {kept}"))
    for i in range(50):
        st, _ = request("PUT", "/proxy/internal/readmes", STATIC,
                        publish_body("readmes", f"1.{i}.0", tgz, "r" * (4 * 1024 * 1024)),
                        {"content-type": "application/json"})
        assert st == 201, st
    with Sampler(hub.pid) as s, concurrent.futures.ThreadPoolExecutor(8) as ex:
        sizes = list(ex.map(lambda i: len(request("GET", "/proxy/internal/readmes", ADMIN)[1]), range(80)))
    rows.append(("8 readers x 80 of 50 versions with 4 MB readmes", s, f"packument {max(sizes)} bytes"))
    return rows


def attack_tokens(hub):
    """640 concurrent requests with random credentials (run it last: it
    leaves this address throttled for tokens not used before)."""
    with Sampler(hub.pid) as s, concurrent.futures.ThreadPoolExecutor(64) as ex:
        statuses = list(ex.map(lambda i: request("GET", "/api/v1/me", random_token(i))[0], range(640)))
    t0 = time.perf_counter()
    legit = request("GET", "/api/v1/me", STATIC)[0]
    legit_s = time.perf_counter() - t0
    counts = {st: statuses.count(st) for st in sorted(set(statuses))}
    return [("640 random tokens", s, f"statuses {counts}; the static token then: {legit} in {legit_s*1000:.0f} ms")]


ATTACKS = {"documents": attack_documents, "metadata": attack_metadata, "tokens": attack_tokens}


def tiny_tgz():
    import gzip
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("package/package.json")
        body = b'{"name":"x","version":"1.0.0"}'
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
    return gzip.compress(buf.getvalue())


def publish_body(name, version, tgz, readme):
    integ = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
    return json.dumps({
        "_id": name, "name": name, "dist-tags": {"latest": version},
        "versions": {version: {"name": name, "version": version, "readme": readme,
                               "dist": {"integrity": integ, "shasum": hashlib.sha1(tgz).hexdigest()}}},
        "_attachments": {f"{name}-{version}.tgz": {"data": base64.b64encode(tgz).decode(), "length": len(tgz)}},
    }).encode()


if __name__ == "__main__":
    main()
