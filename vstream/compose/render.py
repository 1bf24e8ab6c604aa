"""`vstream render`: burn a composed stream's overlay, text, reframe and captions into real pixels.

For players that ignore vstream's manifest metadata (TVs, social uploads, ffplay). This is the
one place vstream re-encodes, and it says so: each clip is encoded once per look (its video,
in/out points, output size, overlay, caption cues, encoder settings) and cached under
``LIBRARY/cache/render/``, so a thousand users' reels share the clips they have in common.
The clips are then joined without another encode (concat demuxer, stream copy) into an MP4,
or segmented into an HLS folder.

Clips are read from the library's media files, not through the HLS demuxer (which drops a
keyframe interval at every backward jump of an fMP4 stream); with vstream's CMAF timing,
ffmpeg reads fMP4 video a reordering delay late, so the video input seeks that much later.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vstream.compose import captions as cap
from vstream.errors import MissingDependency, NotFound, UsageError
from vstream.index.transcript import stamp
from vstream.library import Library, atomic_write, display_size
from vstream.media import ffmpeg as ff
from vstream.progress import SILENT, Progress
from vstream.timecode import TICKS

ENCODER = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "21", "-pix_fmt", "yuv420p", "-profile:v", "high",
           "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-video_track_timescale", "90000"]  # fmt: skip
RENDER_VERSION = 2  # part of every cache key: bump when the filter graph or ENCODER changes
OVERLAY_MARGIN = 0.02  # of the frame width, from the overlay's corner (vstream's player uses the same)
FONT = "DejaVu Sans"
# drawtext takes a font file: DejaVu (Debian's fonts-dejavu-core, which `make system-deps` installs) covers
# Latin, Greek and Cyrillic; CJK text takes Noto CJK where it is installed (fonts-noto-cjk)
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
             "/usr/local/share/fonts", "/Library/Fonts")  # fmt: skip
FONT_FILES = {"sans": "DejaVuSans.ttf", "serif": "DejaVuSerif.ttf", "mono": "DejaVuSansMono.ttf"}
CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # fmt: skip
CJK_RE = re.compile("[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
TEXT_PADDING = 0.3  # of the font size: the box around a text (vstream's player uses the same)


@dataclass
class RenderResult:
    stream: str
    output: str
    duration: float
    width: int
    height: int
    clips: int
    cached: int  # clips whose encode was reused
    encoded: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FILE_SUFFIXES = (".mp4", ".m4v", ".mov")  # render writes one MP4 file; anything without a suffix is an HLS folder


def find_stream(path: str | Path) -> Path:
    """A composed stream's folder (from its master.m3u8 or its folder), or a reel's media playlist
    (what ``vstream search --playlist`` writes)."""
    p = Path(path).expanduser().absolute()
    if p.is_file() and p.suffix.lower() == ".m3u8" and p.name != "master.m3u8":
        text = p.read_text(errors="replace")[:4096]
        if "#EXTINF" in text and not (p.parent / "master.m3u8").is_file():
            return p  # a reel: clips of library videos, no overlay or captions
    folder = p if p.is_dir() else p.parent
    if not (folder / "video.m3u8").is_file() or not (folder / "master.m3u8").is_file():
        raise NotFound(f"{path}: not a composed stream (no master.m3u8 and video.m3u8 there)",
                       hint="give the master.m3u8 that vstream compose printed, or a search --playlist reel")  # fmt: skip
    return folder


def library_of(stream: Path) -> Library:
    """``LIBRARY/streams/NAME/USER`` -> the library; a reel -> the library its segment paths lead into."""
    if stream.is_file():
        import m3u8

        for seg in m3u8.loads(stream.read_text()).segments:
            target = (stream.parent / (seg.uri or "")).resolve()
            for parent in target.parents:
                if parent.name == "media" and (parent.parent / "library.json").is_file():
                    return Library.open(parent.parent)
        raise NotFound(f"{stream}: its segments are not in a library", hint="name the library with --library")
    return Library.open(stream.parents[2])


def render(stream: Path, out: str | Path, *, lib: Library | None = None, lang: str | None = None,
           progress: Progress = SILENT) -> RenderResult:  # fmt: skip
    """Burn ``stream`` into ``out``; ``lang``: the subtitle rendition to burn in (a language code of the
    stream's, or ``off``; default: the one players show first)."""
    out = Path(out).expanduser().absolute()
    as_hls = out.suffix.lower() not in FILE_SUFFIXES
    if as_hls and (out.suffix or (out.exists() and not out.is_dir())):
        raise UsageError(f"--out {out.name}: render writes an MP4 file ({', '.join(FILE_SUFFIXES)}) "
                         "or an HLS folder (a name without an extension)")  # fmt: skip
    stream = find_stream(stream)
    lib = lib or library_of(stream)
    reel = stream.is_file()
    timeline = read_timeline(lib, stream if reel else stream / "video.m3u8")
    master = "" if reel else (stream / "master.m3u8").read_text()
    session = session_data(master)
    captions = caption_file(stream, master, lang)
    cues = cap.parse(captions.read_text(encoding="utf-8"), captions.name) if captions else []
    cues = [c for c in cues if c[2].strip()]
    cache = lib.root / "cache" / "render"
    cache.mkdir(parents=True, exist_ok=True)
    videos = {c["video_id"]: lib.get(c["video_id"]) for c in timeline["clips"]}
    width, height = _size(timeline, session, videos)
    fps = _fps(videos[timeline["clips"][0]["video_id"]])
    overlays = [_overlay_file(o, cache) for o in session.get("dev.vstream.overlays", [])]
    warnings: list[str] = []
    texts = [_text_font(t, warnings) for t in session.get("dev.vstream.text", [])]
    binary = ff.find_ffmpeg().path
    parts, cached = [], 0
    for i, clip in enumerate(timeline["clips"]):
        video = videos[clip["video_id"]]
        duration = clip["end"] - clip["start"]
        local = [(max(0.0, s - clip["at"]), min(duration, e - clip["at"]), t) for s, e, t in cues
                 if e > clip["at"] and s < clip["at"] + duration]  # fmt: skip
        looks = [(o, max(0.0, o["start"] - clip["at"]), min(duration, o["end"] - clip["at"])) for o in overlays
                 if o["end"] > clip["at"] and o["start"] < clip["at"] + duration]  # fmt: skip
        words = [(t, max(0.0, t.get("start", 0.0) - clip["at"]), min(duration, t.get("end", float("inf")) - clip["at"]))
                 for t in texts if t.get("end", float("inf")) > clip["at"] and t.get("start", 0.0) < clip["at"] + duration]  # fmt: skip
        follow = _clip_path(session.get("dev.vstream.reframe") or {}, clip["at"], duration)
        key = _key(video, clip, width, height, fps, looks, local, follow, words)
        part = cache / f"{key}.mp4"
        parts.append(part)
        progress.begin(f"rendering clip {i + 1}/{len(timeline['clips'])} ({video.id})", 1.0)
        if part.exists():
            cached += 1
            continue
        srt = None
        if local:
            srt = cache / f"{key}.srt"
            atomic_write(srt, "".join(f"{n}\n{stamp(s, ',')} --> {stamp(e, ',')}\n{t}\n\n"
                                      for n, (s, e, t) in enumerate(local, 1)))  # fmt: skip
        tmp = part.with_name(f".{part.name}.{os.getpid()}.{secrets.token_hex(3)}.mp4")
        argv = clip_argv(binary, lib.path(video, video.meta["files"]["media"]), video, clip, tmp, width=width,
                         height=height, fps=fps, reframe="dev.vstream.reframe" in session, overlays=looks, srt=srt,
                         follow=follow, texts=words)  # fmt: skip
        try:
            ff.run(argv, duration=duration, on_progress=progress.update, what="render")
            os.replace(tmp, part)
        finally:
            tmp.unlink(missing_ok=True)
    progress.begin("joining the clips", None)
    output = _join(binary, parts, out, as_hls, cache)
    progress.end()
    return RenderResult(str(stream if reel else stream / "master.m3u8"), str(output), round(timeline["duration"], 3), width, height,
                        len(parts), cached, len(parts) - cached, warnings)  # fmt: skip


def clip_argv(ffmpeg: str, media: Path, video, clip: dict, out: Path, *, width: int, height: int, fps: float,
              reframe: bool, overlays: list, srt: Path | None, follow: list | None = None,
              texts: list = ()) -> list[str]:  # fmt: skip
    """One clip, encoded: picture fitted (or cropped, with reframe) to WIDTHxHEIGHT, overlays, text, burned captions.
    ``follow``: the crop window's centre ``[(seconds in the clip, fraction of the width)]`` (else the centre);
    ``texts``: ``[(manifest text with its "fontfile", from, to seconds in the clip)]``."""
    start, duration = clip["start"], clip["end"] - clip["start"]
    # vstream's fMP4 uses signed composition offsets; ffmpeg shifts that video late by the reordering delay
    shift = video.meta.get("video_delay", 0) / TICKS if video.meta.get("timing") == "cmaf" else 0.0
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-ss", f"{start + shift:.6f}", "-t", f"{duration:.6f}", "-i", str(media),
            "-ss", f"{start:.6f}", "-t", f"{duration:.6f}", "-i", str(media)]  # fmt: skip
    for o, _, _ in overlays:
        argv += ["-i", str(o["path"])]
    if reframe and follow:  # the window follows the faces (moving linearly between the path's points)
        from vstream.compose.reframe import ffmpeg_x

        fit = (f"crop='min(iw,ih*{width}/{height})':'min(ih,iw*{height}/{width})':'{ffmpeg_x(follow)}':"
               f"'(ih-oh)/2',scale={width}:{height}")  # fmt: skip
    elif reframe:  # crop the centre to the output's aspect ratio, then scale (what the player's CSS does)
        fit = (f"crop='min(iw,ih*{width}/{height})':'min(ih,iw*{height}/{width})',scale={width}:{height}")
    else:
        fit = (f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
               f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2")  # fmt: skip
    graph = [f"[0:v]setpts=PTS-STARTPTS,fps={fps:g},{fit},setsar=1,format=yuv420p[v0]"]
    last = "v0"
    for n, (o, a, b) in enumerate(overlays, start=2):
        w = max(2, round(width * o["scale"] / 2) * 2)
        m = round(width * OVERLAY_MARGIN)
        x = {"top-left": f"{m}", "bottom-left": f"{m}", "center": "(W-w)/2"}.get(o["position"], f"W-w-{m}")
        y = {"top-left": f"{m}", "top-right": f"{m}", "center": "(H-h)/2"}.get(o["position"], f"H-h-{m}")
        graph.append(f"[{n}:v]scale={w}:-2,format=rgba,colorchannelmixer=aa={o['opacity']:g}[o{n}]")
        graph.append(f"[{last}][o{n}]overlay=x={x}:y={y}:enable='between(t,{a:.3f},{b:.3f})'[v{n}]")
        last = f"v{n}"
    for n, (t, a, b) in enumerate(texts):
        graph.append(f"[{last}]{drawtext(t, width, height)}:enable='between(t,{a:.3f},{b:.3f})'[t{n}]")
        last = f"t{n}"
    if srt is not None:
        # libass sizes SRT text on a 288-line canvas whatever the frame: 12 is ~4 % of the height
        graph.append(f"[{last}]subtitles=filename={srt}:force_style='FontName={FONT},FontSize=12,Outline=1,MarginV=16'[vs]")
        last = "vs"
    graph.append("[1:a]asetpts=PTS-STARTPTS,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[a]")
    argv += ["-filter_complex", ";".join(graph), "-map", f"[{last}]", "-map", "[a]", *ENCODER,
             "-g", str(max(1, round(fps))), "-t", f"{duration:.6f}", "-movflags", "+faststart", str(out)]  # fmt: skip
    return argv


def drawtext(t: dict[str, Any], width: int, height: int) -> str:
    """The ``drawtext`` filter (no enable) for one manifest text on a WIDTHxHEIGHT frame: the geometry
    vstream's player draws (size a fraction of the height, a box padded by TEXT_PADDING of the font size,
    named places inside OVERLAY_MARGIN of the width, or x/y fractions for the box's top-left corner)."""
    size = max(8, round(height * t["size"]))
    pad = round(size * TEXT_PADDING)
    m = round(width * OVERLAY_MARGIN)
    if "x" in t:
        x, y = str(round(width * t["x"]) + pad), str(round(height * t["y"]) + pad)
    else:
        where = t.get("position", "bottom")
        x = f"{m + pad}" if where.endswith("left") else f"w-tw-{m + pad}" if where.endswith("right") else "(w-tw)/2"
        y = f"{m + pad}" if where.startswith("top") else f"h-th-{m + pad}" if where.startswith("bottom") else "(h-th)/2"
    opts = [f"fontfile={filter_value(str(t['fontfile']))}", f"text={filter_value(t['text'])}", "expansion=none",
            f"fontsize={size}", f"fontcolor=0x{t['color'][1:]}", f"x={x}", f"y={y}"]  # fmt: skip
    if t.get("background"):
        opts += ["box=1", f"boxcolor=0x{t['background'][1:]}", f"boxborderw={pad}"]
    return "drawtext=" + ":".join(opts)


def filter_value(text: str) -> str:
    """``text`` as one option value inside ``-filter_complex``: escaped for the filter's option parser
    (``\\``, ``'``, ``:``), then for the graph parser (``\\``, ``'``, ``[``, ``]``, ``,``, ``;``), so it arrives
    verbatim (with drawtext's ``expansion=none``, ``%`` is literal too). Argv only: no shell in between."""
    option = re.sub(r"([\\':])", r"\\\1", text)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def caption_file(stream: Path, master: str, lang: str | None) -> Path | None:
    """The WebVTT file of the subtitle rendition to burn in: ``lang`` (a language of the stream, or ``off``),
    else the stream's DEFAULT rendition; None when there is none (no DEFAULT rendition, or ``off``)."""
    import m3u8

    if lang is not None and lang.lower() in ("off", "none"):
        return None
    renditions = [] if not master else [m for m in m3u8.loads(master).media if m.type == "SUBTITLES" and m.uri]
    if lang is None:
        if not renditions:  # composed before renditions were declared, or a reel: the original captions, if any
            legacy = None if stream.is_file() else stream / "captions.vtt"
            return legacy if legacy is not None and legacy.is_file() else None
        chosen = next((m for m in renditions if m.default == "YES"), None)
        if chosen is None:  # captions.default off: players show none until the viewer picks one
            return None
    else:
        languages = [m.language for m in renditions]
        chosen = next((m for m in renditions if (m.language or "").lower() == lang.lower()), None)
        if chosen is None:
            has = f"no {lang} subtitles (its languages: {', '.join(languages)})" if languages else "no subtitles"
            raise UsageError(f"--lang {lang}: the stream has {has}",
                             hint="pick one of its languages, or --lang off" if languages else
                             "compose it with captions: (languages: [original, es, ...])")  # fmt: skip
    folder = stream if stream.is_dir() else stream.parent
    playlist = folder / Path(chosen.uri.split("?")[0]).name  # the rendition's playlist sits beside the master
    if not playlist.is_file():
        raise NotFound(f"{playlist}: the {chosen.language} subtitle playlist is missing", hint="compose the stream again")
    segments = m3u8.loads(playlist.read_text()).segments
    vtt = folder / Path((segments[0].uri if segments else "") or "").name
    if not segments or not vtt.is_file():
        raise NotFound(f"{playlist}: its WebVTT file is missing", hint="compose the stream again")
    return vtt


def read_timeline(lib: Library, playlist: Path) -> dict[str, Any]:
    """The clips of a composed video playlist, read back from its byte ranges (the playlist is the truth).

    Each run of segments between discontinuities is one clip; its media URI names the library
    video (``media/<dir>/...``, relative or under a CDN base) and its byte ranges the keyframe
    intervals, hence the exact in and out points. ``EXT-X-CUE-OUT``/``-IN`` mark the ads.
    """
    import m3u8

    parsed = m3u8.loads(playlist.read_text())
    by_dir = {v.media_dir: v for v in lib.videos()}
    clips: list[dict[str, Any]] = []
    at, in_pod = 0.0, False
    for seg in parsed.segments:
        in_pod = True if seg.cue_out_start else False if seg.cue_in else in_pod
        m = re.search(r"(?:^|/)(media/[^/]+)/[^/]+$", seg.uri or "")
        video = by_dir.get(m.group(1)) if m else None
        if video is None or not seg.byterange:
            raise NotFound(f"{playlist}: {seg.uri} is not a video of {lib.root} (any more)",
                           hint="compose the stream again: a video it used was removed or re-ingested")  # fmt: skip
        length, _, offset = str(seg.byterange).partition("@")
        first, last = int(offset), int(offset) + int(length)
        gops = [g for g in video.meta["gops"] if first <= g[2] and g[2] + g[3] <= last]
        if not gops or gops[0][2] != first or gops[-1][2] + gops[-1][3] != last:
            raise UsageError(f"{playlist}: a byte range of {video.id} is not on its keyframe intervals",
                             hint="compose the stream again")  # fmt: skip
        start, end = gops[0][0] / TICKS, (gops[-1][0] + gops[-1][1]) / TICKS
        if clips and not seg.discontinuity and clips[-1]["video_id"] == video.id and abs(clips[-1]["end"] - start) < 1e-6:
            clips[-1]["end"] = end
        else:
            clips.append({"video_id": video.id, "start": start, "end": end, "at": at, "ad": in_pod})
        at += end - start
    if not clips:
        raise UsageError(f"{playlist}: no segments")
    return {"clips": clips, "duration": at}


def session_data(master: str) -> dict[str, Any]:
    """The JSON values of a master playlist's EXT-X-SESSION-DATA tags (data: URIs), by DATA-ID."""
    out = {}
    for m in re.finditer(r'#EXT-X-SESSION-DATA:DATA-ID="([^"]+)",URI="data:application/json;base64,([^"]+)"', master):
        out[m.group(1)] = json.loads(base64.b64decode(m.group(2)))
    return out


def _size(timeline: dict, session: dict, videos: dict) -> tuple[int, int]:
    reframe = session.get("dev.vstream.reframe")
    if reframe:
        return reframe["width"] // 2 * 2, reframe["height"] // 2 * 2
    width, height = display_size(videos[timeline["clips"][0]["video_id"]].meta["stream"]["video"])
    return width // 2 * 2, height // 2 * 2  # ffmpeg turns a rotated (phone) picture upright as it decodes


def _fps(video) -> float:
    fps = (video.meta["stream"]["video"] or {}).get("fps") or 25.0
    return round(fps, 3) if 1 <= fps <= 120 else 25.0


def _overlay_file(o: dict, cache: Path) -> dict:
    head, _, data = o["image"].partition(",")
    raw = base64.b64decode(data)
    ext = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}.get(head[5:].split(";")[0], ".png")
    path = cache / (hashlib.sha256(raw).hexdigest()[:24] + ext)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    return {**o, "path": path, "start": o.get("start", 0.0), "end": o.get("end", float("inf")),
            "digest": path.stem}  # fmt: skip


def _text_font(t: dict, warnings: list[str]) -> dict:
    """A manifest text with the font file drawtext uses (DejaVu; Noto CJK for CJK text where installed)."""
    if CJK_RE.search(t["text"]):
        cjk = next((f for f in CJK_FONTS if os.path.isfile(f)), None)
        if cjk:
            return {**t, "fontfile": cjk}
        warnings.append(f"text {t['text'][:30]!r}: no CJK font installed, so its CJK characters burn in as boxes "
                        "(install fonts-noto-cjk)")  # fmt: skip
    name = FONT_FILES.get(t.get("font", "sans"), FONT_FILES["sans"])
    for folder in FONT_DIRS:
        path = Path(folder) / name
        if path.is_file():
            return {**t, "fontfile": str(path)}
    raise MissingDependency(f"render: the font {name} was not found (looked in {', '.join(FONT_DIRS[:2])})",
                            hint="install fonts-dejavu-core (make system-deps)")  # fmt: skip


def _clip_path(reframe: dict, at: float, duration: float) -> list[tuple[float, float]] | None:
    """The part of a following reframe's path inside one clip, in the clip's own seconds."""
    path = reframe.get("path")
    if not path:
        return None
    from vstream.compose.reframe import at as position

    inside = [(round(t - at, 3), x) for t, x in path if at - 1e-6 <= t <= at + duration + 1e-6]
    # the points at a clip boundary belong to both clips: this clip starts at the last of those at its
    # start, and ends at the first of those at its end (the window jumps at the cut between them)
    head = [p for p in inside if p[0] <= 1e-6]
    tail = [p for p in inside if p[0] >= duration - 1e-6 and p not in head]
    middle = [p for p in inside if p not in head and p not in tail]
    first = [(0.0, head[-1][1])] if head else [(0.0, position([tuple(p) for p in path], at))]
    return first + middle + tail[:1]


def _key(video, clip, width, height, fps, looks, cues, follow=None, texts=()) -> str:
    look = [{k: v for k, v in o.items() if k not in ("image", "path", "start", "end")} | {"a": round(a, 3), "b": round(b, 3)}
            for o, a, b in looks]  # fmt: skip
    spec = {"v": RENDER_VERSION, "media": video.content_hash, "start": clip["start"], "end": clip["end"],
            "size": [width, height], "fps": fps, "overlays": look, "cues": [[round(s, 3), round(e, 3), t] for s, e, t in cues],
            "encoder": ENCODER} | ({"follow": follow} if follow else {})  # fmt: skip
    if texts:  # (absent without text: the clips rendered before text existed stay cached)
        spec["texts"] = [{k: v for k, v in t.items() if k not in ("start", "end")} | {"a": round(a, 3), "b": round(b, 3)}
                         for t, a, b in texts]  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def _join(ffmpeg: str, parts: list[Path], out: Path, as_hls: bool, cache: Path) -> Path:
    listing = cache / f".join-{os.getpid()}-{secrets.token_hex(3)}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    try:
        if not as_hls:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.mp4")
            try:
                ff.run([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
                        "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(tmp)], what="join")  # fmt: skip
                os.replace(tmp, out)
            finally:
                tmp.unlink(missing_ok=True)
            return out
        out.mkdir(parents=True, exist_ok=True)
        ff.run([ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                "-c", "copy", "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(out / "segment-%05d.m4s"),
                str(out / "index.m3u8")], what="segmenting")  # fmt: skip
        return out / "index.m3u8"
    finally:
        listing.unlink(missing_ok=True)
