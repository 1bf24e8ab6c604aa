"""Benchmark: `vstream serve` on loopback, and nginx beside it on the same segment files.

Uses the library bench/compose.py builds (the sample media, ingested and indexed). In one run:

* time to first segment (master -> media playlist -> first segment's bytes, one keep-alive
  connection): p50/p95 for a cached personal manifest and for a freshly composed one (a new
  user of the non-semantic demo.yaml each time); targets 50 ms and 300 ms;
* 200 concurrent clients for 20 s with wrk (Debian's), each request a personal master, media
  playlist or segment range of 20 users: requests/s, p99 and errors (target: none);
* segment requests/s of vstream serve and of nginx (docs/deploy.md's configuration) under the
  same wrk load, and their ratio;
* two replicas (a second `vstream serve` on another port, the same library): byte-identical
  manifests for the 20 users, then the mixed load on both at once (100 connections each).

    python bench/serve.py [--seconds 20] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402

from bench.compose import LIB, OUT, build_library  # noqa: E402

WORK = OUT / "serve-work"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port: int, proc: subprocess.Popen) -> None:
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
    raise SystemExit("server did not start")


def start_vstream() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vstream", "serve", "-L", str(LIB), "--recipes", str(ROOT / "recipes"),
                             "--port", str(port)], stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait(port, proc)
    return proc, port


def start_nginx(upstream: int) -> tuple[subprocess.Popen, int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = re.search(r"```nginx\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(), re.S).group(1)
    conf = (conf.replace("/srv/vstream-library", str(LIB)).replace("127.0.0.1:8642", f"127.0.0.1:{upstream}")
            .replace("listen 8080", f"listen 127.0.0.1:{port}").replace("user www-data;", "user root;"))  # fmt: skip
    prefix = WORK / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g",
                             f"daemon off; pid {prefix}/nginx.pid; error_log stderr;"], stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait(port, proc)
    return proc, port


def fetch(conn: http.client.HTTPConnection, path: str, headers: dict | None = None) -> bytes:
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    if response.status not in (200, 206):
        raise SystemExit(f"{path}: HTTP {response.status}: {body[:200]!r}")
    return body


def first_segment(conn: http.client.HTTPConnection, master_path: str) -> float:
    """Seconds from asking for the master to holding the first segment's bytes."""
    started = time.perf_counter()
    master = fetch(conn, master_path).decode()
    child = next(line for line in master.splitlines() if line and not line.startswith("#"))
    video = fetch(conn, master_path.rsplit("/", 1)[0] + "/" + child).decode()
    m = re.search(r"#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)", video)
    length, offset, uri = int(m.group(1)), int(m.group(2)), m.group(3)
    fetch(conn, uri, {"Range": f"bytes={offset}-{offset + length - 1}"})
    return time.perf_counter() - started


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def wrk(port: int, paths: list[tuple[str, str]], seconds: int, connections: int = 200) -> dict:
    """wrk with a Lua script cycling through (path, range) pairs; returns rps, p99 ms, errors."""
    script = WORK / f"wrk-{port}-{len(paths)}.lua"
    entries = ",\n".join(f'{{"{path}", "{rng}"}}' for path, rng in paths)
    script.write_text(f"""
local reqs = {{ {entries} }}
local i = 0
request = function()
  i = i % #reqs + 1
  local r = reqs[i]
  if r[2] ~= "" then return wrk.format("GET", r[1], {{ Range = r[2] }}) end
  return wrk.format("GET", r[1])
end
""")
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in errors.groups()) if errors else 0
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return {"rps": rps, "p99_ms": p99_ms, "errors": socket_errors + non2xx, "raw": out}


def wrk_both(ports: list[int], paths: list[tuple[str, str]], seconds: int) -> dict:
    """The same wrk load on several servers at once, 100 connections each; summed."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(ports)) as pool:
        runs = list(pool.map(lambda port: wrk(port, paths, seconds, connections=100), ports))
    return {"rps": sum(r["rps"] for r in runs), "errors": sum(r["errors"] for r in runs)}


def cdn_share(conn: http.client.HTTPConnection, users: int) -> dict:
    """Of the segment bytes ``users`` personal streams of one recipe fetch, the share a shared cache
    serves from another user's request: everything but each distinct (URL, range)'s first fetch."""
    seen: dict[tuple[str, str], int] = {}
    total = 0
    for i in range(users):
        video = fetch(conn, f"/streams/demo/video.m3u8?user=cdn{i}").decode()
        for m in re.finditer(r"#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)", video):
            key, size = (m.group(3), m.group(2)), int(m.group(1))
            seen.setdefault(key, size)
            total += size
    return {"urls": len(seen), "share": (total - sum(seen.values())) / total if total else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install wrk (make setup does)")
    build_library()
    WORK.mkdir(parents=True, exist_ok=True)
    vstream, vport = start_vstream()
    nginx, nport = start_nginx(vport)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", vport, timeout=60)
        first_segment(conn, "/streams/demo/master.m3u8?user=warm")  # models and tables loaded once
        fresh = [first_segment(conn, f"/streams/demo/master.m3u8?user=fresh{i}") for i in range(100)]
        cached = [first_segment(conn, "/streams/demo/master.m3u8?user=warm") for _ in range(200)]
        print(f"time to first segment, cached manifest: p50 {p(cached, 50) * 1000:.1f} ms, p95 {p(cached, 95) * 1000:.1f} ms (target 50 ms)")
        print(f"time to first segment, fresh compose:   p50 {p(fresh, 50) * 1000:.1f} ms, p95 {p(fresh, 95) * 1000:.1f} ms (target 300 ms)")
        users = [f"u{i}" for i in range(20)]
        for u in users:  # warm the 20 users' manifests
            first_segment(conn, f"/streams/demo/master.m3u8?user={u}")
        video = fetch(conn, "/streams/demo/video.m3u8?user=u0").decode()
        ranges = [(m.group(3), f"bytes={int(m.group(2))}-{int(m.group(2)) + int(m.group(1)) - 1}")
                  for m in re.finditer(r"#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)", video)]  # fmt: skip
        mixed = [(f"/streams/demo/master.m3u8?user={u}", "") for u in users]
        mixed += [(f"/streams/demo/video.m3u8?user={u}", "") for u in users] + ranges
        load = wrk(vport, mixed, args.seconds)
        print(f"200 clients, {args.seconds} s, manifests + segments: {load['rps']:.0f} req/s, p99 {load['p99_ms']:.1f} ms, "
              f"{load['errors']} errors")  # fmt: skip
        # the playlists name rebased fragments (/r/SHIFT/SEQ/media/...); the same ranges raw are /media/...
        raw = [(uri[uri.index("/media/"):], rng) for uri, rng in ranges]
        seg_r = wrk(vport, ranges, 10)
        seg_v = wrk(vport, raw, 10)
        seg_n = wrk(nport, raw, 10)
        # a stream of several videos names whole segments with each fragment's SPS/PPS put in front of it
        whole = []
        for uri, rng in ranges:
            if uri.startswith("/r/"):
                first, last = (int(x) for x in rng[len("bytes="):].split("-"))
                head, tail = uri.split("/media/", 1)
                whole.append((f"{head}/{first}+{last - first + 1}p/media/{tail}", ""))
        seg_p = wrk(vport, whole, 10)
        print(f"segments, 200 clients: vstream serve rebased {seg_r['rps']:.0f} req/s (p99 {seg_r['p99_ms']:.1f} ms), "
              f"whole segments with SPS/PPS {seg_p['rps']:.0f} req/s (p99 {seg_p['p99_ms']:.1f} ms), "
              f"raw {seg_v['rps']:.0f} req/s (p99 {seg_v['p99_ms']:.1f} ms), nginx raw {seg_n['rps']:.0f} req/s "
              f"(p99 {seg_n['p99_ms']:.1f} ms): rebased/raw {seg_r['rps'] / seg_v['rps']:.2f}")  # fmt: skip
        shared = cdn_share(http.client.HTTPConnection("127.0.0.1", vport, timeout=60), 1000)  # (a fresh connection:
        # the first one idled through the wrk runs and the server closed it)
        print(f"1,000 users of demo.yaml: {shared['urls']} distinct segment requests; {shared['share'] * 100:.1f} % "
              f"of the segment bytes they fetch are shared with another user (what a CDN caches once)")  # fmt: skip
        replica, rport = start_vstream()
        try:
            # fresh connections: the first one idled through the wrk runs and the server closed it
            one = http.client.HTTPConnection("127.0.0.1", vport, timeout=60)
            other = http.client.HTTPConnection("127.0.0.1", rport, timeout=60)
            differ = sum(fetch(one, path) != fetch(other, path) for path, _ in mixed if ".m3u8" in path)
            both = wrk_both([vport, rport], mixed, args.seconds)
        finally:
            replica.terminate()
            replica.wait(10)
        print(f"2 replicas: {len(users) * 2 - differ}/{len(users) * 2} manifests byte-identical; 2 x 100 clients, "
              f"{args.seconds} s: {both['rps']:.0f} req/s in all, {both['errors']} errors")  # fmt: skip
    finally:
        vstream.terminate()
        nginx.terminate()
        vstream.wait(10)
        nginx.wait(10)
    day = datetime.date.today()
    lines = [
        f"serve time to first segment: cached manifest p95 {p(cached, 95) * 1000:.1f} ms (p50 {p(cached, 50) * 1000:.1f}), "
        f"fresh compose p95 {p(fresh, 95) * 1000:.1f} ms (p50 {p(fresh, 50) * 1000:.1f}) ({day}; demo.yaml, loopback)",
        f"serve under load (wrk, 200 connections, {args.seconds} s, manifests of 20 users + segment ranges): "
        f"{load['rps']:.0f} req/s, p99 {load['p99_ms']:.1f} ms, {load['errors']} errors ({day})",
        f"serve segments vs nginx (wrk, 200 connections, 10 s, same ranges): vstream rebased {seg_r['rps']:.0f} req/s "
        f"(p99 {seg_r['p99_ms']:.1f} ms), the same as whole segments with SPS/PPS {seg_p['rps']:.0f} req/s "
        f"(p99 {seg_p['p99_ms']:.1f} ms), vstream raw {seg_v['rps']:.0f} req/s (p99 {seg_v['p99_ms']:.1f} ms), "
        f"nginx raw {seg_n['rps']:.0f} req/s; rebased/raw {seg_r['rps'] / seg_v['rps']:.2f}, "
        f"nginx/vstream raw {seg_n['rps'] / seg_v['rps']:.1f}x ({day})",
        f"serve, 1,000 users of demo.yaml: {shared['share'] * 100:.1f} % of their segment bytes are requests another "
        f"user makes too ({shared['urls']} distinct (URL, range) pairs: rebased URLs carry no user) ({day})",
        f"serve, 2 replicas on one library: {len(users) * 2 - differ}/{len(users) * 2} personal manifests byte-identical "
        f"across them; mixed load on both at once (wrk, 2 x 100 connections, {args.seconds} s): {both['rps']:.0f} req/s "
        f"in all, {both['errors']} errors ({day}; both replicas share this machine's 2 cores)",
    ]
    report(lines, args.record)


if __name__ == "__main__":
    main()
