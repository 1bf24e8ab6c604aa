"""Transcripts of the index's speech rows as WebVTT, SRT, plain text or JSON (pure rendering)."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("vtt", "srt", "txt", "json")


def stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cue_text(text: str) -> str:
    """Cue payloads must not contain "-->" or blank lines; escape the WebVTT specials."""
    text = " ".join(text.split()).replace("-->", "->")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    rows = sorted(rows, key=lambda r: (r["start"], r["end"]))
    if fmt == "vtt":
        cues = [f"{stamp(r['start'], '.')} --> {stamp(r['end'], '.')}\n{cue_text(r['text'])}" for r in rows]
        return "WEBVTT\n\n" + "".join(c + "\n\n" for c in cues)
    if fmt == "srt":
        cues = [f"{i}\n{stamp(r['start'], ',')} --> {stamp(r['end'], ',')}\n{' '.join(r['text'].split())}"
                for i, r in enumerate(rows, 1)]  # fmt: skip
        return "".join(c + "\n\n" for c in cues)
    if fmt == "txt":
        return "".join(" ".join(r["text"].split()) + "\n" for r in rows)
    if fmt == "json":
        keep = ("start", "end", "text", "words", "language", "english")
        return json.dumps([{k: r[k] for k in keep if k in r} for r in rows], indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown transcript format {fmt!r}")


def stored_rows(lib, video) -> list[dict[str, Any]]:
    """A video's transcript rows: from ``index/transcripts/ID.json`` (written with the rows; no LanceDB
    import, a stored transcript prints in a few ms), else from the speech table (libraries indexed
    before that file existed)."""
    from vstream.errors import NotFound

    state = lib.index_state(video.id).get("speech")
    if state is None:
        raise NotFound(f"{video.id} has no transcript yet", hint=f"run `vstream index {video.id} --only speech`")
    path = lib.root / "index" / "transcripts" / f"{video.id}.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("media_dir") == state["media_dir"]:  # written for this ingest of the video
            return stored["rows"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    from vstream.index.store import Store

    table = Store(lib).table("speech", create=False)
    quoted = video.id.replace("'", "''")
    return table.search().where(f"video_id = '{quoted}'").limit(None).to_list() if table is not None else []


def stored_json(rows: list[dict[str, Any]], media_dir: str) -> str:
    """What :func:`stored_rows` reads: the rows without their vectors, and which media they describe."""
    keep = ("start", "end", "text", "words", "language", "english")
    return json.dumps({"media_dir": media_dir, "rows": [{k: r[k] for k in keep if k in r} for r in rows]},
                      ensure_ascii=False, separators=(",", ":"))  # fmt: skip


def translations(lib, video) -> list[tuple[int, float, float, str]]:
    """The stored English translations of a video's sentences (``vstream index --english``): (place in
    the transcript file, which is N of the speech table's row id ``VIDEO:N``, start, end, English);
    [] when there are none, or the file describes earlier media."""
    path = lib.root / "index" / "transcripts" / f"{video.id}.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("media_dir") != video.media_dir:
            return []
        return [(n, r["start"], r["end"], r["english"]) for n, r in enumerate(stored["rows"]) if r.get("english")]
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return []


def spoken_languages(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of speech per language, most spoken first."""
    seconds = language_seconds((r["start"], r["end"], r.get("language")) for r in rows)
    return {k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}


def language_seconds(sentences, start: float = float("-inf"), end: float = float("inf"),
                     into: dict[str, float] | None = None) -> dict[str, float]:  # fmt: skip
    """Seconds of ``(start, end, language)`` sentences per language inside ``[start, end]`` (pure),
    added to ``into`` when given (several clips of a stream)."""
    seconds = {} if into is None else into
    for a, b, lang in sentences:
        overlap = min(b, end) - max(a, start)
        if lang and overlap > 0:
            seconds[lang] = seconds.get(lang, 0.0) + overlap
    return seconds


def languages(lib, video) -> dict[str, Any]:
    """What ``vstream info`` says of a video's languages: spoken (seconds each; None before the
    speech stage ran) and its subtitle files."""
    from vstream import subtitles
    from vstream.errors import NotFound

    try:
        rows = stored_rows(lib, video)
        spoken: dict[str, float] | None = spoken_languages(rows)
    except NotFound:
        rows, spoken = [], None
    return {"spoken": spoken, "subtitles": sorted(r["language"] for r in subtitles.listing(lib, video)),
            "translated_to_english": sum(1 for r in rows if r.get("english"))}  # sentences (vstream index --english)
