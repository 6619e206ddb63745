"""Load test on loopback: N concurrent sessions x M turns against ``finassist serve``.

Each client holds one session and plays a scripted conversation, pausing a random think time
(0 to 2 x ``--think`` seconds) before each turn as a person reading the answer would. Prints
throughput, latency percentiles (p50/p95/p99 and p95/p50) and errors, then checks that every
acknowledged turn is stored with the text the client received. The baseline, in the same run:
the very same conversations (same questions, same order, one session each) asked in this
process through the assistant the server builds (``build_assistant``, no HTTP), one turn after
another, after the same warm-up the server's workers do. What the server adds is the difference;
the aim (issue 15) is a server p95 of at most 2 x its p50.

    python bench/load.py                        # 50 sessions x 5 turns, 2 workers
    python bench/load.py --clients 50 --turns 20 --workers 1 --think 1
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from finassist.config import Settings
from finassist.runtime import build_assistant
from finassist.serve.keys import ApiKeyStore
from finassist.serve.warmup import warm_up
from finassist.store import Database
from finassist.store.seed import seed_database

CONVERSATION = (
    "华东汽车近12个月的现金流怎么样？",
    "他们还有哪些应收发票没付？",
    "他们前五大客户占比多少",
    "远航汽配的风险",
    "给他们推荐一个融资产品",
    "他们的贷后情况",
    "恒泰精密有没有资金需求？",
    "给他们推荐一个融资产品",
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINASSIST_")}
    env.update(FINASSIST_HOME=str(home), FINASSIST_SERVE_RATE_PER_MINUTE="0")
    cmd = [
        sys.executable,
        "-m",
        "finassist.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def question(client: int, turn: int) -> str:
    """What client ``client`` asks at turn ``turn`` (the server run and the baseline alike)."""
    return CONVERSATION[(client + turn) % len(CONVERSATION)]


def run_clients(url: str, key: str, clients: int, turns: int, think: float) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[str] = []
    acked: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients)
    # One pooled HTTP client for all: fifty clients would cost the load generator (on the same
    # CPUs as the server) seconds of TLS-context setup.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    http = httpx.Client(timeout=60, limits=limits)

    def client(n: int) -> None:
        rng = random.Random(n)
        session = None
        start_gate.wait()
        for t in range(turns):
            time.sleep(rng.uniform(0, 2 * think))
            headers = {"Authorization": f"Bearer {key}"} | (
                {"X-Session-Id": session} if session else {}
            )
            body = {"model": "finassist", "messages": [{"role": "user", "content": question(n, t)}]}
            began = time.perf_counter()
            try:
                response = http.post(f"{url}/v1/chat/completions", headers=headers, json=body)
            except httpx.HTTPError as exc:
                with lock:
                    errors.append(type(exc).__name__)
                continue
            elapsed = time.perf_counter() - began
            with lock:
                if response.status_code != 200:
                    errors.append(str(response.status_code))
                    continue
                payload = response.json()
                session = payload["finassist"]["session_id"]
                latencies.append(elapsed)
                acked.append(
                    (
                        session,
                        payload["finassist"]["turn_seq"],
                        payload["choices"][0]["message"]["content"],
                    )
                )

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    http.close()
    return {
        "latencies": latencies,
        "errors": errors,
        "acked": acked,
        "seconds": time.perf_counter() - began,
    }


def lost_turns(db_path: Path, acked: list[tuple[str, int, str]]) -> int:
    conn = sqlite3.connect(db_path)
    try:
        stored = {
            (s, q): r for s, q, r in conn.execute("SELECT session_id, seq, reply_text FROM turns")
        }
    finally:
        conn.close()
    return sum(1 for s, q, r in acked if stored.get((s, q)) != r)


def baseline(home: Path, db: Database, clients: int, turns: int) -> list[float]:
    """The same conversations in this process, one turn after another (warmed up first)."""
    assistant = build_assistant(Settings(home=home), db=db)
    warm_up(assistant)
    out = []
    for n in range(clients):
        session = None
        for t in range(turns):
            began = time.perf_counter()
            reply = assistant.ask(question(n, t), manager_id="M001", session_id=session)
            out.append(time.perf_counter() - began)
            session = reply.session_id
    return out


def row(name: str, values: list[float], seconds: float | None = None) -> str:
    ms = [v * 1000 for v in values]
    rate = f"{len(values) / seconds:8.1f}" if seconds else "       -"
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    return (
        f"{name:<28}{len(values):>7}{rate}  {p50:7.1f}"
        f"{p95:8.1f}{percentile(ms, 99):8.1f}{p95 / p50:9.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between turns, s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--home", type=Path, help="an existing FINASSIST_HOME (default: seed a temp one)"
    )
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="finassist-load-"))
    db_path = home / "finassist.db"
    db = Database(f"sqlite:///{db_path}")
    if not db_path.exists():
        print(f"seeding {db_path} ...", flush=True)
        db.migrate()
        seed_database(db, seed=42, scale=1)
    key = ApiKeyStore(db).create("M001", label="load test").key

    load_before = os.getloadavg()[0]
    port = free_port()
    server = start_server(home, port, args.workers)
    try:
        result = run_clients(f"http://127.0.0.1:{port}", key, args.clients, args.turns, args.think)
    finally:
        server.terminate()
        server.wait(timeout=30)
    base = baseline(home, db, args.clients, args.turns)

    latencies, errors, acked = result["latencies"], result["errors"], result["acked"]
    print(
        f"\n{args.clients} clients x {args.turns} turns, think ~{args.think}s, {args.workers} worker(s), "
        f"loopback, {os.cpu_count()} CPUs, load average {load_before:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(
        f"{'':<28}{'turns':>7}{'turns/s':>8}  {'p50 ms':>7}{'p95 ms':>8}{'p99 ms':>8}{'p95/p50':>9}"
    )
    print(row("server (HTTP, concurrent)", latencies, result["seconds"]))  # type: ignore[arg-type]
    print(row("baseline (in-process ask)", base, sum(base)))
    if latencies:
        ratio = percentile(latencies, 95) / percentile(latencies, 50)  # type: ignore[arg-type]
        verdict = "met" if ratio <= 2 else "NOT met"
        print(f"aim (issue 15) server p95 <= 2 x p50: {verdict} ({ratio:.2f})")
    print(f"errors: {len(errors)} {sorted(set(errors)) if errors else ''}")
    lost = lost_turns(db_path, acked)  # type: ignore[arg-type]
    print(f"acknowledged turns: {len(acked)}; lost (not stored as acknowledged): {lost}")
    db.dispose()


if __name__ == "__main__":
    main()
