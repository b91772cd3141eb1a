#!/usr/bin/env python3
"""Checks the testnet through Prometheus' HTTP API (PromQL), as CI does after the demo.

  python3 deploy/observability/check_prometheus.py [--prometheus http://127.0.0.1:9090]
      [--nodes node-a,node-b,node-c] [--followers node-b,node-c] [--timeout 60]

Passes when Prometheus scrapes every node (`up == 1`), every node's head height
(`luxtensor_chain_height_blocks{status="head"}`) is the same, and
`luxtensor_sync_imported_blocks_total` is above 0 on every follower; polls until --timeout
(scrapes happen every second) and fails with the last answers. Standard library only.
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request


def query(base, promql):
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{promql}: {body}")
    return {s["metric"].get("node", "?"): float(s["value"][1]) for s in body["data"]["result"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prometheus", default="http://127.0.0.1:9090")
    p.add_argument("--nodes", default="node-a,node-b,node-c")
    p.add_argument("--followers", default="node-b,node-c")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    nodes = args.nodes.split(",")
    followers = args.followers.split(",")
    deadline = time.monotonic() + args.timeout
    last = "no answer yet"
    while True:
        try:
            up = query(args.prometheus, 'up{job="luxtensor"}')
            heads = query(args.prometheus, 'luxtensor_chain_height_blocks{status="head"}')
            spread = query(args.prometheus,
                           'max(luxtensor_chain_height_blocks{status="head"}) - min(luxtensor_chain_height_blocks{status="head"})')
            imported = query(args.prometheus,
                             f'luxtensor_sync_imported_blocks_total{{node=~"{"|".join(followers)}"}} > 0')
            last = f"up {up}, head heights {heads}, spread {spread}, followers with imports {imported}"
            if (all(up.get(n) == 1 for n in nodes) and sorted(heads) == sorted(nodes)
                    and len(set(heads.values())) == 1 and spread.get("?") == 0
                    and sorted(imported) == sorted(followers)):
                print(f"PromQL: {len(nodes)} nodes scraped, every head at height {int(next(iter(heads.values())))}; "
                      f"sync imported blocks on {', '.join(f'{n}={int(v)}' for n, v in sorted(imported.items()))}")
                return
        except (OSError, RuntimeError, ValueError) as e:
            last = f"query failed: {e}"
        if time.monotonic() >= deadline:
            sys.exit(f"PromQL check failed: {last}")
        time.sleep(1)


if __name__ == "__main__":
    main()
