"""`vstream search`: moments by meaning, by spoken or written words, by both, or by loudness.

Reads go through the lower ``lance`` layer (``import lance`` costs ~0.1 s; ``import
lancedb`` costs seconds, mostly its REST namespace client, which a local library never
needs), so keyword search starts fast and semantic search loads only the text embedder.

Pipeline: hits from each list (full-text over transcripts and scene text, vectors over
transcripts, scene descriptions, on-screen text and CLIP frames) -> each hit's evidence
calibrated to 0..1 -> combined (hybrid) -> merged into moments per video -> snapped outward
to keyframes.

Scores mean the same for every query, so ``--min-score`` and a recipe's ``on_empty`` can rely
on them: *lexical* evidence is the share of the query's content words (stop-words dropped) that
the hit's text contains; *semantic* evidence is the cosine similarity mapped from the embedder's
"unrelated" level (0) to its "same meaning" level (1); hybrid combines the two as independent
evidence, 1 - (1 - lexical)(1 - semantic), with reciprocal-rank fusion only breaking ties. A
hit with no evidence (below :data:`MIN_EVIDENCE`) is no result: nonsense and stop-words alone
find nothing.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from vstream.errors import LayoutError, NotFound, UsageError, VstreamError
from vstream.library import Library, Video
from vstream.timecode import TICKS, snap_down, snap_up, to_ticks

MODES = ("hybrid", "semantic", "keyword", "peaks")
KINDS = ("scene", "speech")
RRF_K = 60
# A semantic hit must be at least this similar (cosine) to count: every row is *some* distance
# from the query, and without a floor unrelated rows would enter the fusion and the results.
SEMANTIC_FLOOR = 0.2
# Vector-index search depth: IVF partitions probed and HNSW candidate list (bench/search.py
# measures recall@10 against exact search with these).
NPROBES = 64
EF = 256
CLIP_FLOOR = 0.15
# Calibration of cosine similarity to evidence (measured on the sample library with all-MiniLM-L6-v2:
# unrelated sentences score 0.20-0.25, paraphrases and matching descriptions 0.5-0.75). Another text
# model's similarities are first mapped onto this scale (textembed.comparable; e5's sit at 0.75-0.95).
SEMANTIC_RANGE = (0.25, 0.65)
CLIP_RANGE = (0.18, 0.32)  # CLIP text-image similarities sit lower and closer together
MIN_EVIDENCE = 0.05  # a moment with less evidence than this is not a result
# Peaks: momentary loudness mapped to 0..1 (quiet speech ~-30 LUFS, a roaring crowd ~-10).
LOUDNESS_RANGE = (-40.0, -5.0)
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers him
his how i if in into is it its itself just me more most my no nor not now of off on once only or other our ours out
over own part same she should so some such than that the their theirs them then there these they this those through
to too under until up very was we were what when where which while who whom why will with would you your yours
""".split())  # fmt: skip
NOTHING_INDEXED = "\x00nothing indexed"  # a row filter meaning: search live transcripts only
RESULT_CACHE = 256  # searches remembered per Searcher (until the catalog changes)
TRANSCRIPT_CACHE = 256  # videos whose sentences a Searcher keeps (until the catalog changes)


@dataclass
class Hit:
    video_id: str
    start: float
    end: float
    kind: str  # scene | speech
    source: str  # transcript | description | onscreen | clip | keyword-transcript | keyword-scene | loudness
    score: float  # the list's own score (similarity, BM25, LUFS)
    text: str = ""
    thumbnail: str = ""
    evidence: float = 0.0  # the score calibrated to 0..1 (see the module docstring)


@dataclass
class Moment:
    video_id: str
    start: float
    end: float
    score: float
    kinds: list[str]
    text: str
    thumbnail: str
    sources: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)  # who is on screen in it (names, else p<id>)
    language: str | None = None  # the language mostly spoken in it (None: nobody speaks)
    live: bool = False  # in a live event that is no library video yet: play it with vstream live clip
    wall: str | None = None  # found in a live transcript: the wall-clock time (ISO, UTC) it starts at

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("sources")
        return data


@dataclass
class SearchResult:
    query: str
    mode: str
    took_ms: float
    moments: list[Moment]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape: scripts depend on these names."""
        return {"query": self.query, "mode": self.mode, "took_ms": round(self.took_ms, 2),
                "moments": [m.to_dict() for m in self.moments]}  # fmt: skip


@dataclass
class SearchOptions:
    mode: str = "hybrid"
    videos: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    kind: str | None = None
    min_score: float | None = None
    limit: int = 10
    padding: float = 0.0
    max_per_video: int | None = None
    people: list[str] = field(default_factory=list)  # only where all of them are on screen (names or ids)
    language: str | None = None  # only what is spoken in this language (es; pt-BR matches pt)
    live: bool = False  # also what live events' transcripts say before the index holds them (index --follow)

    def validate(self) -> None:
        if self.language is not None:
            from vstream.subtitles import check_language

            check_language(self.language)
            if self.kind == "scene" or self.mode == "peaks":
                raise UsageError("--lang finds what is spoken in a language: it takes no --kind scene or --mode peaks")
        if self.mode not in MODES:
            raise UsageError(f"unknown mode {self.mode!r}", hint="use --mode hybrid, semantic, keyword or peaks")
        if self.kind is not None and self.kind not in KINDS:
            raise UsageError(f"unknown kind {self.kind!r}", hint="use --kind scene or --kind speech")
        if not 1 <= self.limit <= 1000:
            raise UsageError("--limit must be between 1 and 1000")
        if self.padding < 0 or (self.max_per_video is not None and self.max_per_video < 1):
            raise UsageError("--padding must be >= 0 and --max-per-video >= 1")


# --- pure parts ------------------------------------------------------------------------------


def rrf(lists: Iterable[list[Hit]], k: int = RRF_K) -> list[tuple[Hit, float]]:
    """Reciprocal rank fusion: each hit scores the sum of 1/(k + rank) over the lists it is in.

    Scores are normalised by the best possible sum (first in every list), so they lie in 0..1.
    """
    lists = [lst for lst in lists if lst]
    if not lists:
        return []
    fused: dict[tuple, tuple[Hit, float]] = {}
    for lst in lists:
        for rank, hit in enumerate(lst, start=1):
            key = (hit.video_id, round(hit.start, 3), round(hit.end, 3), hit.kind)
            prev = fused.get(key)
            fused[key] = (prev[0] if prev else hit, (prev[1] if prev else 0.0) + 1.0 / (k + rank))
    best = len(lists) / (k + 1)
    return sorted(((h, s / best) for h, s in fused.values()), key=lambda hs: -hs[1])


_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits, any script


def words(text: str) -> list[str]:
    """Case-folded words of ``text`` (letters and digits, any script)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def content_words(query: str) -> list[str]:
    """The query's words that carry meaning: stop-words dropped, each once."""
    return list(dict.fromkeys(w for w in words(query) if w not in STOP_WORDS))


def coverage(terms: list[str], text: str) -> float:
    """Lexical evidence: the share of ``terms`` found in ``text`` (a word, or a word it begins: launch/launches)."""
    if not terms:
        return 0.0
    have = set(words(text))
    found = sum(1 for t in terms if t in have or (len(t) >= 3 and any(w.startswith(t) for w in have)))
    return found / len(terms)


def calibrate(similarity: float, span: tuple[float, float]) -> float:
    """Cosine similarity -> 0..1 evidence: 0 at the "unrelated" level, 1 at the "same meaning" level."""
    low, high = span
    return min(1.0, max(0.0, (similarity - low) / (high - low)))


def combine(lists: list[list[Hit]], lexical_sources: frozenset[str], k: int = RRF_K) -> list[tuple[Hit, float]]:
    """Hybrid: per hit span, 1 - (1 - best lexical)(1 - best semantic); ties broken by reciprocal rank
    (normalised as :func:`rrf` does). One pass: each hit's span key is made once."""
    lists = [lst for lst in lists if lst]
    first: dict[tuple, Hit] = {}
    rank_sum: dict[tuple, float] = {}
    lexical: dict[tuple, float] = {}
    semantic: dict[tuple, float] = {}
    for lst in lists:
        for rank, hit in enumerate(lst, start=1):
            key = (hit.video_id, round(hit.start, 3), round(hit.end, 3), hit.kind)
            first.setdefault(key, hit)
            rank_sum[key] = rank_sum.get(key, 0.0) + 1.0 / (k + rank)
            side = lexical if hit.source in lexical_sources else semantic
            if hit.evidence > side.get(key, -1.0):
                side[key] = hit.evidence
    best = len(lists) / (k + 1) or 1.0
    return [(hit, 1 - (1 - lexical.get(key, 0.0)) * (1 - semantic.get(key, 0.0)) + rank_sum[key] / best * 1e-6)
            for key, hit in first.items()]  # fmt: skip


def merge_moments(scored: list[tuple[Hit, float]], overlap: float = 0.25, max_length: float = 120.0) -> list[Moment]:
    """Hits that overlap in one video become one moment; the best hit seeds it.

    Greedy by score: a hit joins a moment it overlaps by more than ``overlap`` seconds (a
    sentence inside a scene, two lists finding the same scene); otherwise it starts its own
    moment. Touching shots stay apart, and a weak hit never drags a strong moment out.
    """
    moments: list[Moment] = []
    by_video: dict[str, list[Moment]] = {}
    for hit, score in sorted(scored, key=lambda hs: -hs[1]):
        need = min(overlap, (hit.end - hit.start) / 2)
        target = next(
            (m for m in by_video.get(hit.video_id, ())
             if min(m.end, hit.end) - max(m.start, hit.start) > need
             and max(m.end, hit.end) - min(m.start, hit.start) <= max_length),
            None,
        )  # fmt: skip
        if target is None:
            # a scene found by what it shows or says on screen shows that text; speech is filled in later
            text = hit.text if hit.kind == "scene" and hit.source != "loudness" else ""
            moment = Moment(hit.video_id, hit.start, hit.end, score, [hit.kind], text, hit.thumbnail, [hit.source])
            moments.append(moment)
            by_video.setdefault(hit.video_id, []).append(moment)
            continue
        target.start, target.end = min(target.start, hit.start), max(target.end, hit.end)
        _add(target.kinds, hit.kind)
        _add(target.sources, hit.source)
        if not target.thumbnail and hit.thumbnail:
            target.thumbnail = hit.thumbnail
    return moments


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def snap_moment(moment: Moment, keyframes: list[int], end_ticks: int, padding: float) -> Moment:
    """Pad, then widen to keyframes: the moment starts on a keyframe and never runs past the video."""
    start = snap_down(max(0, to_ticks(moment.start - padding)), keyframes)
    end = min(end_ticks, snap_up(to_ticks(moment.end + padding), keyframes, end_ticks))
    if end <= start:
        end = snap_up(start + 1, keyframes, end_ticks)
    moment.start, moment.end = start / TICKS, end / TICKS
    return moment


def rank_moments(moments: list[Moment], *, limit: int, max_per_video: int | None, min_score: float | None) -> list[Moment]:
    out: list[Moment] = []
    per_video: dict[str, int] = {}
    for m in sorted(moments, key=lambda m: (-m.score, m.video_id, m.start)):
        if min_score is not None and m.score < min_score:
            continue
        if max_per_video is not None and per_video.get(m.video_id, 0) >= max_per_video:
            continue
        per_video[m.video_id] = per_video.get(m.video_id, 0) + 1
        out.append(m)
        if len(out) >= limit:
            break
    return out


LEXICAL = frozenset({"keyword-transcript", "keyword-scene"})


def drop_overlaps(moments: list[Moment]) -> list[Moment]:
    """Keep the better of two moments of one video that overlap (they are in score order)."""
    kept: list[Moment] = []
    for m in moments:
        if not any(k.video_id == m.video_id and k.start < m.end and m.start < k.end for k in kept):
            kept.append(m)
    return kept


def check_language(query: str, model_name: str, multilingual: bool = False) -> None:
    """The default text model reads English: a query mostly in another script gets a clear message
    (a multilingual model, e.g. ``--text-model e5``, takes any script)."""
    letters = [c for c in query if c.isalpha()]
    if not letters:
        raise UsageError("the query has no words to search for")
    scripts = [unicodedata.name(c, "UNKNOWN").split(" ")[0] for c in letters]
    latin = sum(s == "LATIN" for s in scripts)
    if latin / len(letters) < 0.5 and not multilingual:
        other = max(set(scripts), key=scripts.count).title()
        raise UsageError(
            f"the text model ({model_name}) understands English; this query is mostly {other} script",
            hint="search with --mode keyword, or use the multilingual text model: vstream index --text-model e5",
        )


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Postings:
    """Which texts hold each word (texts are only appended), so a query's lexical evidence over a
    long live transcript is a look-up per word, not a scan of every line (20 ms for three hours)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}
        self.n = 0

    def extend(self, texts: Iterable[str]) -> "Postings":
        for text in texts:
            for word in set(words(text)):
                self.rows.setdefault(word, []).append(self.n)
            self.n += 1
        return self

    def coverage(self, terms: list[str]) -> dict[int, float]:
        """:func:`coverage` of ``terms`` in every text that holds one of them, by the text's number."""
        found: dict[int, int] = {}
        for term in terms:
            rows: set[int] = set(self.rows.get(term, ()))
            if len(term) >= 3:  # a word it begins (launch: launches)
                for word, ids in self.rows.items():
                    if word.startswith(term):
                        rows.update(ids)
            for i in rows:
                found[i] = found.get(i, 0) + 1
        return {i: n / len(terms) for i, n in found.items()} if terms else {}


@dataclass
class LiveTranscript:
    """What a live event's follower (``vstream index --follow``) has kept in ``live/EVENT/speech.jsonl``,
    searched until the index holds the event's video. Times are the event's (= its video's, once
    finished)."""

    event: str
    video: str | None  # the library video it became (ended, not indexed yet), else None
    lines: list  # live_speech.Line, in the order kept
    bounds: list[int]  # where the event's fragments start (ticks): a live moment snaps to them
    recorded: float  # seconds recorded so far
    takes: list[tuple[float, str]]  # (event time it starts at, wall clock of its first frame) per take
    vectors: Any = None  # the lines' text embeddings, made on the first semantic search
    model: str = ""  # the embedder that made them
    screen: list = field(default_factory=list)  # live_onscreen.Shown runs: its text and what it shows (index --follow)
    screen_vectors: Any = None  # (their embeddings, by the same embedder)
    postings: Postings | None = None  # the lines' words, made on the first keyword search
    screen_postings: Postings | None = None
    ends: list[float] | None = field(default=None, repr=False, compare=False)  # the lines' ends, for said()
    loudness: list[float] = field(default_factory=list)  # the recorder's measure, a value per 0.5 s (--mode peaks)

    def words_of(self) -> tuple[Postings, Postings]:
        """The lines' and on-screen texts' words (the new ones added)."""
        if self.postings is None:
            self.postings = Postings()
        if self.screen_postings is None:
            self.screen_postings = Postings()
        self.postings.extend(line.text for line in self.lines[self.postings.n:])
        self.screen_postings.extend(run.text for run in self.screen[self.screen_postings.n:])
        return self.postings, self.screen_postings

    def wall(self, t: float) -> str | None:
        """The wall-clock time (ISO, UTC) of event time ``t``."""
        from datetime import timedelta

        from vstream.live import iso, parse_time

        began = [(at, started) for at, started in self.takes if at <= t + 1e-6 and started]
        if not began:
            return None
        at, started = began[-1]
        return iso(parse_time(started) + timedelta(seconds=t - at))

    def said(self, start: float, end: float) -> tuple[str, str | None]:
        """The sentences between ``start`` and ``end``, and the language spoken longest in them."""
        import bisect
        import itertools

        if self.ends is None or len(self.ends) != len(self.lines):  # (lines are kept in time order)
            self.ends = [line.to for line in self.lines]
        inside = []
        for line in itertools.islice(self.lines, bisect.bisect_right(self.ends, start), None):
            if line.at >= end:
                break
            if line.to > start:
                inside.append(line)
        seconds: dict[str, float] = {}
        for line in inside:
            seconds[line.language] = seconds.get(line.language, 0.0) + min(line.to, end) - max(line.at, start)
        return " ".join(line.text.strip() for line in inside), max(seconds, key=seconds.get) if seconds else None


def live_keyword_hits(transcripts: Iterable[LiveTranscript], terms: list[str], language: str | None, k: int,
                      kind: str | None = None) -> list[Hit]:  # fmt: skip
    """The live lines (and on-screen texts) that hold the query's words (lexical evidence, as the
    index's full-text lists are scored), best ``k``."""
    hits = []
    for t in transcripts:
        said, shown = t.words_of()
        if kind in (None, "speech"):
            hits += [Hit(t.event, t.lines[i].at, t.lines[i].to, "speech", "keyword-transcript", found, t.lines[i].text)
                     for i, found in said.coverage(terms).items()
                     if found >= MIN_EVIDENCE and (not language or t.lines[i].language == language)]  # fmt: skip
        if kind in (None, "scene") and not language:
            hits += [Hit(t.event, t.screen[i].at, t.screen[i].to, "scene", "keyword-scene", found, t.screen[i].text)
                     for i, found in shown.coverage(terms).items() if found >= MIN_EVIDENCE]  # fmt: skip
    return sorted(hits, key=lambda h: (-h.score, h.video_id, h.start))[:k]


def live_peaks(transcripts: Iterable[LiveTranscript], limit: int) -> list[tuple[Hit, float]]:
    """The loudest moments of live events (the recorder's loudness), scored as the index's peaks are."""
    from vstream.index.loudness import peaks
    from vstream.live_highlights import STEP

    return [peak_hit(t.event, at, lufs) for t in transcripts for at, lufs in peaks(t.loudness, limit=limit, step=STEP)]


def peak_hit(video_id: str, t: float, lufs: float) -> tuple[Hit, float]:
    """A loud moment at ``t``: from 2 s before it to 3 s after (widened to keyframes later)."""
    score = calibrate(lufs, LOUDNESS_RANGE)
    return (Hit(video_id, max(0.0, t - 2.0), t + 3.0, "scene", "loudness", lufs, "", "", score),
            score + (lufs + 100) * 1e-6)  # equal evidence: the louder first


# --- reading the index -----------------------------------------------------------------------


class Index:
    """The index's tables, opened read-only with ``lance`` (fast to import, never takes the lock)."""

    def __init__(self, lib: Library):
        self.lib = lib
        self.root = lib.root / "index" / "lancedb"
        self._datasets: dict[str, Any] = {}

    def dataset(self, name: str):
        if name not in self._datasets:
            remote = self.lib.remote
            path = self.root / f"{name}.lance"
            if remote is not None:
                import lance

                try:
                    self._datasets[name] = lance.dataset(remote.uri(f"index/lancedb/{name}.lance"),
                                                         storage_options=remote.storage_options())  # fmt: skip
                except ValueError as exc:  # lance: "Dataset at path ... was not found"
                    if "not found" not in str(exc).lower():
                        raise
                    self._datasets[name] = None
            elif not path.is_dir():
                self._datasets[name] = None
            else:
                import lance

                self._datasets[name] = lance.dataset(str(path))
        return self._datasets[name]

    def models(self) -> dict[str, Any]:
        path = self.lib.root / "index" / "models.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def fts(self, name: str, query: str, k: int, where: str | None) -> list[dict]:
        ds = self.dataset(name)
        if ds is None or not ds.count_rows():
            return []
        cols = ["video_id", "start", "end", "text", "_score"] + (["thumbnail"] if name == "scenes" else [])
        table = ds.to_table(full_text_query=query, columns=cols, filter=where, prefilter=where is not None,
                            limit=k, disable_scoring_autoprojection=True)  # fmt: skip
        return table.to_pylist()

    def nearest(self, name: str, column: str, vector, k: int, where: str | None, extra: list[str]) -> list[dict]:
        ds = self.dataset(name)
        if ds is None or not ds.count_rows():
            return []
        cols = ["video_id", "start", "end", *extra, "_distance"] if name != "clip" else ["video_id", "scene", "t", "_distance"]
        table = ds.to_table(
            nearest={"column": column, "q": vector, "k": k, "metric": "cosine", "nprobes": NPROBES, "ef": EF},
            columns=cols, filter=where, prefilter=where is not None, disable_scoring_autoprojection=True,
        )  # fmt: skip
        return table.to_pylist()

    def rows(self, name: str, where: str | None, columns: list[str]) -> list[dict]:
        ds = self.dataset(name)
        return ds.to_table(columns=columns, filter=where).to_pylist() if ds is not None else []


# --- the search ------------------------------------------------------------------------------


class Searcher:
    """Keeps the index and the query models open between searches (what `vstream serve` holds warm)."""

    def __init__(self, lib: Library, *, settings=None, cache_results: bool = True):
        self.lib = lib
        self.cache_results = cache_results
        self.index = Index(lib)
        self._settings = settings
        self._embedder = None
        self._clip = None

    # -- models, loaded on first semantic query
    def embedder(self):
        if self._embedder is None:
            from vstream.index.textembed import load_text_embedder
            from vstream.models import ModelSettings

            settings = self._settings or ModelSettings.load(self.lib.root)
            embedder = load_text_embedder(self._text_setting(settings), threads=1)  # the lists use the other cores
            built = self.index.models().get("loaded", {}).get("text", {}).get("fingerprint")
            if built and built != embedder.fingerprint:
                raise LayoutError(
                    f"the index was built with text model {built.split(':')[0]} ({built}), "
                    f"but {embedder.name} ({embedder.fingerprint}) is configured",
                    hint="re-embed with the configured model: vstream index (vstream index --force if its setting is unchanged)",
                )
            self._embedder = embedder
        return self._embedder

    def _text_setting(self, settings) -> str | None:
        """Queries are embedded by the model that embedded the index: the configured one, else the one
        the last ``vstream index --text-model X`` used (recorded in index/models.json)."""
        from vstream.index.textembed import model_name

        recorded = self.index.models()
        built = recorded.get("loaded", {}).get("text", {}).get("name")
        used = recorded.get("settings", {}).get("text")
        if self._settings is None and built and model_name(settings.text) != built and model_name(used) == built:
            return used
        return settings.text

    def clip(self):
        """The CLIP text encoder, when the index holds CLIP vectors and weights are configured."""
        if self._clip is None:
            from vstream.models import ModelSettings

            settings = self._settings or ModelSettings.load(self.lib.root)
            if self.index.dataset("clip") is None or not settings.clip_weights:
                self._clip = False
            else:
                from vstream.index.visual.clip import load_clip_backend

                self._clip = load_clip_backend(settings.clip_model, settings.clip_weights, device=settings.device)
        return self._clip or None

    def search(self, query: str, opts: SearchOptions) -> SearchResult:
        """Moments for ``query``. Repeated searches (a batch of users sharing a topic) are answered
        from a small cache until the catalog changes (an index run commits to it last)."""
        started = time.perf_counter()
        opts.validate()
        query = " ".join(query.split())
        live = self._live(opts)
        if not self.cache_results:
            return self._search(query, opts, started, live)
        grown = tuple((e, len(t.lines), len(t.screen), t.screen[-1].to if t.screen else 0.0, len(t.loudness),
                       t.recorded, t.video) for e, t in live.items())  # live transcripts grow  # fmt: skip
        key = (query, json.dumps(asdict(opts), sort_keys=True), grown)
        cache = self._catalog().setdefault("results", {})
        if key in cache:
            moments = [Moment(**asdict(m)) for m in cache[key]]
            return SearchResult(query, opts.mode, (time.perf_counter() - started) * 1000, moments)
        result = self._search(query, opts, started, live)
        if len(cache) >= RESULT_CACHE:
            cache.pop(next(iter(cache)))
        cache[key] = [Moment(**asdict(m)) for m in result.moments]
        return result

    def _search(self, query: str, opts: SearchOptions, started: float, live: dict[str, LiveTranscript]) -> SearchResult:
        on_screen = self._on_screen(opts.people) if opts.people else None
        if on_screen is not None and not query and opts.mode != "peaks":
            if opts.kind:
                raise UsageError("--kind picks a query's scene or speech hits: with --person and no query, every "
                                 "moment the person is on screen is listed", hint='add words: vstream search "goal" '
                                 "--person NAME --kind scene")  # fmt: skip
            found = self._spoken_in(self._appearances(on_screen, opts), opts.language)
            return SearchResult(query, "person", (time.perf_counter() - started) * 1000, found)
        if not query and opts.mode != "peaks":
            raise UsageError("empty query", hint='give words to search for, e.g. vstream search "rocket launch"')
        if opts.mode == "peaks" and (query or opts.kind):
            raise UsageError("--mode peaks ranks moments by loudness: it takes no query and no --kind",
                             hint='vstream search "" --mode peaks [--video ID] [--tag k=v]')  # fmt: skip
        where = self._where(opts, only=set(on_screen) if on_screen is not None else None, live=live)
        indexed = where != NOTHING_INDEXED
        kind = opts.kind
        if opts.language:  # spoken in that language: transcript rows only
            kind, where = "speech", both(where, f"language = {quote(primary(opts.language))}")
        k = max(30, opts.limit * 3)  # candidates per list: enough for fusion to agree on the top moments
        if on_screen is not None:
            k *= 4  # most candidates fall where the person is not: look further down the lists
        if opts.mode == "peaks":
            scored = (self._peaks(opts, where) if indexed else []) + live_peaks(live.values(), max(opts.limit, 5))
        else:
            futures = []  # each list starts as soon as it can: full-text while the query is embedded
            terms = content_words(query)
            language = primary(opts.language) if opts.language else None
            if opts.mode in ("keyword", "hybrid"):
                futures += [self._submit(job) for job in self._keyword(query, where, k, kind)] if indexed else []
                if live:
                    futures.append(self._submit(lambda: live_keyword_hits(live.values(), terms, language, k, kind)))
            if opts.mode in ("semantic", "hybrid"):
                vector = self._query_vector(query)
                futures += [self._submit(job) for job in self._semantic(vector, where, k, kind)] if indexed else []
                if live:
                    futures.append(self._submit(lambda: self._live_semantic(live.values(), vector, language, k, kind)))
            lists = [f.result() for f in futures]
            for hit in (h for lst in lists for h in lst):
                if hit.source in LEXICAL:
                    hit.evidence = coverage(terms, hit.text)
            lists = [[h for h in lst if h.evidence >= MIN_EVIDENCE] for lst in lists]
            if opts.mode == "hybrid":
                scored = combine(lists, LEXICAL)
            else:  # one kind of evidence: keep each hit's best (BM25 or similarity orders equal evidence)
                best: dict[tuple, tuple[Hit, float]] = {}
                for hit in (h for lst in lists for h in lst):
                    key = (hit.video_id, round(hit.start, 3), round(hit.end, 3), hit.kind)
                    value = hit.evidence + min(hit.score, 100.0) * 1e-6
                    if key not in best or value > best[key][1]:
                        best[key] = (hit, value)
                scored = list(best.values())
        if on_screen is not None:  # only hits while these people are on screen
            scored = [(h, s) for h, s in scored if overlaps(on_screen.get(h.video_id, []), h.start, h.end)]
        moments = rank_moments(merge_moments(scored), limit=opts.limit, max_per_video=opts.max_per_video,
                               min_score=opts.min_score)  # fmt: skip
        for m in moments:
            m.score = round(min(1.0, m.score), 4)
            transcript = live.get(m.video_id)
            if transcript is not None and transcript.video is None:  # still live: its fragments are its keyframes
                snap_moment(m, transcript.bounds, to_ticks(transcript.recorded), opts.padding)
                m.live, m.wall = True, transcript.wall(m.start)
                continue
            video = self._video(m.video_id)
            snap_moment(m, video.meta["keyframes"], video.meta["end"], opts.padding)
            if transcript is not None:
                m.wall = transcript.wall(m.start)
        if opts.mode == "peaks":  # widened to keyframes, neighbouring peaks may now overlap: keep the louder
            moments = drop_overlaps(moments)
        self._fill(moments, live)
        return SearchResult(query, opts.mode, (time.perf_counter() - started) * 1000, moments)

    # -- live events' transcripts, before the index holds them
    def _live(self, opts: SearchOptions) -> dict[str, LiveTranscript]:
        """The live transcripts this search reads: events whose speech (or on-screen text) a follower
        keeps, or, for --mode peaks, whose loudness the recorder measures, and whose video is not
        indexed yet (each read again only when one of those files or event.json changed)."""
        if not opts.live or opts.people:
            return {}
        import os

        from vstream import live as lv

        try:
            names = sorted(n for n in os.listdir(lv.events_dir(self.lib)) if not n.startswith("."))
        except OSError:
            return {}
        catalog = self._catalog()
        chosen = self._chosen(opts)
        found: dict[str, LiveTranscript] = {}
        for name in names:
            transcript = self.live_transcript(name, loudness=opts.mode == "peaks")
            if transcript is None:
                continue
            video = transcript.video if transcript.video in catalog["ids"] else None
            if transcript.video is not None and video is None:  # (its video was removed: the event's files stay)
                transcript.video = None
            stages = self._stages().get(video or transcript.event, set())
            if chosen is not None and (video or transcript.event) not in chosen:
                continue
            if opts.mode == "peaks":  # loudness only: the index's once its audio stage is done
                if transcript.loudness and "audio" not in stages:
                    found[transcript.event] = transcript
                continue
            if "speech" in stages and "scenes" in stages:
                continue  # the index holds it now
            if not (transcript.lines and "speech" not in stages or transcript.screen and "scenes" not in stages):
                continue  # nothing kept of it yet (or only what the index already holds)
            if stages:  # the index holds part of it: only the rest is searched here
                transcript = replace(transcript, lines=[] if "speech" in stages else transcript.lines,
                                     screen=[] if "scenes" in stages else transcript.screen, vectors=None if
                                     "speech" in stages else transcript.vectors, screen_vectors=None if "scenes" in
                                     stages else transcript.screen_vectors, postings=None, screen_postings=None)  # fmt: skip
            found[transcript.event] = transcript
        return found

    def _stages(self) -> dict[str, set[str]]:
        """The index stages done per video (read once per catalog change)."""
        catalog = self._catalog()
        if "stages" not in catalog:
            stages: dict[str, set[str]] = {}
            for video_id, stage in self.lib.db.execute("SELECT video_id, stage FROM index_state"):
                stages.setdefault(video_id, set()).add(stage)
            catalog["stages"] = stages
        return catalog["stages"]

    def live_transcript(self, event_id: str, *, loudness: bool = False) -> LiveTranscript | None:
        """What is kept of a live event (None: nothing, or no event), read again only when its
        speech.jsonl, onscreen.jsonl or event.json changed; the lines' embeddings are kept as it
        grows. ``loudness``: with the recorder's loudness too (--mode peaks), cached apart, so the
        other searches neither read loudness.jsonl nor lose their cache as it grows every fragment."""
        import os

        from vstream import live as lv
        from vstream import live_highlights as lh
        from vstream import live_onscreen as lo
        from vstream import live_speech as ls

        folder = lv.events_dir(self.lib) / event_id
        stats = []
        for name in (lv.STATE, ls.TRANSCRIPT, lo.TEXTS) + ((lh.LOUDNESS,) if loudness else ()):
            try:
                stats.append(os.stat(folder / name))
            except OSError:
                stats.append(None)
        if stats[0] is None or all(st is None for st in stats[1:]):
            return None
        key = tuple((st.st_size, st.st_mtime_ns) if st else None for st in stats)
        cache = self.__dict__.setdefault("_live_cache", {})
        held = cache.get((event_id, loudness))
        if held is None or held[0] != key:
            try:
                event = lv.load(self.lib, event_id)
            except (VstreamError, ValueError, KeyError):  # (a folder that is no event: "Show copy")
                return None
            transcript = live_transcript(event, ls.read_lines(self.lib, event_id), lo.read_shown(self.lib, event_id),
                                         lh.timeline(event, lh.read_loudness(folder)) if loudness and stats[3] else [])  # fmt: skip
            if held is not None:  # lines are only appended (a run only grows): embed the new ones
                old = held[1]
                transcript.model = old.model
                if transcript.lines[: len(old.lines)] == old.lines:
                    transcript.vectors, transcript.postings = old.vectors, old.postings
                if [r.text for r in transcript.screen[: len(old.screen)]] == [r.text for r in old.screen]:
                    transcript.screen_vectors, transcript.screen_postings = old.screen_vectors, old.screen_postings
            cache[(event_id, loudness)] = held = (key, transcript)
        return held[1]

    def live_matches(self, event_id: str, query: str) -> list[tuple[Any, float]]:
        """Each line of a live event's transcript with its evidence for ``query`` (0..1: its words and its
        meaning, as a hybrid search scores a hit). A line's evidence does not depend on the other lines,
        so what matches in a growing transcript never changes."""
        transcript = self.live_transcript(event_id)
        if transcript is None or not transcript.lines:
            return []
        terms = content_words(query)
        queries = self.__dict__.setdefault("_query_vectors", {})
        key = (self.embedder().fingerprint, query)
        if key not in queries:
            if len(queries) >= RESULT_CACHE:
                queries.pop(next(iter(queries)))
            queries[key] = self._query_vector(query)[1]
        embedder = self._embed_lines(transcript)
        comparable = embedder.comparable(transcript.vectors @ queries[key])
        return [(line, round(1 - (1 - coverage(terms, line.text))
                           * (1 - (calibrate(float(c), SEMANTIC_RANGE) if c >= SEMANTIC_FLOOR else 0.0)), 3))
                for line, c in zip(transcript.lines, comparable)]  # fmt: skip

    def _embed_lines(self, transcript: LiveTranscript):
        """The transcript's lines and on-screen texts embedded (the new ones only); the embedder."""
        import numpy as np

        from vstream.live_speech import read_vectors

        embedder = self.embedder()
        if transcript.model != embedder.fingerprint:
            transcript.vectors, transcript.screen_vectors, transcript.model = None, None, embedder.fingerprint
        have = 0 if transcript.vectors is None else len(transcript.vectors)
        if have < len(transcript.lines):  # what the follower embedded as it kept the lines
            stored = read_vectors(self.lib, transcript.event, embedder.fingerprint, len(transcript.lines))
            if stored is not None and len(stored) > have:
                transcript.vectors = stored
        for items, name in ((transcript.lines, "vectors"), (transcript.screen, "screen_vectors")):
            vectors = getattr(transcript, name)
            have = 0 if vectors is None else len(vectors)
            if have < len(items) or vectors is None:
                new = embedder.embed_passages([item.text for item in items[have:]])
                setattr(transcript, name, new if vectors is None else np.vstack([vectors, new]))
        return embedder

    def _live_semantic(self, transcripts: Iterable[LiveTranscript], vector, language: str | None, k: int,
                       kind: str | None = None) -> list[Hit]:  # fmt: skip
        """Live lines and on-screen texts nearest the query, scored as the index's vectors are."""
        import numpy as np

        _, q = vector
        hits = []
        for t in transcripts:
            embedder = self._embed_lines(t)
            for items, vectors, kind_, source in ((t.lines, t.vectors, "speech", "transcript"),
                                                  (t.screen, t.screen_vectors, "scene", None)):  # fmt: skip
                if not items or kind not in (None, kind_) or (language and kind_ == "scene"):
                    continue
                raw = vectors @ q
                comparable = embedder.comparable(raw)
                # the nearest first, in numpy: only those that may be among the k best become hits
                near = np.flatnonzero(comparable >= SEMANTIC_FLOOR)
                near = near[np.argsort(-comparable[near], kind="stable")]
                taken = 0
                for i in near:
                    item = items[i]
                    if not item.text.strip() or (language and item.language != language):
                        continue
                    hits.append(Hit(t.event, item.at, item.to, kind_, source or item.source, float(raw[i]), item.text,
                                    "", calibrate(float(comparable[i]), SEMANTIC_RANGE)))  # fmt: skip
                    taken += 1
                    if taken >= k:
                        break
        return sorted(hits, key=lambda h: (-h.evidence, h.video_id, h.start))[:k]

    def _spoken_in(self, moments: list[Moment], language: str | None) -> list[Moment]:
        return [m for m in moments if m.language == primary(language)] if language else moments

    # -- the catalog, read once per change (PRAGMA data_version moves when another process commits)
    def _catalog(self) -> dict[str, Any]:
        version = self.lib.data_version()
        if getattr(self, "_catalog_version", None) != version:
            ids = {r[0] for r in self.lib.db.execute("SELECT id FROM videos")}
            indexed = {r[0] for r in self.lib.db.execute("SELECT DISTINCT video_id FROM index_state")}
            self._catalog_cache = {"ids": ids, "indexed": indexed & ids, "videos": {}, "transcripts": {}}
            self._catalog_version = version
            self.index = Index(self.lib)  # an index run commits to the catalog last: reopen the tables
            self._embedder = None  # and ask again which text model embedded them (loaded ones stay cached)
        return self._catalog_cache

    def _video(self, video_id: str) -> Video:
        videos = self._catalog()["videos"]
        if video_id not in videos:
            videos[video_id] = self.lib.get(video_id)
        return videos[video_id]

    def _on_screen(self, refs: list[str]) -> dict[str, list[tuple[float, float]]]:
        """Where all of these people are on screen together: ``{video_id: [(start, end)]}``."""
        from vstream import people

        found = people.appearances(self.lib, refs)
        return people.together(list(found.values()))

    def _appearances(self, on_screen: dict[str, list[tuple[float, float]]], opts: SearchOptions) -> list[Moment]:
        """A person search without words: every span where they are on screen, in library order."""
        chosen = self._chosen(opts)
        order = {v.id: i for i, v in enumerate(self.lib.videos())}
        moments = []
        for video_id in sorted(on_screen, key=lambda v: order.get(v, len(order))):
            if chosen is not None and video_id not in chosen:
                continue
            for start, end in on_screen[video_id]:
                moments.append(Moment(video_id, start, end, 1.0, ["person"], "", "", ["faces"]))
        per_video: dict[str, int] = {}
        kept = []
        for m in moments:
            per_video[m.video_id] = per_video.get(m.video_id, 0) + 1
            if opts.max_per_video is None or per_video[m.video_id] <= opts.max_per_video:
                kept.append(m)
        kept = kept[: opts.limit]
        for m in kept:
            video = self._video(m.video_id)
            snap_moment(m, video.meta["keyframes"], video.meta["end"], opts.padding)
        self._fill(kept)
        return kept

    def _chosen(self, opts: SearchOptions) -> set[str] | None:
        """The video ids ``--tag`` and ``--video`` allow (None: every video)."""
        chosen = None
        if opts.tags:
            chosen = {v.id for v in self.lib.videos(opts.tags)}
        if opts.videos:
            chosen = set(opts.videos) if chosen is None else chosen & set(opts.videos)
        return chosen

    def _where(self, opts: SearchOptions, only: set[str] | None = None,
               live: dict[str, LiveTranscript] | None = None) -> str | None:  # fmt: skip
        """The row filter: None when every indexed video is searched (so vector indexes are used as-is);
        :data:`NOTHING_INDEXED` when only live transcripts can be searched."""
        catalog = self._catalog()
        for video_id in opts.videos:
            if video_id not in (live or {}):
                self._known(video_id, opts.mode)
        if not catalog["indexed"] or self.index.dataset("scenes") is None and self.index.dataset("speech") is None:
            if live:
                return NOTHING_INDEXED
            if not catalog["ids"]:
                raise NotFound(f"the library {self.lib.root} has no videos", hint="ingest some: vstream ingest FILE --index")
            raise NotFound("nothing is indexed yet", hint="run vstream index")
        chosen = self._chosen(opts)
        if only is not None:
            chosen = set(only) if chosen is None else chosen & set(only)
        if chosen is None:
            # rows of videos that lost their index state (re-ingested, not yet re-indexed) are stale
            stale = catalog["ids"] - catalog["indexed"]
            return f"video_id NOT IN ({', '.join(quote(v) for v in sorted(stale))})" if stale else None
        pool = sorted(chosen & catalog["indexed"]) or ["\x00none"]  # an impossible id: valid and empty
        return f"video_id IN ({', '.join(quote(v) for v in pool)})"

    def _known(self, video_id: str, mode: str) -> None:
        """A clear error for ``--video ID`` that names no library video: "no video" with suggestions,
        or, for a live event with nothing of it searchable yet, what would make it searchable."""
        from vstream import live as lv

        try:
            self.lib.get(video_id)
        except NotFound:
            if not (lv.events_dir(self.lib) / video_id / lv.STATE).is_file():
                raise
            if mode == "peaks":
                raise NotFound(f"live event {video_id}: no loudness measured yet (recorded with --no-highlights, "
                               "or no fragment complete)", hint=f"once it has ended, vstream live highlights {video_id} measures it")
            raise NotFound(f"live event {video_id}: nothing of it is transcribed or read yet",
                           hint=f"vstream index --follow {video_id} transcribes it as it records "
                                f"(--ocr reads its on-screen text); --mode peaks finds its loud moments now")  # fmt: skip

    def _submit(self, job):
        """Run one list's query in the pool: the lists search side by side (Lance releases the GIL)."""
        if getattr(self, "_pool", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vstream-search")
        return self._pool.submit(job)

    def _keyword(self, query: str, where: str | None, k: int, kind: str | None) -> list:
        jobs = []
        if kind in (None, "speech"):
            jobs.append(lambda: [Hit(r["video_id"], r["start"], r["end"], "speech", "keyword-transcript", r["_score"],
                                     r["text"]) for r in self.index.fts("speech", query, k, where)])  # fmt: skip
        if kind in (None, "scene"):
            jobs.append(lambda: [Hit(r["video_id"], r["start"], r["end"], "scene", "keyword-scene", r["_score"], r["text"],
                                     r.get("thumbnail", "")) for r in self.index.fts("scenes", query, k, where)])  # fmt: skip
        return jobs

    def _query_vector(self, query: str):
        embedder = self.embedder()
        check_language(query, embedder.name, getattr(embedder, "multilingual", False))
        return query, embedder.embed_queries([query])[0]

    def _semantic(self, vector, where: str | None, k: int, kind: str | None) -> list:
        embedder = self.embedder()
        query, q = vector
        jobs = []

        def nearest(table: str, kind_: str, source: str, text_col: str, thumb: bool):
            extra = [text_col] + (["thumbnail"] if thumb else [])
            rows = self.index.nearest(table, "vector", q, k, where, extra)
            sims = [(r, float(embedder.comparable(1 - r["_distance"]))) for r in rows]  # on MiniLM's scale
            return [Hit(r["video_id"], r["start"], r["end"], kind_, source, 1 - r["_distance"], r[text_col],
                        r.get("thumbnail", ""), calibrate(sim, SEMANTIC_RANGE))
                    for r, sim in sims if r[text_col] and sim >= SEMANTIC_FLOOR]  # fmt: skip

        if kind in (None, "speech"):
            jobs.append(lambda: nearest("speech", "speech", "transcript", "text", False))
        if kind in (None, "scene"):
            jobs.append(lambda: nearest("scenes", "scene", "description", "description", True))
            jobs.append(lambda: nearest("onscreen", "scene", "onscreen", "text", True))
            clip = self.clip()
            if clip is not None:
                cq = clip.embed_texts([query])[0]
                jobs.append(lambda: self._clip_hits(cq, k, where))
        return jobs

    def _clip_hits(self, vector, k: int, where: str) -> list[Hit]:
        """CLIP frames nearest the query, reported as their scenes (best frame per scene)."""
        rows = self.index.nearest("clip", "vector", vector, k, where, [])
        ids = sorted({r["scene"] for r in rows})
        scenes = {
            s["row_id"]: s
            for s in (self.index.rows("scenes", f"row_id IN ({', '.join(quote(i) for i in ids)})",
                                      ["row_id", "start", "end", "thumbnail"]) if ids else [])  # fmt: skip
        }
        hits: dict[str, Hit] = {}
        for r in rows:
            scene = scenes.get(r["scene"])
            if scene is None or r["scene"] in hits or 1 - r["_distance"] < CLIP_FLOOR:
                continue
            hits[r["scene"]] = Hit(r["video_id"], scene["start"], scene["end"], "scene", "clip", 1 - r["_distance"],
                                   "", scene["thumbnail"], calibrate(1 - r["_distance"], CLIP_RANGE))  # fmt: skip
        return list(hits.values())

    def _peaks(self, opts: SearchOptions, where: str | None) -> list[tuple[Hit, float]]:
        from vstream.index.loudness import peaks

        rows = self.index.rows("loudness", where, ["video_id", "step", "lufs"])
        return [peak_hit(r["video_id"], t, lufs) for r in rows
                for t, lufs in peaks(r["lufs"], limit=max(opts.limit, 5), step=r["step"])]  # fmt: skip

    def sentences(self, video_ids: list[str]) -> dict[str, Any]:
        """Each video's sentences as arrays (start, end, text; in time order), the ones not yet kept
        read in one query: one query per video, made into Python rows, was the slowest part of a search."""
        import numpy as np

        catalog = self._catalog()
        cache = catalog["transcripts"]
        for v in video_ids:  # re-ingested, not re-indexed: its rows describe the earlier media
            if v not in catalog["indexed"]:
                cache[v] = (np.zeros(0), np.zeros(0), None, [])
        missing = sorted({v for v in video_ids if v not in cache})
        if missing:
            ds = self.index.dataset("speech")
            where = f"video_id IN ({', '.join(quote(v) for v in missing)})"
            table = ds.to_table(columns=["video_id", "start", "end", "text", "language"], filter=where) if ds is not None else None
            ids = np.asarray(table["video_id"].to_numpy(zero_copy_only=False)) if table is not None else np.array([])
            while cache and len(cache) + len(missing) > TRANSCRIPT_CACHE:
                cache.pop(next(iter(cache)))
            for video_id in missing:
                rows = table.take(np.flatnonzero(ids == video_id)).sort_by("start") if table is not None else None
                cache[video_id] = (
                    (rows["start"].to_numpy(), rows["end"].to_numpy(), rows["text"], rows["language"].to_pylist())
                    if rows is not None and rows.num_rows else (np.zeros(0), np.zeros(0), None, [])
                )  # fmt: skip
        return {v: cache[v] for v in video_ids}

    def transcript(self, video_id: str) -> list[dict]:
        """A video's sentences, ``{start, end, text}`` in time order (captions read them)."""
        starts, ends, texts, _ = self.sentences([video_id])[video_id]
        if texts is None:
            return []
        return [{"start": float(a), "end": float(b), "text": t} for a, b, t in zip(starts, ends, texts.to_pylist())]

    def said(self, video_id: str, start: float, end: float) -> str:
        """What was said between ``start`` and ``end`` (the sentences that overlap it)."""
        import numpy as np

        starts, ends, texts, _ = self.sentences([video_id])[video_id]
        inside = np.flatnonzero((ends > start) & (starts < end))
        return " ".join(t.strip() for t in texts.take(inside).to_pylist()) if len(inside) else ""

    def spoken_language(self, video_id: str, start: float, end: float) -> str | None:
        """The language spoken longest between ``start`` and ``end`` (None: nobody speaks)."""
        spoken = self.language_seconds(video_id, start, end)
        return max(spoken, key=spoken.get) if spoken else None

    def language_seconds(self, video_id: str, start: float, end: float, into: dict | None = None) -> dict[str, float]:
        """Seconds spoken per language between ``start`` and ``end`` (added to ``into`` when given)."""
        from vstream.index.transcript import language_seconds

        starts, ends, _, languages = self.sentences([video_id])[video_id]
        return language_seconds(zip(starts, ends, languages), start, end, into)

    def faces(self) -> dict[str, Any]:
        """Every video's face tracks with who they are (read once per catalog change)."""
        catalog = self._catalog()
        if "faces" not in catalog:
            from vstream import people

            catalog["faces"] = people.all_tracks(self.lib)
        return catalog["faces"]

    def _scene_thumbnails(self, video_ids: list[str]) -> dict[str, list[tuple[float, float, str]]]:
        """Each video's scenes as ``(start, end, thumbnail)``: the ones not yet kept read in one query,
        then kept until the catalog changes (warm searches read nothing more)."""
        cache = self._catalog().setdefault("shots", {})
        missing = sorted({v for v in video_ids if v not in cache})
        if missing and self.index.dataset("scenes") is not None:
            where = f"video_id IN ({', '.join(quote(v) for v in missing)})"
            for v in missing:
                cache[v] = []
            for r in self.index.rows("scenes", where, ["video_id", "start", "end", "thumbnail"]):
                cache[r["video_id"]].append((r["start"], r["end"], r["thumbnail"]))
        return {v: cache.get(v, []) for v in video_ids}

    def _fill(self, moments: list[Moment], live: dict[str, LiveTranscript] | None = None) -> None:
        """The transcript text inside each moment, who is on screen, and a thumbnail for moments found without one."""
        live = live or {}
        for m in moments:  # what a live transcript says (the index does not hold it yet); nobody is recognised
            if m.video_id in live:
                said, m.language = live[m.video_id].said(m.start, m.end)
                m.text = m.text or said  # (a scene found by its on-screen text shows that text)
                if not m.live:
                    video = self._video(m.video_id)
                    m.thumbnail = str(self.lib.root / video.media_dir / video.meta["files"]["thumbnail"])
        moments = [m for m in moments if m.video_id not in live]
        self.sentences([m.video_id for m in moments])  # one read for all of them
        faces = self.faces()
        shots = self._scene_thumbnails([m.video_id for m in moments if not m.thumbnail])
        for m in moments:
            seen: list[str] = []
            for start, end, pid, name, hidden in faces.get(m.video_id, ()):
                if not hidden and end > m.start and start < m.end and (name or f"p{pid}") not in seen:
                    seen.append(name or f"p{pid}")
            m.people = seen
            if not m.text:  # what was said in it (a scene hit keeps the words it was found by)
                m.text = self.said(m.video_id, m.start, m.end)
            m.language = self.spoken_language(m.video_id, m.start, m.end)
            if not m.thumbnail:  # the picture of the scene it starts in (a person's moment shows them), else the video's
                inside = [t for a, b, t in shots.get(m.video_id, ()) if a <= m.start + 0.01 < b and t]
                video = self._video(m.video_id)
                m.thumbnail = inside[0] if inside else str(Path(video.media_dir) / video.meta["files"]["thumbnail"])
            if m.thumbnail:
                m.thumbnail = str(self.lib.root / m.thumbnail)


def live_transcript(event, lines: list, shown: list = (), loudness: list[float] = ()) -> LiveTranscript:
    """An event's kept lines (on-screen texts, loudness) with what searching them needs from its takes."""
    from vstream.live_onscreen import runs

    bounds, takes, at = [], [], 0.0
    for take in event.takes:
        takes.append((at, take.started_at))
        for fragment in take.fragments:
            bounds.append(to_ticks(at))
            at += fragment.duration
    return LiveTranscript(event.id, event.video, lines, bounds, at, takes, screen=runs(list(shown)),
                          loudness=list(loudness))


def primary(language: str) -> str:
    """The language of a BCP 47 tag, as the index stores it (Whisper's codes): pt-BR -> pt."""
    return language.split("-")[0].lower()


def both(where: str | None, condition: str) -> str:
    return f"({where}) AND {condition}" if where else condition


def overlaps(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    """Whether ``[start, end)`` shares time with any of ``spans``."""
    return any(b > start and a < end for a, b in spans)


def search(lib: Library, query: str, opts: SearchOptions | None = None) -> SearchResult:
    """One search (for scripts); keep a :class:`Searcher` to search many times with warm models."""
    return Searcher(lib).search(query, opts or SearchOptions())


def ffmpeg_players_warning(videos: list[Video]) -> str | None:
    """A playlist that moves between fMP4 videos whose parameter sets are only in their init sections:
    browsers and native HLS players decode it, ffmpeg's HLS demuxer (ffplay, mpv) keeps the first
    video's SPS/PPS and fails on the others."""
    distinct = {v.id: v for v in videos}
    if len(distinct) < 2 or all(v.format != "fmp4" or v.meta.get("params_in_band", True) for v in distinct.values()):
        return None
    return ("ffplay and mpv cannot decode this mix of fMP4 videos; browsers and HLS players can "
            "(for ffmpeg-based players export it with vstream render --copy, or ingest with --params-in-band)")


def write_playlist(lib: Library, moments: list[Moment], out: str | Path) -> Path:
    """The moments, in order, as one HLS media playlist over the library's segments (nothing copied)."""
    from vstream.compose.playlist import Clip, media_playlist, place, source_for
    from vstream.library import atomic_write

    path = Path(out).expanduser().absolute()
    if path.suffix != ".m3u8":
        raise UsageError(f"--playlist {out}: the file name must end in .m3u8")
    path.parent.mkdir(parents=True, exist_ok=True)
    clips = []
    for m in moments:
        video = lib.get(m.video_id)
        source = source_for(video, lib.path(video, video.meta["files"]["media"]), relative_to=path.parent)
        clips.append(Clip(source, to_ticks(m.start), to_ticks(m.end)))
    atomic_write(path, media_playlist(place(clips)).render())
    return path
