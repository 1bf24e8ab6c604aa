"""Benchmark: search latency at scale, recall of the vector index, and cold CLI start-up.

Builds once (cached in bench/out/search-lib) a library with 200 videos, 100,000 scene
rows and 100,000 transcript chunks. Texts come from templates over 60 topics; vectors
are real MiniLM embeddings of those texts plus a little noise (so they cluster like real
data, unlike uniform random vectors). Indexes are built by vstream's own Store code
(FTS, and IVF_HNSW_SQ vector indexes above its row threshold).

Prints, in one run: warm in-process p50/p95 for hybrid (query embedding included),
semantic and keyword search; the CLIP-backend figure (a ViT-B-32 text tower with random
weights: the cost of the real architecture, not its quality) over 100,000 CLIP rows;
recall@10 of the indexed vector search against exact search; cold `vstream search`
wall times; and the import profile of the keyword path.

    python bench/search.py [--queries 200] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LIB = OUT / "search-lib"
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402

N_VIDEOS = 200
PER_VIDEO = 500  # scenes and transcript chunks per video: 100,000 each
TOPICS = [
    "rocket launch", "budget meeting", "cat adoption", "astronaut training", "football goal", "penalty kick",
    "cooking pasta", "weather forecast", "stock market", "election results", "mountain hiking", "ocean waves",
    "jazz concert", "chess tournament", "electric cars", "solar panels", "coffee roasting", "bread baking",
    "dog training", "bird watching", "city traffic", "train station", "airport security", "hospital care",
    "school exams", "university lecture", "art museum", "movie premiere", "fashion show", "wedding ceremony",
    "birthday party", "gardening tips", "home repair", "car racing", "tennis final", "basketball dunk",
    "swimming race", "cycling tour", "marathon finish", "yoga class", "climate change", "forest fire",
    "flood warning", "earthquake report", "volcano eruption", "space telescope", "moon landing", "mars rover",
    "robot factory", "computer chips", "video games", "music festival", "street food", "wine tasting",
    "fishing trip", "farm harvest", "pizza delivery", "police chase", "courtroom trial", "news interview",
]  # fmt: skip
TEMPLATES = ["today we talk about {t}", "the {t} was the highlight of the day", "everyone watched the {t}",
             "a report on the {t} and what comes next", "live coverage of the {t}", "experts explain the {t}"]  # fmt: skip


def build_library() -> None:
    if (LIB / "bench-complete").exists():
        return
    import shutil

    import numpy as np
    import pyarrow as pa

    from vstream.index.store import Store
    from vstream.index.textembed import load_text_embedder
    from vstream.library import Library
    from vstream.timecode import TICKS

    shutil.rmtree(LIB, ignore_errors=True)
    print("building the benchmark library (once) ...", file=sys.stderr)
    lib = Library.open(LIB, create=True)
    embedder = load_text_embedder(None)
    sentences = [tpl.format(t=t) for t in TOPICS for tpl in TEMPLATES]
    base = embedder.embed_texts(sentences)
    rng = np.random.default_rng(0)
    duration = PER_VIDEO * 4  # seconds: one row every 4 s
    keyframes = list(range(0, duration * TICKS, 2 * TICKS))
    with lib.writing():
        for v in range(N_VIDEOS):
            meta = {"keyframes": keyframes, "end": duration * TICKS, "files": {"thumbnail": "thumb.jpg", "media": "m.m4s"},
                    "stream": {"audio_source": "copy"}}  # fmt: skip
            lib.db.execute("INSERT INTO videos VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (f"v{v:03d}", f"h{v}", f"/src/v{v}.mp4", 1, 0, f"media/v{v:03d}", "fmp4", float(duration),
                            "2026-01-01", json.dumps(meta)))  # fmt: skip
            for stage in ("scenes", "speech"):
                lib.db.execute("INSERT INTO index_state VALUES (?,?,?,?,?,?,?)",
                               (f"v{v:03d}", stage, "bench", f"media/v{v:03d}", PER_VIDEO, 0.0, "2026-01-01"))  # fmt: skip
    store = Store(lib)

    def vectors(n: int):
        idx = rng.integers(0, len(sentences), n)
        vec = base[idx] + rng.normal(0, 0.03, (n, base.shape[1])).astype("float32")
        return idx, vec / np.linalg.norm(vec, axis=1, keepdims=True)

    for name in ("scenes", "speech"):
        table = store.table(name)
        for v in range(N_VIDEOS):
            idx, vec = vectors(PER_VIDEO)
            rows = []
            for i in range(PER_VIDEO):
                text = sentences[idx[i]]
                row = {"video_id": f"v{v:03d}", "row_id": f"v{v:03d}:{i}", "start": i * 4.0, "end": i * 4.0 + 4.0,
                       "text": text, "vector": vec[i].tolist()}  # fmt: skip
                if name == "scenes":
                    row |= {"frame_times": [i * 4.0 + 2], "thumbnail": "", "labels": "", "objects": "",
                            "description": text, "ocr_text": "", "model": "bench"}  # fmt: skip
                else:
                    row |= {"words": [], "language": "en", "model": "bench"}
                rows.append(row)
            table.add(pa.Table.from_pylist(rows, schema=table.schema))
    store.write_models({"loaded": {"text": {"name": embedder.name, "fingerprint": embedder.fingerprint}}})
    print("building indexes ...", file=sys.stderr)
    store.build_indexes()
    (LIB / "bench-complete").write_text("ok\n")


def clip_setup():
    """A ViT-B-32 CLIP with random weights on disk, and 100,000 CLIP rows (512-d)."""
    import numpy as np
    import pyarrow as pa

    try:
        import open_clip
        import torch
    except ImportError:
        return None
    weights = OUT / "vit-b-32-random.pt"
    if not weights.exists():
        model, _, _ = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
        torch.save(model.state_dict(), weights)
    from vstream.index.store import Store
    from vstream.library import Library

    lib = Library.open(LIB)
    store = Store(lib)
    if "clip" not in store._names():
        table = store.table("clip", clip_dim=512)
        rng = np.random.default_rng(1)
        for v in range(N_VIDEOS):
            vec = rng.normal(size=(PER_VIDEO, 512)).astype("float32")
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            rows = [{"video_id": f"v{v:03d}", "row_id": f"v{v:03d}:{i}:0", "scene": f"v{v:03d}:{i}", "t": i * 4.0 + 2,
                     "vector": vec[i].tolist(), "model": "bench"} for i in range(PER_VIDEO)]  # fmt: skip
            table.add(pa.Table.from_pylist(rows, schema=table.schema))
        store.build_indexes()
    return weights


def timed_queries(searcher, queries: list[str], mode: str) -> list[float]:
    from vstream.search import SearchOptions

    for q in queries[:5]:  # warm up
        searcher.search(q, SearchOptions(mode=mode))
    times = []
    for q in queries:
        started = time.perf_counter()
        searcher.search(q, SearchOptions(mode=mode))
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def recall_at_10(n_queries: int = 100) -> dict[str, float]:
    import lance
    import numpy as np

    from vstream.index.textembed import load_text_embedder
    from vstream.search import EF, NPROBES

    embedder = load_text_embedder(None)
    queries = embedder.embed_texts([f"{t} news" for t in TOPICS] + [f"the {t}" for t in TOPICS])[:n_queries]
    out = {}
    for name in ("scenes", "speech"):
        ds = lance.dataset(str(LIB / "index" / "lancedb" / f"{name}.lance"))
        hits = []
        for q in queries:
            kw = {"column": "vector", "q": q, "k": 10, "metric": "cosine"}
            approx = ds.to_table(nearest=kw | {"nprobes": NPROBES, "ef": EF}, columns=["row_id"],
                                 disable_scoring_autoprojection=True).column("row_id").to_pylist()  # fmt: skip
            exact = ds.to_table(nearest=kw | {"use_index": False}, columns=["row_id"],
                                disable_scoring_autoprojection=True).column("row_id").to_pylist()  # fmt: skip
            hits.append(len(set(approx) & set(exact)) / 10)
        out[name] = float(np.mean(hits))
    return out


def cold_cli(args: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vstream", "search", "-L", str(LIB), "--json", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_profile(args: list[str]) -> list[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "vstream", "search", "-L", str(LIB), "--json", *args],
                          capture_output=True, text=True)  # fmt: skip
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            if name.startswith(" ") and not name.startswith("  "):  # top-level imports only
                rows.append((int(cumulative), name.strip()))
    return [f"{us / 1000:7.1f} ms  {name}" for us, name in sorted(rows, reverse=True)[:8]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    build_library()
    from vstream.library import Library
    from vstream.models import ModelSettings
    from vstream.search import Searcher

    rnd = random.Random(0)
    queries = [rnd.choice(["", "the ", "live "]) + rnd.choice(TOPICS) + rnd.choice(["", " today", " highlights"])
               for _ in range(args.queries)]  # fmt: skip
    lib = Library.open(LIB)
    searcher = Searcher(lib, settings=ModelSettings(), cache_results=False)  # every query really runs
    lines = []
    results = {}
    for mode in ("hybrid", "semantic", "keyword"):
        t = timed_queries(searcher, queries, mode)
        results[mode] = (p(t, 50), p(t, 95))
        print(f"warm {mode:<9} p50 {p(t, 50):6.1f} ms   p95 {p(t, 95):6.1f} ms   ({len(t)} queries)")
    weights = clip_setup()
    if weights is not None:
        clip_searcher = Searcher(lib, settings=ModelSettings(clip_model="ViT-B-32", clip_weights=str(weights)),
                                 cache_results=False)
        t = timed_queries(clip_searcher, queries, "hybrid")
        results["hybrid+clip"] = (p(t, 50), p(t, 95))
        print(f"warm hybrid + CLIP ViT-B-32 text tower   p50 {p(t, 50):6.1f} ms   p95 {p(t, 95):6.1f} ms")
    recall = recall_at_10()
    print("recall@10 (IVF_HNSW_SQ vs exact): " + ", ".join(f"{k} {v:.3f}" for k, v in recall.items()))
    cold_kw = cold_cli(["budget meeting", "--mode", "keyword"])
    cold_sem = cold_cli(["budget meeting", "--mode", "semantic"])
    cold_hyb = cold_cli(["budget meeting"])
    print(f"cold CLI: keyword {cold_kw:.2f} s, semantic {cold_sem:.2f} s, hybrid {cold_hyb:.2f} s (median of 5)")
    print("import profile of `vstream search --mode keyword` (top-level, cumulative):")
    for row in import_profile(["budget meeting", "--mode", "keyword"]):
        print("   " + row)
    day = datetime.date.today()
    scale = f"{N_VIDEOS * PER_VIDEO:,} scene rows + {N_VIDEOS * PER_VIDEO:,} transcript chunks"
    for mode, (p50, p95) in results.items():
        lines.append(f"search warm {mode}: p95 {p95:.1f} ms, p50 {p50:.1f} ms ({day}; {scale}; query embedding included)")
    lines.append("search recall@10 of the vector index vs exact: " + ", ".join(f"{k} {v:.3f}" for k, v in recall.items()))
    lines.append(f"search cold CLI: keyword {cold_kw:.2f} s, semantic {cold_sem:.2f} s, hybrid {cold_hyb:.2f} s ({day}, median of 5)")
    report(lines, args.record)


if __name__ == "__main__":
    main()
