"""Console benchmark: the server time of every console page on the demo retailer.

Prints figures, never asserts them; not part of the test suite. See docs/performance.md.

    .venv/bin/python bench/console.py [--customers 1000000] [--requests 40] [--db URL]

1. The demo retailer (`omnicx demo --customers N`) in a SQLite file (cached in /tmp by size
   and seed) or in the PostgreSQL database `--db`, with its lake, fully processed.
2. A console user (admin) and an API token; `omnicx serve` as a real process on them.
3. One more customer with `--timeline` events (10,000 by default) sent through the
   collection API (`POST /v1/batch`), waited for until the profile counts them all.
4. Signed in with httpx through the login form, each console page is requested once to warm
   up and then `--requests` times in a row: p50 / p95 / max of the server's own time (the
   console's `Server-Timing: app;dur=` header) and of the time the client waited.
   Pages: the page a reader opens; blocks: what a page loads after itself with htmx (the
   overview's lake figures, the journeys reports). Lake blocks and reports are kept by the
   server for 30 s, so their warm figures are the kept answer; their first computation, on a
   server that has just started, is printed as `first` (the warm-up request of each page).

A CPU baseline (bench/intake.py's fixed Python loop, M iterations/s) is taken before and
after; every time is also printed multiplied by it (`ms·cpu`: comparable across machines).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from html import unescape
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from intake import cpu_baseline
from omnicx.access import service as tokens
from omnicx.access import users
from omnicx.collect.sources import list_all
from omnicx.store.engine import make_engine
from omnicx.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "bench-admin@example.com"
PASSWORD = "bench-console-password"  # a benchmark's throwaway account
TIMELINE_USER = "bench-timeline-customer"
TIMELINE_EMAIL = "bench.timeline@example.com"
CHANNELS = ("web", "ios", "email", "store_pos", "support")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_DURATION = re.compile(r"app;dur=([0-9.]+)")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def demo_database(customers: int, seed: int, url: str | None) -> tuple[str, Path]:
    """The URL of a database holding the processed demo, and its lake (built once per size
    for SQLite)."""
    base = Path(f"/tmp/omnicx-bench-console-{customers}-{seed}")  # noqa: S108
    lake = Path(f"{base}-lake")
    if url is None:
        path = Path(f"{base}.db")
        url = f"sqlite:///{path}"
        if path.exists() and lake.exists():
            return url, lake
    say(f"loading the demo retailer with {customers:,} customers into {url} ...")
    subprocess.run(
        [sys.executable, "-m", "omnicx", "demo", "--customers", str(customers), "--seed",
         str(seed), "--db", url, "--output", f"{base}-demo-output"],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        env={**os.environ, "OMNICX_LAKE_DIR": str(lake)},
    )  # fmt: skip
    return url, lake


def prepare_access(url: str) -> str:
    """The bench's console user (made once) and a new admin API token."""
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        if users.find_user(connection, EMAIL) is None:
            users.add_user(connection, EMAIL, role="admin", password=PASSWORD, actor="bench")
        _, token = tokens.create_token(connection, role="admin", name="bench", actor="bench")
    engine.dispose()
    return token


class Server:
    """`omnicx serve` as a real process."""

    def __init__(self, url: str, lake: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(f"/tmp/omnicx-bench-console-serve-{port}.log")  # noqa: S108
        env = {**os.environ, "OMNICX_LAKE_DIR": str(lake)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "omnicx", "serve", "--db", url, "--port", str(port)],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"omnicx serve did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def source_keys(url: str) -> dict[str, str]:
    """A new source per channel of CHANNELS (named after this run): channel -> write key."""
    run = time.strftime("%Y%m%d%H%M%S")
    keys = {}
    for channel in CHANNELS:
        done = subprocess.run(
            [sys.executable, "-m", "omnicx", "sources", "add", f"bench-{channel}-{run}",
             "--channel", channel, "--db", url],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        keys[channel] = done.stdout.strip().splitlines()[-1]
    return keys


def send_timeline(server: Server, keys: dict[str, str], events: int, api_token: str) -> str:
    """Sends `events` events of one customer over the channels (a source each); returns
    their profile id once the profile counts them all."""
    bearer = {"Authorization": f"Bearer {api_token}"}
    lookup = f"{server.url}/api/profiles/lookup"
    query = {"type": "user_id", "value": TIMELINE_USER}
    names = ("Product Viewed", "Added to Cart", "Email Opened", "Ticket Replied")
    with httpx.Client(timeout=60) as client:
        found = client.get(lookup, params=query, headers=bearer)
        have = found.json()["computed"]["events"] if found.status_code == 200 else 0
        start = time.time() - 86400 * 60
        batches: dict[str, list[dict[str, Any]]] = {channel: [] for channel in CHANNELS}
        for n in range(have, events):
            channel = CHANNELS[n % len(CHANNELS)]
            moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + n * 500))
            message: dict[str, Any] = {
                "type": "track",
                "event": names[n % len(names)],
                "userId": TIMELINE_USER,
                "messageId": f"bench-timeline-{n}",
                "timestamp": f"{moment}Z",
                "properties": {"sku": f"SKU-{n % 97}", "position": n},
            }
            if n == 0:
                message = {**message, "type": "identify", "traits": {"email": TIMELINE_EMAIL}}
                del message["event"], message["properties"]
            batches[channel].append(message)
            if len(batches[channel]) == 200 or n == events - 1:
                for sent_channel, batch in batches.items():
                    if batch:
                        answer = client.post(
                            f"{server.url}/v1/batch",
                            json={"batch": batch},
                            auth=(keys[sent_channel], ""),
                        )
                        answer.raise_for_status()
                        batch.clear()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            found = client.get(lookup, params=query, headers=bearer)
            if found.status_code == 200 and found.json()["computed"]["events"] >= events:
                return str(found.json()["id"])
            time.sleep(1)
    raise SystemExit(f"the customer's {events} events were not all processed in 10 minutes")


def sign_in(client: httpx.Client) -> None:
    """Through the login form, as a browser does."""
    form = client.get("/console/login")
    token = _CSRF.search(form.text)
    assert token, form.text[:500]
    answer = client.post(
        "/console/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text[:500]


def time_page(client: httpx.Client, path: str, requests: int) -> dict[str, Any]:
    """One warm-up request, then `requests`: server and client times in milliseconds."""
    server: list[float] = []
    waited: list[float] = []
    statuses: set[int] = set()
    first: float | None = None
    for n in range(requests + 1):
        started = time.perf_counter()
        fragment = "/overview/" in path or "/result" in path or path.endswith(("/table", "/events"))
        answer = client.get(path, headers={"HX-Request": "true"} if fragment else {})
        elapsed = (time.perf_counter() - started) * 1000
        found = _DURATION.search(answer.headers.get("server-timing", ""))
        took = float(found.group(1)) if found else float("nan")
        statuses.add(answer.status_code)
        if n == 0:
            first = took
            continue
        server.append(took)
        waited.append(elapsed)
    return {"status": sorted(statuses), "first_ms": first, **summary(server, "server"),
            **summary(waited, "client")}  # fmt: skip


def summary(values: list[float], name: str) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[max(0, round(len(ordered) * 0.95) - 1)]
    return {
        f"{name}_p50_ms": round(statistics.median(ordered), 1),
        f"{name}_p95_ms": round(p95, 1),
        f"{name}_max_ms": round(ordered[-1], 1),
    }


SEGMENT_KEY = "bench-store-buyers"
JOURNEY_TABS = ("funnel", "paths", "retention", "stages", "channels", "attribution", "value")
_REPORT = re.compile(r'hx-get="(/console/journeys/[a-z]+/result\?[^"]*)"')


def bench_segment(server: Server, api_token: str) -> int:
    """A segment to open (made through the API once; live before timing)."""
    bearer = {"Authorization": f"Bearer {api_token}"}
    with httpx.Client(base_url=server.url, headers=bearer, timeout=120) as client:
        found = client.get(f"/api/segments/{SEGMENT_KEY}")
        if found.status_code == 404:
            found = client.post(
                "/api/segments",
                json={"key": SEGMENT_KEY, "name": "Store buyers (bench)",
                      "definition": {"event": "Order Completed", "channel": "store_pos",
                                     "within": {"last_days": 90}}},
            )  # fmt: skip
        found.raise_for_status()
        deadline = time.monotonic() + 1800
        while not found.json().get("ready") and time.monotonic() < deadline:
            time.sleep(2)
            found = client.get(f"/api/segments/{SEGMENT_KEY}")
        return int(found.json()["id"])


def first_source(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = list_all(connection)
    engine.dispose()
    return next(s.id for s in found if s.name == "web")


def report_urls(client: httpx.Client) -> list[tuple[str, str]]:
    """Each journeys tab's report, with the defaults its page asks for (htmx, after the page)."""
    found: list[tuple[str, str]] = []
    for tab in JOURNEY_TABS:
        page = client.get(f"/console/journeys/{tab}")
        match = _REPORT.search(page.text)
        if match:
            found.append(("block (lake)", unescape(match.group(1))))
    return found


def pages(profile_id: str, source_id: int, segment_id: int) -> list[tuple[str, str]]:
    """(kind, path) of what is timed."""
    return [
        ("page", "/console/account"),
        ("page", "/console/overview"),
        ("block", "/console/overview/totals"),
        ("block (lake)", "/console/overview/customers"),
        ("block (lake)", "/console/overview/activity?days=30"),
        ("block (lake)", "/console/overview/activity?days=90"),
        ("block (lake)", "/console/overview/churn"),
        ("page", "/console/customers"),
        ("page", f"/console/customers?q={TIMELINE_EMAIL}&by=email"),
        ("page", f"/console/customers/{profile_id}"),
        ("page", f"/console/customers/{profile_id}/timeline"),
        *(("page", f"/console/journeys/{tab}") for tab in JOURNEY_TABS),
        ("page", "/console/audiences"),
        ("block", "/console/audiences/table"),
        ("page", f"/console/audiences/{segment_id}"),
        ("page", "/console/audiences/new"),
        ("page", f"/console/audiences/{segment_id}/edit"),
        ("page", "/console/audiences/scores"),
        ("page", "/console/audiences/personas"),
        ("page", "/console/sources"),
        ("page", f"/console/sources/{source_id}"),
        ("page", f"/console/sources/{source_id}/debugger"),
        ("block", f"/console/sources/{source_id}/debugger/events"),
        ("page", f"/console/sources/{source_id}/rejected"),
        ("page", f"/console/sources/{source_id}/snippets"),
        ("page", "/console/sources/debugger"),
        ("page", "/console/admin"),
        ("page", "/console/admin/tokens"),
        ("page", "/console/admin/audit"),
        ("page", "/console/admin/audit?action=users"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--timeline", type=int, default=10_000, help="events of one customer")
    parser.add_argument("--db", help="a PostgreSQL URL (default: a cached SQLite file)")
    parser.add_argument("--port", type=int, default=8471)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    probe_before = cpu_baseline()
    say(f"CPU baseline: {probe_before} M loop iterations/s")
    url, lake = demo_database(args.customers, args.seed, args.db)
    api_token = prepare_access(url)
    keys = source_keys(url)
    server = Server(url, lake, args.port)
    try:
        say(f"sending {args.timeline:,} events of one customer through the collection API ...")
        profile_id = send_timeline(server, keys, args.timeline, api_token)
        say("defining a segment and waiting until it is live ...")
        segment_id = bench_segment(server, api_token)
        source_id = first_source(url)
        # The lake is written by the processing stage a little after the profiles.
        time.sleep(3)
        figures: dict[str, Any] = {}
        with httpx.Client(base_url=server.url, timeout=120) as anonymous:
            say("timing /console/login (signed out) ...")
            figures["/console/login"] = {
                "kind": "page",
                **time_page(anonymous, "/console/login", args.requests),
            }
        with httpx.Client(base_url=server.url, timeout=120) as client:
            sign_in(client)
            for kind, path in [*pages(profile_id, source_id, segment_id), *report_urls(client)]:
                say(f"timing {path} ...")
                figures[path] = {"kind": kind, **time_page(client, path, args.requests)}
    finally:
        server.stop()
    probe_after = cpu_baseline()
    cpu = (probe_before + probe_after) / 2
    for timed in figures.values():
        timed["server_p95_ms_cpu"] = round(timed["server_p95_ms"] * cpu, 1)
    report = {
        "database": url.split("@")[-1],
        "customers": args.customers,
        "timeline_events": args.timeline,
        "requests_per_page": args.requests,
        "cpu_baseline": {"before": probe_before, "after": probe_after},
        "pages": figures,
    }
    print(json.dumps(report, indent=2))
    say(f"\n{'what':<14} {'path':<58} {'first':>8} {'p50':>8} {'p95':>8} {'max':>8}  (server ms)")
    for path, timed in figures.items():
        say(
            f"{timed['kind']:<14} {path[:58]:<58} {timed['first_ms']:>8.1f} "
            f"{timed['server_p50_ms']:>8} {timed['server_p95_ms']:>8} {timed['server_max_ms']:>8}"
            f"  {timed['status']}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
