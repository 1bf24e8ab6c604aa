"""Live recipes: archive clips, then a live event's highlights as they are found, as one EVENT
playlist that only grows.

A recipe's last clip may be ``live: EVENT`` (``select: highlights``, the default, and ``limit:``):
the clips before it are composed as usual (explicit, search, tags, loudest...), and the event's
highlights (:mod:`vstream.live_highlights`) follow them, each appended as soon as its clip is
recorded. The stream keeps the RFC 8216 live rules: one target duration from the start (the
larger of the archive's and the event's), media sequence 0 and nothing ever removed or changed
(a player's reload only sees more), ``EXT-X-PROGRAM-DATE-TIME`` at every block (archive blocks
are dated as a pre-show ending when the event started; highlights carry their wall-clock time),
``EXT-X-START:TIME-OFFSET=0`` (viewers start at the beginning, not at the live edge), published
only once it holds three target durations, ``EXT-X-ENDLIST`` once the event has ended.

``vstream compose --follow`` rewrites the stream's files as it grows; ``vstream serve`` renders
it at each request (the archive part is composed once per recipe edit or library change).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from vstream.compose.api import ComposedClip, ComposeResult, check_user
from vstream.compose.playlist import reordering_delay
from vstream.compose.recipe import Recipe, RecipeError
from vstream.errors import NotFound
from vstream.library import AUDIO_RATE, Library, atomic_write, stored_audio_rate
from vstream.live import LIVE_DIR, Event, Span, follows, iso, parse_time, span_began, span_lines
from vstream.timecode import TICKS

# what a recipe with a live: clip may not have (yet): they need the whole stream up front
NOT_LIVE = ("captions", "breaks", "output")
FOREVER = 10**15  # ticks: a live stream's length for its overlays and texts (one without an end is on to the end)
LIVE_FIELDS = {"live", "select", "limit", "said", "search", "min_score"}
MAX_SAID = 20  # words or phrases a live clip's said: may list
LIVE_MIN_SCORE = 0.5  # a live search: clip's default: what a sentence's evidence must reach to be a highlight
ROOM = TICKS // 1000  # between blocks of a served live stream's timeline (see LiveStream._shifts)
_HEADER = ("#EXTM3U", "#EXT-X-VERSION:", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-TARGETDURATION:",
           "#EXT-X-MEDIA-SEQUENCE:", "#EXT-X-PLAYLIST-TYPE:", "#EXT-X-ENDLIST")  # fmt: skip


@dataclass(frozen=True)
class LiveEntry:
    event: str
    limit: int | None
    path: str  # clips[i], for errors
    said: tuple[str, ...] = ()  # highlights are where the live transcript says one of these (index --follow)
    search: str | None = None  # or where what it says matches this search (words and meaning)
    min_score: float = LIVE_MIN_SCORE  # (how well a sentence must match the search)

    @property
    def heard(self) -> bool:
        """Whether the highlights come from the live transcript (said: or search:)."""
        return bool(self.said or self.search)

    def never(self) -> str:
        """What the transcript never did, when no highlight was found in it."""
        if self.said:
            return f"its transcript never says {' or '.join(map(repr, self.said))}"
        return f"nothing in its transcript matches the search {self.search!r}"


def live_entry(recipe: Recipe, data: dict[str, Any] | None = None) -> LiveEntry | None:
    """The recipe's ``live:`` clip, checked (one, the last of ``clips:``); None for an ordinary recipe.
    ``data`` is the recipe rendered with the user's vars (the event id may be one)."""
    raw = recipe.data.get("clips") or []
    where = [i for i, c in enumerate(raw) if isinstance(c, dict) and "live" in c]
    if not where:
        return None
    i = where[0]
    path = f"clips[{i}]"
    if len(where) > 1 or i != len(raw) - 1:
        raise RecipeError(f"{recipe.where(path)}: {path}: a recipe follows one live event, as its last clip",
                          hint="put the live: clip last; archive clips go before it")  # fmt: skip
    extra = sorted(set(raw[i]) - LIVE_FIELDS)
    if extra:
        raise RecipeError(f"{recipe.where(f'{path}.{extra[0]}')}: {path}.{extra[0]}: not with live: "
                          f"(a live clip takes {', '.join(sorted(LIVE_FIELDS))})")  # fmt: skip
    if raw[i].get("select", "highlights") not in ("highlights", "loudest"):
        raise RecipeError(f"{recipe.where(f'{path}.select')}: {path}.select: a live event gives its highlights "
                          "(select: highlights)")  # fmt: skip
    for key in NOT_LIVE:
        if key in recipe.data:
            raise RecipeError(f"{recipe.where(key)}: {key}: not available with a live: clip yet",
                              hint=f"compose the archive part with {key}: in a recipe of its own")  # fmt: skip
    spec = (data or recipe.data)["clips"][i]
    limit = spec.get("limit")
    if limit is not None:
        try:
            limit = int(str(limit))
        except ValueError:
            limit = 0
        if limit < 1:
            raise RecipeError(f"{recipe.where(f'{path}.limit')}: {path}.limit: a whole number of highlights, at least 1")
    from vstream.library import ID_RE

    event = str(spec["live"])
    if data is not None and not ID_RE.fullmatch(event):
        raise RecipeError(f"{recipe.where(f'{path}.live')}: {path}.live: {event!r} is not an event id")
    said = spec.get("said")
    if said is not None:
        terms = [said] if isinstance(said, (str, int, float)) else said
        if (not isinstance(terms, list) or not 1 <= len(terms) <= MAX_SAID
                or not all(isinstance(t, (str, int, float)) and 0 < len(str(t).strip()) <= 100 for t in terms)):  # fmt: skip
            raise RecipeError(f"{recipe.where(f'{path}.said')}: {path}.said: a word or phrase, or a list of 1-{MAX_SAID}",
                              hint='e.g. said: goal, or said: ["goal", "{{player}}"]')  # fmt: skip
        said = tuple(str(t).strip() for t in terms)
    search = spec.get("search")
    if search is not None and (said or not isinstance(search, (str, int, float)) or not 0 < len(str(search).strip()) <= 500):
        raise RecipeError(f"{recipe.where(f'{path}.search')}: {path}.search: "
                          + ("said: or search:, one of them" if said else "a query of 1-500 characters"),
                          hint='e.g. search: "the part about the budget"')  # fmt: skip
    min_score = spec.get("min_score", LIVE_MIN_SCORE)
    if "min_score" in spec and search is None:
        raise RecipeError(f"{recipe.where(f'{path}.min_score')}: {path}.min_score: goes with search:")
    try:
        min_score = float(str(min_score))
    except ValueError:
        min_score = -1.0
    if not 0 < min_score <= 1:
        raise RecipeError(f"{recipe.where(f'{path}.min_score')}: {path}.min_score: a number in 0-1 (how well a "
                          f"sentence must match; {LIVE_MIN_SCORE} by default)")  # fmt: skip
    return LiveEntry(event, limit, path, said or (), " ".join(str(search).split()) if search is not None else None, min_score)


# --- the pure part -----------------------------------------------------------------------------


def archive_body(text: str, start: datetime) -> tuple[list[str], float, int]:
    """A composed (VOD) media playlist's segment lines with a program date time at each block, dated
    from ``start`` on (pure); with its seconds and target duration."""
    body: list[str] = []
    seconds, target, block = 0.0, 1, True
    for line in text.splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        if not line or line.startswith(_HEADER):
            continue
        if line == "#EXT-X-DISCONTINUITY":
            block = True
        elif line.startswith("#EXTINF:"):
            if block:
                body.append(f"#EXT-X-PROGRAM-DATE-TIME:{iso(start + timedelta(seconds=seconds))}")
                block = False
            seconds += float(line[8:].split(",")[0])
        body.append(line)
    return body, seconds, target


def rebased_lines(span: Span, base: str, event_id: str, shift: tuple[int, int], *,
                  after_discontinuity: bool, allowance: int = 0) -> list[str]:  # fmt: skip
    """A span as vstream serve hands it out in a composed stream (pure): each fragment a resource of its
    own, moved ``shift`` = (ticks at 90 kHz, fragment numbers) onto the stream's timeline, with the take's parameter sets in
    front of its first frame ("p": players that keep the archive's init section decode it) and, after
    a discontinuity, the init section in front ("i": VLC); see vstream.compose.delivery. ``allowance``:
    the stream's reordering allowance in unsigned timing (compose.playlist.allowance)."""
    path = f"{LIVE_DIR}/{event_id}/{span.take.media}"
    lines = [f'#EXT-X-MAP:URI="{base}r/init/{path}"', f"#EXT-X-PROGRAM-DATE-TIME:{span_began(span)}"]
    delta = f"{shift[0]}d{allowance}" if allowance else str(shift[0])
    for k, f in enumerate(span.fragments):
        flags = "p" + ("i" if k == 0 and after_discontinuity else "")
        lines += [f"#EXTINF:{f.duration:.6f},", f"{base}r/{delta}/{shift[1]}/{f.offset}+{f.length}{flags}/{path}"]
    return lines


def render(archive: tuple[list[str], float, int] | None, chosen: list[list[Span]], *, event_target: int,
           prefix: str, ended: bool, rebased: tuple[str, str, list[tuple[int, int]]] | None = None,
           allowance: int = 0) -> str | None:  # fmt: skip
    """The live stream's media playlist (pure): the archive's lines (see :func:`archive_body`), then each
    highlight's spans behind a discontinuity, as byte ranges of ``prefix`` + the take's media; None
    while it is shorter than three target durations (and the event goes on) or holds nothing.
    ``rebased``: as vstream serve hands it out, (base URL, event id, a shift per span) for one
    continuous timeline (see :func:`rebased_lines`), in unsigned timing with ``allowance``."""
    from vstream.live_highlights import PUBLISH_TARGETS

    body, seconds, target = archive or ([], 0.0, 1)
    target = max(target, event_target)
    tail: list[str] = []
    n, before = 0, None
    for spans in chosen:
        for span in spans:
            on = follows(before, span)  # the fragment after the last one played: the same timeline
            cut = bool(body or tail) and not on
            if rebased is not None:
                lines = rebased_lines(span, rebased[0], rebased[1], rebased[2][n], after_discontinuity=cut,
                                      allowance=allowance)  # fmt: skip
            else:
                lines = span_lines(span, prefix)
            tail += (["#EXT-X-DISCONTINUITY"] if cut else []) + (lines[1:] if on else lines)
            seconds += sum(f.duration for f in span.fragments)
            n, before = n + 1, span
    if not (body or tail) or (not ended and seconds < PUBLISH_TARGETS * target):
        return None
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-START:TIME-OFFSET=0",
             *body, *tail]  # fmt: skip
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master(archive_master: str | None, codecs: list[str], bandwidth: int, session: Sequence[str] = ()) -> str:
    """The stream's master playlist (pure): the archive's with the event's codecs added, or one of its own;
    ``session``: the recipe's overlays and texts (EXT-X-SESSION-DATA lines) for vstream's player."""
    from vstream.media.codecs import combined

    if archive_master is None:
        attrs = f"BANDWIDTH={max(1, bandwidth)}" + (f',CODECS="{",".join(combined(codecs))}"' if codecs else "")
        return "\n".join(["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS", *session,
                          f"#EXT-X-STREAM-INF:{attrs}", "video.m3u8"]) + "\n"  # fmt: skip
    out = []
    for line in archive_master.splitlines():
        if line.startswith("#EXT-X-STREAM-INF:") and session:
            out += session
            session = ()
        if line.startswith("#EXT-X-STREAM-INF:") and codecs:
            head, sep, rest = line.partition('CODECS="')
            if sep:
                had, _, after = rest.partition('"')
                line = f'{head}CODECS="{",".join(combined(had.split(",") + codecs))}"{after}'
            else:
                line += f',CODECS="{",".join(combined(codecs))}"'
        out.append(line)
    return "\n".join(out) + "\n"


def live_session(lib: Library, recipe: Recipe, data: dict) -> list[str]:
    """A live recipe's overlays and texts as the master playlist's EXT-X-SESSION-DATA (checked as
    compose checks them: images by their bytes, texts by length and colour)."""
    from vstream.compose.api import Timeline
    from vstream.compose.core import decorations

    tracks = decorations(recipe, data)
    if not tracks:
        return []
    timeline = Timeline(lib, name=data["name"])
    timeline.origin = recipe.path.name
    for track in tracks:
        timeline.add_track(track)
    return timeline.session_data(FOREVER)


# --- one user's live stream ------------------------------------------------------------------------


class LiveStream:
    """One user's stream of a live recipe: the archive part composed once, the live part re-read at
    each :meth:`result` (cheap: the event's and its highlights' JSON)."""

    def __init__(self, lib: Library, recipe: Recipe, values: dict[str, str], *, user: str = "guest",
                 base_url: str | None = None, searcher=None, rebase: bool = False, lock=None,
                 unsigned: bool = False):  # fmt: skip
        from vstream import live
        from vstream.compose.core import compose

        check_user(user)
        self.lib, self.recipe, self.user, self.base_url = lib, recipe, user, base_url
        values = values | {"user": values.get("user", user)}
        data = recipe.render(values)
        entry = live_entry(recipe, data)
        if entry is None:
            raise RecipeError(f"{recipe.path.name}: the recipe has no live: clip",
                              hint="--follow is for recipes that follow a live event")  # fmt: skip
        self.entry, self.searcher = entry, searcher
        self._lock = lock  # held while the searcher is used (vstream serve shares one between threads)
        try:
            live.load(lib, entry.event)
        except NotFound as exc:
            raise RecipeError(f"{recipe.where(entry.path + '.live')}: {entry.path}.live: {exc.message}",
                              hint="see vstream live list")  # fmt: skip
        self.archive: ComposeResult | None = None
        # overlays and texts are the whole stream's: timed from its start, one without an end on to the end
        self.session = live_session(lib, recipe, data)
        if len(data["clips"]) > 1:
            kept = {k: v for k, v in recipe.data.items() if k not in ("overlays", "text")}
            before = Recipe(recipe.path, {**kept, "clips": recipe.data["clips"][:-1]}, recipe.lines)
            self.archive = compose(lib, before, values, user=user, base_url=base_url, write=False, searcher=searcher,
                                   rebase=rebase, mixed=rebase, unsigned=unsigned)  # fmt: skip
        self.out_dir = lib.root / "streams" / data["name"] / user
        folder = lib.root / live.LIVE_DIR / entry.event
        if base_url:
            self.prefix = base_url.rstrip("/") + f"/{live.LIVE_DIR}/{entry.event}/"
        else:
            self.prefix = os_relpath(folder, self.out_dir) + "/"
        # served: the take's fragments moved onto the stream's one timeline, after the archive's
        self.rebase = rebase
        self.base = (base_url or "/").rstrip("/") + "/"
        self._archive_ticks, self.allowance = 0, 0
        if self.archive is not None:
            self._archive_ticks = sum(round(float(line[8:].split(",")[0]) * TICKS)
                                      for line in self.archive.files["video.m3u8"].splitlines() if line.startswith("#EXTINF:"))  # fmt: skip
            # its last clip's frames are shown up to a reordering delay after the timeline's end (B-frames); in
            # unsigned timing every frame and sound of the stream, live ones too, is shown the archive's
            # allowance after its decode time (compose.playlist.allowance)
            videos = {v: lib.get(v) for v in dict.fromkeys(c.video_id for c in self.archive.clips)}
            if rebase and unsigned:
                self.allowance = max(map(reordering_delay, videos.values()), default=0)
            elif self.archive.clips:
                self._archive_ticks += int(videos[self.archive.clips[-1].video_id].meta.get("video_delay") or 0)
        self._archive_rates = [(v, stored_audio_rate(lib.get(v).meta))
                               for v in dict.fromkeys(c.video_id for c in (self.archive.clips if self.archive else []))]  # fmt: skip
        self._starts: dict[tuple[int, int], tuple[int, int]] = {}  # (take, offset) -> (decode time, fragment number)
        self._codecs: tuple[list[str], int, int | None] | None = None

    def result(self, *, write: bool = False, event: Event | None = None) -> ComposeResult:
        """The stream now; :class:`vstream.live.NotYet` until it holds three target durations. ``write``:
        its files are rewritten (atomically) when they changed. ``event``: the event as just loaded (a
        batch of users' streams of one event reads it once)."""
        from vstream import live, live_highlights as lh, live_speech as ls

        event = event if event is not None and event.id == self.entry.event else live.load(self.lib, self.entry.event)
        ended = event.status == "ended" and event.pid is None  # (finished: its highlights are final)
        unheard = ""  # a said:/search: stream whose event nobody transcribes does not grow: say so
        if self.entry.heard:
            ended = ended and ls.transcribed(self.lib, event)  # (a said: stream ends with its transcript)
            found = self._said(event, event.status == "ended" and event.pid is None, ended)
            if not ended and not ls.transcribing(self.lib, event.id):
                unheard = (f"{event.id}'s speech is not being transcribed: {self._field()} highlights need "
                           f"vstream index --follow {event.id}")  # fmt: skip
        else:
            state = lh.load_state(self.lib, event.id)
            if state is None and ended:  # recorded with --no-highlights: found now (once)
                lh.highlights(self.lib, event.id)
                state = lh.load_state(self.lib, event.id)
            if state is None:
                raise RecipeError(f"{self.recipe.path.name}: {event.id} is recorded without highlights (--no-highlights)",
                                  hint=f"they are found once it has ended (vstream live highlights {event.id})")  # fmt: skip
            found = state.highlights
        chosen = lh.ready(event, found, ended=ended)[: self.entry.limit]
        if not event.started_at:  # (the archive's dates count back from the event's start)
            raise live.NotYet(f"not yet: {event.id} has not started", hint="ask again later, or compose it with --follow",
                              retry_after=event.target)  # fmt: skip
        archive = None
        if self.archive is not None:
            began = parse_time(event.started_at)
            archive = archive_body(self.archive.files["video.m3u8"], began - timedelta(seconds=self.archive.duration))
        lists = [spans for _, spans in chosen]
        rebased = None
        if self.rebase:
            rebased = (self.base, event.id, self._shifts([s for spans in lists for s in spans], event.id))
        text = render(archive, lists, event_target=event.target, prefix=self.prefix, ended=ended, rebased=rebased,
                      allowance=self.allowance)  # fmt: skip
        if text is None and ended and self.entry.heard:
            raise NotFound(f"{event.id} ended and {self.entry.never()}: {self.recipe.path.name} has nothing to play",
                           hint=f"see what was said: live/{event.id}/speech.jsonl")  # fmt: skip
        if text is None and ended:
            raise NotFound(f"{event.id} ended without highlights: {self.recipe.path.name} has nothing to play",
                           hint=f"see vstream live highlights {event.id}")  # fmt: skip
        if text is None:
            have = (archive[1] if archive else 0.0) + sum(f.duration for _, spans in chosen for s in spans for f in s.fragments)
            raise live.NotYet(f"not yet: {self.recipe.path.name} for {self.user} holds {have:.0f} s of {event.id}; "
                              f"it is published at {lh.PUBLISH_TARGETS * max(event.target, archive[2] if archive else 1)} s",
                              hint=unheard or "ask again later, or compose it with --follow", retry_after=event.target)  # fmt: skip
        warnings = (list(self.archive.warnings) if self.archive else []) + ([unheard] if unheard else [])
        if self.archive is not None and not self.rebase and chosen:
            warnings.append("static playlists: hls.js and Safari play this stream whole; ffmpeg (ffplay, mpv), "
                            "GStreamer and VLC do not where the live highlights follow the archive clips: hand it "
                            "out from `vstream serve` (one continuous timeline)")  # fmt: skip
        if ended and not chosen:
            why = self.entry.never() if self.entry.heard else "without highlights"
            warnings.append(f"{event.id} ended {why}: the stream is the clips before it alone")
        codecs, bandwidth, rate = self._event_codecs(event)
        if chosen and rate and self.archive is not None:
            warnings += live_rate_note(event.id, rate, self._archive_rates)
        files = {"video.m3u8": text,
                 "master.m3u8": master(self.archive.files["master.m3u8"] if self.archive else None, codecs, bandwidth,
                                       self.session)}  # fmt: skip
        clips = list(self.archive.clips) if self.archive else []
        at = self.archive.duration if self.archive else 0.0
        for h, spans in chosen:
            length = sum(f.duration for s in spans for f in s.fragments)
            clips.append(ComposedClip(f"live:{event.id}", h.start, h.end, spans[0].start, spans[0].start + length, at,
                                      round(h.start - spans[0].start, 3)))  # fmt: skip
            at += length
        written = 0
        if write:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            for name, body in sorted(files.items()):
                target = self.out_dir / name
                if not target.exists() or target.read_text() != body:
                    atomic_write(target, body, durable=False)
                    written += len(body.encode())
        return ComposeResult(
            recipe=self.recipe.name, user=self.user, master=str(self.out_dir / "master.m3u8"),
            playlists=[str(self.out_dir / n) for n in sorted(files)], clips=clips, duration=round(at, 3),
            bytes_written=written, warnings=warnings, files=files,
            live={"event": event.id, "ended": ended, "highlights": len(chosen), "found": len(found)},
        )  # fmt: skip

    def _field(self) -> str:
        return "said:" if self.entry.said else "search:"

    def _said(self, event: Event, over: bool, transcribed: bool) -> list:
        """Highlights where the event's live transcript says one of the clip's ``said:`` terms, or where
        a sentence matches its ``search:`` (``over``: the event has ended; ``transcribed``: its speech too)."""
        from vstream import live_highlights as lh, live_speech as ls

        if over and not transcribed and not ls.transcribing(self.lib, event.id):
            raise RecipeError(f"{self.recipe.path.name}: {event.id} has ended but its speech is not transcribed to "
                              f"its end ({self._field()} needs it)", hint=f"run: vstream index --follow {event.id}")  # fmt: skip
        state = lh.load_state(self.lib, event.id)
        length = state.settings.length if state else lh.LENGTH
        import contextlib

        with self._lock or contextlib.nullcontext():  # (the transcript is parsed again only when it grew)
            if self.entry.said:
                transcript = self._searcher().live_transcript(event.id)
                lines = transcript.lines if transcript is not None else []
                return ls.said_highlights(lines, list(self.entry.said), length, lh.BEFORE)
            matches = self._searcher().live_matches(event.id, self.entry.search or "")
        return ls.line_highlights([line for line, score in matches if score >= self.entry.min_score], length, lh.BEFORE)

    def _searcher(self):
        """The search that scores the transcript's sentences (the server's warm one when it gave it)."""
        if self.searcher is None:
            from vstream.search import Searcher

            self.searcher = Searcher(self.lib)
        return self.searcher

    def _shifts(self, spans: list[Span], event_id: str) -> list[tuple[int, int]]:
        """Each span's shift: the ticks (90 kHz) that lay it right after the one before, the first after
        the archive, with a millisecond of room between them (for the rounding to each track's
        timescale: players drop a fragment that overlaps the one before), and the fragment numbers that
        continue the ones before (GStreamer's and VLC's MP4 demuxers go wrong where they go back)."""
        shifts, at = [], self._archive_ticks + ROOM
        number = (self.archive.fragments if self.archive else 0) + 1
        before = None
        for span in spans:
            if follows(before, span):  # played on without a discontinuity: moved as the span before it (whose
                shifts.append(shifts[-1])  # room after it is this one's room after it)
            else:
                first = span.fragments[0]
                key = (span.take.n, first.offset)
                if key not in self._starts:
                    self._starts[key] = self._decode_start(event_id, span.take, first.offset)
                start, n = self._starts[key]
                shifts.append((at - start, number - n))
                at += ROOM
            at += round(sum(f.duration for f in span.fragments) * TICKS)
            number += len(span.fragments)
            before = span
        return shifts

    def _decode_start(self, event_id: str, take, offset: int) -> tuple[int, int]:
        """The earliest decode time (ticks) of the tracks of the fragment at ``offset`` of a take, and its
        fragment number."""
        from vstream.errors import MediaError
        from vstream.media.fmp4 import fragment_at, fragment_number, tfdt_fields, track_timescales

        path = self.lib.root / LIVE_DIR / event_id / take.media
        with open(path, "rb") as fh:
            fh.seek(take.init[1])
            timescales = track_timescales(fh.read(take.init[0]))
            found = fragment_at(fh, offset, path.stat().st_size)
        if found is None:
            raise MediaError(f"{event_id}: no fragment at byte {offset} of {take.media}")
        starts = [value * TICKS // timescales[track] for track, _, _, value in tfdt_fields(found[1]) if track in timescales]
        if not starts:
            raise MediaError(f"{event_id}: the fragment at byte {offset} of {take.media} has no decode time")
        return min(starts), fragment_number(found[1]) or 1

    def _event_codecs(self, event: Event) -> tuple[list[str], int, int | None]:
        """The event's RFC 6381 codecs, a bandwidth (its first fragments' peak) and its audio's sample
        rate, read once."""
        if self._codecs is None:
            take = next((t for t in event.takes if t.fragments), None)
            if take is None:
                return [], 1, None
            from vstream.live import LIVE_DIR
            from vstream.media.probe import probe

            try:
                info = probe(self.lib.root / LIVE_DIR / event.id / take.media)
                codecs = [c for c in (info.video and info.video.codec_string, info.audio and info.audio.codec_string) if c]
                sample_rate = info.audio.sample_rate if info.audio else None
            except Exception:  # noqa: BLE001 - a codec string is advice to players; without it they sniff
                codecs, sample_rate = [], None
            peak = max(f.length * 8 / f.duration for f in take.fragments[:10] if f.duration > 0)
            self._codecs = (codecs, int(math.ceil(peak)), sample_rate)
        return self._codecs


def live_rate_note(event_id: str, rate: int, archive: list[tuple[str, int | None]]) -> list[str]:
    """A warning where the live event's audio rate is not the archive clips' (when they agree among
    themselves: where they do not, the archive's own warning says so)."""
    rates = {r for _, r in archive if r}
    if len(rates) != 1 or rate in rates:
        return []
    (before,) = rates
    fix = (f"re-ingest {', '.join(v for v, r in archive if r and r != rate)} with --force --resample-audio"
           if rate == AUDIO_RATE else f"have the event's encoder send {before / 1000:g} kHz audio, the archive's rate")
    return [f"{event_id}'s audio is {rate} Hz after archive clips at {before} Hz: ffmpeg (ffplay, mpv) and "
            f"GStreamer's playbin play the highlights' sound at {before} Hz (fast or slow, out of sync; hls.js, "
            f"Safari and playbin3 play it right); {fix}"]


def os_relpath(path, start) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")

