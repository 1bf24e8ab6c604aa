"""Benchmark: the text models side by side, MiniLM (the default) and e5 (multilingual-e5-small, 4-bit).

On the labelled sentences of bench/textmodels_data.py (120 English sentences on 12 topics,
40 paraphrased queries; 20 of the sentences translated into es, de, fr, pt and it), for each
model, each in a fresh process (so load time and memory are its own):

* English retrieval: recall@1, recall@5 and MRR of the 40 queries over the 120 sentences;
* cross-lingual recall@1: English queries over the 20 sentences of each language, and each
  translated sentence as a query over the 120 English ones;
* query latency: one query embedded at a time, one thread (what search does), p50/p95;
* passage throughput: the 220 sentences in batches of 32 on the model's thread budget;
* load time and memory (peak RSS over the process's baseline);
* calibration: median cosine of a query with its target and with unrelated sentences (what
  search's evidence scale, textembed.E5_RANGE, is set from).

Prints ratios against MiniLM measured in the same run.

    python bench/textmodels.py [--repeat 5] [--record]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bench.textmodels_data import QUERIES, SENTENCES, TRANSLATED, TRANSLATIONS  # noqa: E402

MODELS = {"minilm": None, "e5": "e5"}


def measure(setting: str | None, repeat: int) -> dict:
    """One model's figures (run in its own process)."""
    import numpy as np

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from vstream.index.textembed import load_text_embedder

    t0 = time.perf_counter()
    model = load_text_embedder(setting)
    load_s = time.perf_counter() - t0
    ids = [f"{topic}:{n}" for topic, items in SENTENCES.items() for n in range(len(items))]
    english = [s for items in SENTENCES.values() for s in items]
    foreign = [t for lang in TRANSLATIONS for t in TRANSLATIONS[lang]]

    t0 = time.perf_counter()
    passages = model.embed_passages(english + foreign)
    throughput = len(english + foreign) / (time.perf_counter() - t0)
    en_vecs, foreign_vecs = passages[: len(english)], passages[len(english) :]
    queries = model.embed_queries([q for q, _ in QUERIES])

    # English retrieval
    sims = queries @ en_vecs.T
    targets = [ids.index(t) for _, t in QUERIES]
    ranks = [int((row > row[t]).sum()) + 1 for row, t in zip(sims, targets)]
    mask = np.ones_like(sims, dtype=bool)
    mask[np.arange(len(targets)), targets] = False
    calibration = {"target": float(np.median(sims[~mask])), "unrelated": float(np.median(sims[mask])),
                   "unrelated_p95": float(np.percentile(sims[mask], 95))}  # fmt: skip

    # cross-lingual: English query -> the language's 20 sentences; sentence -> its English original
    query_of = {t: i for i, (_, t) in enumerate(QUERIES)}
    en_to_x, x_to_en = {}, {}
    fq = model.embed_queries(foreign)
    for n, lang in enumerate(TRANSLATIONS):
        block = foreign_vecs[n * 20 : (n + 1) * 20]
        qs = queries[[query_of[t] for t in TRANSLATED]]
        en_to_x[lang] = float(np.mean(np.argmax(qs @ block.T, axis=1) == np.arange(20)))
        back = fq[n * 20 : (n + 1) * 20] @ en_vecs.T
        x_to_en[lang] = float(np.mean(np.argmax(back, axis=1) == [ids.index(t) for t in TRANSLATED]))

    # query latency, one thread (search embeds its query on one thread while its lists run)
    one = load_text_embedder(setting, threads=1)
    for q, _ in QUERIES[:5]:
        one.embed_queries([q])
    times = []
    for _ in range(repeat):
        for q, _ in QUERIES:
            t0 = time.perf_counter()
            one.embed_queries([q])
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "name": model.name, "dim": model.dim, "load_s": load_s, "throughput": throughput,
        "recall1": float(np.mean([r == 1 for r in ranks])), "recall5": float(np.mean([r <= 5 for r in ranks])),
        "mrr": float(np.mean([1 / r for r in ranks])), "en_to_x": en_to_x, "x_to_en": x_to_en,
        "p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
        "memory_mib": (peak - base) / 1024, "calibration": calibration,
    }  # fmt: skip


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="latency passes over the 40 queries")
    parser.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    parser.add_argument("--one", choices=sorted(MODELS), help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(MODELS[args.one], args.repeat)))
        return
    load_before = load_average()
    got = {}
    for key in MODELS:
        proc = subprocess.run([sys.executable, __file__, "--one", key, "--repeat", str(args.repeat)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        got[key] = json.loads(proc.stdout.strip().splitlines()[-1])
    base, e5 = got["minilm"], got["e5"]
    lines = []
    for key, r in got.items():
        langs = ", ".join(f"{lang} {r['en_to_x'][lang]:.2f}/{r['x_to_en'][lang]:.2f}" for lang in TRANSLATIONS)
        cal = r["calibration"]
        lines += [
            f"text model {key} ({r['name']}, {r['dim']}-d): English recall@1 {r['recall1']:.3f}, recall@5 "
            f"{r['recall5']:.3f}, MRR {r['mrr']:.3f} (40 paraphrased queries over 120 sentences)",
            f"text model {key} cross-lingual recall@1 (English query -> 20 sentences / sentence -> its English "
            f"original among 120): {langs}",
            f"text model {key} query p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms (1 thread); passages "
            f"{r['throughput']:.0f}/s (batch 32, 2 threads); load {r['load_s']:.2f} s; memory +{r['memory_mib']:.0f} MiB",
            f"text model {key} cosine: query-target median {cal['target']:.3f}, unrelated median "
            f"{cal['unrelated']:.3f} (p95 {cal['unrelated_p95']:.3f})",
        ]  # fmt: skip
    lines.append(
        f"e5 vs minilm: English MRR {e5['mrr'] / base['mrr']:.2f}x, query p50 {e5['p50_ms'] / base['p50_ms']:.2f}x "
        f"(+{e5['p50_ms'] - base['p50_ms']:.1f} ms), passages/s {e5['throughput'] / base['throughput']:.2f}x, "
        f"load {e5['load_s'] / base['load_s']:.2f}x, memory {e5['memory_mib'] / max(base['memory_mib'], 1):.2f}x "
        f"(load average {load_before} before, {load_average()} after, 2 cores)"
    )  # fmt: skip
    for line in lines:
        print(line)
    if args.record:
        record(lines)


if __name__ == "__main__":
    main()
