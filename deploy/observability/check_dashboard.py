#!/usr/bin/env python3
"""Loads the testnet dashboard in headless Chromium and checks the rendered page.

  python3 deploy/observability/check_dashboard.py [--url http://127.0.0.1:8080/]
      [--nodes 3] [--timeout 90] [--screenshot docs/dashboard.png]

Each attempt asks Chromium for the DOM after the page's scripts ran (`--dump-dom`) and reads the
node rows (`tr[data-node]`, with `data-reachable`, `data-height`, `data-head`). It passes when
the page got the runner's server-sent events (its live mark is on), --nodes rows are rendered,
every node answers, and all show the same head hash; it retries until
--timeout (a live network converges between two blocks) and fails with what it last saw. With
--screenshot it then saves a PNG of the page (the README's picture is made this way).
Standard library only; Chromium from Debian's `chromium` package (or --chromium PATH).
"""

import argparse
import html.parser
import shutil
import subprocess
import sys
import time


class Rows(html.parser.HTMLParser):
    """Collects the attributes of every <tr data-node=…> and the run's verdict."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self.verdict = None
        self.rendered = False
        self.live = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-node" in a:
            self.rows.append(a)
        if tag == "span" and a.get("id") == "verdict":
            self.verdict = a.get("data-verdict")
        if tag == "body" and "data-rendered" in a:
            self.rendered = True
        if tag == "span" and a.get("id") == "live":
            self.live = "on" in (a.get("class") or "").split()


def chromium_binary(given):
    for name in [given, "chromium", "chromium-browser", "google-chrome"]:
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("no Chromium found: apt-get install chromium (or pass --chromium PATH)")


def chromium(binary, *args, timeout=60):
    base = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--hide-scrollbars", "--no-first-run", "--user-data-dir=/tmp/luxtensor-chromium"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080/")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--timeout", type=float, default=90)
    p.add_argument("--screenshot")
    p.add_argument("--chromium")
    args = p.parse_args()
    binary = chromium_binary(args.chromium)
    deadline = time.monotonic() + args.timeout
    attempt, seen = 0, "nothing yet"
    while True:
        attempt += 1
        # The page renders from /api/state at once, then from server-sent events: an endless
        # stream, so Chromium's virtual-time budget would wait for ever; --timeout stops loading
        # after 4 s and dumps the DOM as the scripts left it.
        try:
            out = chromium(binary, "--timeout=4000", "--dump-dom", args.url)
            parsed = Rows()
            parsed.feed(out.stdout)
            rows = parsed.rows
            heads = {r.get("data-head") for r in rows}
            reachable = [r for r in rows if r.get("data-reachable") == "true"]
            seen = ", ".join(f"{r['data-node']}={r.get('data-height', '?')}/{(r.get('data-head') or 'down')[:10]}" for r in rows) or \
                f"no node rows (chromium exit {out.returncode}: {out.stderr.strip()[-200:]})"
            if not parsed.live:
                seen += " (no server-sent event received yet)"
            if parsed.rendered and parsed.live and len(rows) == args.nodes and len(reachable) == args.nodes and len(heads) == 1:
                print(f"dashboard: {args.nodes} nodes show the same head {heads.pop()} at height "
                      f"{rows[0]['data-height']} (attempt {attempt}; verdict {parsed.verdict or 'running'})")
                break
        except subprocess.TimeoutExpired:
            seen = "chromium timed out"
        if time.monotonic() >= deadline:
            sys.exit(f"dashboard check failed after {attempt} attempts: {seen}")
        print(f"attempt {attempt}: {seen}; retrying")
        time.sleep(1)
    if args.screenshot:
        out = chromium(binary, "--window-size=1400,1100", "--timeout=5000",
                       f"--screenshot={args.screenshot}", args.url)
        if out.returncode != 0:
            sys.exit(f"screenshot failed: {out.stderr.strip()[-300:]}")
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
