"""Benchmark: searching a long live transcript while the event goes on.

A live event of ``--hours`` (3) with a sentence every 5 s (2,160 lines for three hours; texts
from the templates of bench/search.py, the words a commentary repeats) is written as
``index --follow`` writes it (event.json, speech.jsonl) into a library with no index. Then, in
one process, with the real text embedder:

* the first search, embedding every line (the baseline), and the first search of a new process
  that reads the vectors ``index --follow`` stored as it kept the lines (speech.vectors),
* warm hybrid and keyword searches (p50/p95 over ``--queries``),
* the words look-up (search.Postings) against the baseline it replaced, a scan of every line
  with :func:`vstream.search.coverage`, over the same queries (the ratio),
* a search after 12 more lines arrived (only those are embedded).

    python bench/live_search.py [--hours 3] [--queries 200] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402
from bench.search import TEMPLATES, TOPICS  # noqa: E402

EVERY = 5.0  # seconds between sentences


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def write_event(lib: Path, lines: int, rnd: random.Random) -> Path:
    """An event of ``lines`` sentences as the recorder and the follower leave it (2 s fragments)."""
    folder = lib / "live" / "match"
    folder.mkdir(parents=True)
    seconds = lines * EVERY
    fragments = [[2.0, 400_000, 1000 + 400_000 * k] for k in range(int(seconds / 2))]
    event = {"id": "match", "source": "udp://127.0.0.1:9", "status": "recording", "started_at": "2026-12-07T18:00:00.000Z",
             "target": 6, "takes": [{"n": 1, "started_at": "2026-12-07T18:00:00.000Z", "init": [1000, 0],
                                     "fragments": fragments}], "pid": None, "video": None, "warnings": []}  # fmt: skip
    (folder / "event.json").write_text(json.dumps(event))
    with open(folder / "speech.jsonl", "w") as fh:
        for i in range(lines):
            text = rnd.choice(TEMPLATES).format(t=rnd.choice(TOPICS)).capitalize() + "."
            at = round(i * EVERY + 0.5, 3)
            fh.write(json.dumps({"take": 1, "start": at, "end": at + 3.5, "at": at, "to": at + 3.5, "wall": None,
                                 "text": text, "language": "en"}) + "\n")  # fmt: skip
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    from vstream.library import Library
    from vstream.live_speech import LineEmbedder
    from vstream.search import SearchOptions, Searcher, content_words, coverage, live_keyword_hits

    rnd = random.Random(0)
    n = int(args.hours * 3600 / EVERY)
    lib_dir = OUT / "live-search-lib"
    shutil.rmtree(lib_dir, ignore_errors=True)
    lib = Library.open(lib_dir, create=True)
    folder = write_event(lib_dir, n, rnd)
    queries = [rnd.choice(["", "the ", "live "]) + rnd.choice(TOPICS) + rnd.choice(["", " today", " highlights"])
               for _ in range(args.queries)]  # fmt: skip
    searcher = Searcher(lib, cache_results=False)
    searcher.embedder()  # (the model's load is not the search's)
    started = time.perf_counter()
    searcher.search(queries[0], SearchOptions(live=True))
    first = time.perf_counter() - started
    LineEmbedder(lib, "match", searcher.embedder())  # what index --follow stores as it keeps each line
    fresh = Searcher(lib, cache_results=False)  # a new process: `vstream search` from the shell
    fresh.embedder()
    started = time.perf_counter()
    fresh.search(queries[0], SearchOptions(live=True))
    stored = time.perf_counter() - started
    timings: dict[str, list[float]] = {}
    for mode in ("hybrid", "keyword"):
        timings[mode] = []
        for q in queries:
            started = time.perf_counter()
            found = searcher.search(q, SearchOptions(mode=mode, live=True)).moments
            timings[mode].append((time.perf_counter() - started) * 1000)
            assert found and found[0].live, q
    transcript = searcher.live_transcript("match")
    lookup, scan = [], []
    for q in queries:
        terms = content_words(q)
        started = time.perf_counter()
        hits = live_keyword_hits([transcript], terms, None, 30)
        lookup.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        scanned = sorted(((-f, line.at) for line in transcript.lines if (f := coverage(terms, line.text)) >= 0.05))[:30]
        scan.append((time.perf_counter() - started) * 1000)
        assert [(-h.score, h.start) for h in hits] == scanned, q  # the same hits, in the same order
    with open(folder / "speech.jsonl", "a") as fh:  # the event goes on: 12 more sentences
        for i in range(n, n + 12):
            at = round(i * EVERY + 0.5, 3)
            fh.write(json.dumps({"take": 1, "start": at, "end": at + 3.5, "at": at, "to": at + 3.5, "wall": None,
                                 "text": f"Live coverage of the {rnd.choice(TOPICS)}.", "language": "en"}) + "\n")  # fmt: skip
    started = time.perf_counter()
    searcher.search(queries[1], SearchOptions(live=True))
    grown = (time.perf_counter() - started) * 1000
    day = datetime.date.today()
    where = f"{n:,} lines ({args.hours:g} h, one every {EVERY:g} s), {args.queries} queries, {day}"
    print(f"first search: {first:.2f} s embedding every line, {stored:.2f} s reading the follower's vectors "
          f"({first / max(stored, 1e-9):.0f}x)")
    for mode, t in timings.items():
        print(f"warm {mode:<8} p50 {p(t, 50):6.1f} ms   p95 {p(t, 95):6.1f} ms")
    ratio = p(scan, 50) / max(p(lookup, 50), 1e-9)
    print(f"words: look-up p50 {p(lookup, 50):.2f} ms vs scan p50 {p(scan, 50):.2f} ms ({ratio:.1f}x)")
    print(f"after 12 more lines: {grown:.1f} ms")
    report([f"live transcript search: first search {stored:.2f} s with the follower's stored vectors ({first:.2f} s "
            f"embedding every line), warm hybrid p95 "
            f"{p(timings['hybrid'], 95):.1f} ms p50 {p(timings['hybrid'], 50):.1f} ms, keyword p95 "
            f"{p(timings['keyword'], 95):.1f} ms; words look-up {ratio:.1f}x faster than a scan "
            f"(p50 {p(lookup, 50):.2f} vs {p(scan, 50):.2f} ms); {grown:.0f} ms after 12 more lines ({where})"], args.record)
    shutil.rmtree(lib_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
