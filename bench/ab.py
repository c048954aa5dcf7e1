#!/usr/bin/env python3
"""Two builds of BatleHub on the hot paths of scenarios 1 and 4, measured
alternately (before, after, before, ...) on the fixtures `bench/run` laid out,
so that a change can be shown not to slow them down.

Usage: bench/ab.py BEFORE_BINARY AFTER_BINARY [ROUNDS]
(after `bench/run --only 1,4` has built the fixtures and the nginx upstream).
"""
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

BINS = {"before": sys.argv[1], "after": sys.argv[2]}
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
urls = {
  "pypi page": f"http://127.0.0.1:{bench.HUB}/proxy/pypi/simple/bigmeta/",
  "cargo index": f"http://127.0.0.1:{bench.HUB}/proxy/cargo/registry/bi/gm/bigmeta",
  "packument": f"http://127.0.0.1:{bench.HUB}/proxy/npm/bigmeta",
  "small tarball": None,
}
res = {(b, u): [] for b in BINS for u in urls}
nginx = bench.start_nginx()
small = [f for f in os.listdir(os.path.join(bench.FIX, "npm")) if f.startswith("express-")][0]
urls["small tarball"] = f"http://127.0.0.1:{bench.HUB}/proxy/npm/express/-/{small}"
try:
    for _ in range(ROUNDS):
        for b, path in BINS.items():
            bench.BIN = path
            data = os.path.join(bench.WORK, "ab-data")
            shutil.rmtree(data, ignore_errors=True)
            hub, _ = bench.start_hub(data)
            try:
                bench.get(f"http://127.0.0.1:{bench.HUB}/proxy/npm/express")
                bench.get(f"http://127.0.0.1:{bench.HUB}/proxy/cargo/registry/config.json")
                for name, u in urls.items():
                    bench.get(u, {"accept": "application/json"} if name == "packument" else None)
                    bench.wrk(u, ["wrk", "-t2", "-c16", "-d1s"])
                    args = ["wrk", "-t2", "-c64" if name == "small tarball" else "-c16", "-d4s", "--latency"]
                    r = bench.wrk(u, args, ["Accept: application/json"] if name == "packument" else ())
                    res[(b, name)].append(r["rps"])
            finally:
                hub.stop()
finally:
    nginx.stop()
for name in urls:
    b = res[("before", name)]; a = res[("after", name)]
    print(f"{name:14s} before {statistics.median(b):9,.0f} {[round(x) for x in b]}  after {statistics.median(a):9,.0f} {[round(x) for x in a]}  after/before {statistics.median(a)/statistics.median(b):.2f}")
