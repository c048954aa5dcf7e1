"""Solve and install conda packages with py-rattler, as a conda client would.

Usage: install.py CHANNEL_URL PREFIX CACHE_DIR SPEC...

Credentials come from ~/.netrc (the user guide's), read by rattler's
authentication middleware. Prints one JSON line: the solved records
(name, version, build, url) and the prefix.
"""

import asyncio
import json
import os
import sys

import rattler


async def main() -> None:
    channel, prefix, cache, *specs = sys.argv[1:]
    client = rattler.Client.authenticated_client()
    gateway = rattler.Gateway(cache_dir=cache, client=client)
    records = await rattler.solve(
        sources=[channel],
        specs=specs,
        gateway=gateway,
        platforms=["linux-64", "noarch"],
        virtual_packages=[],
    )
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, client=client, show_progress=False)
    out = [
        {"name": r.name.normalized, "version": str(r.version), "build": str(r.build), "url": str(r.url)}
        for r in records
    ]
    print(json.dumps({"records": out, "prefix": prefix}))


asyncio.run(main())
# Everything is done and printed: leave without the interpreter's shutdown,
# where py-rattler 0.28's background threads sometimes abort the process
# after a successful run (a non-zero status with nothing on stderr).
sys.stdout.flush()
os._exit(0)
