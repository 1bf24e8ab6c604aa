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
        keep = ("start", "end", "text", "words", "language")
        return json.dumps([{k: r[k] for k in keep if k in r} for r in rows], indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown transcript format {fmt!r}")
