"""Rebased delivery: a library's fMP4 fragments as a composed stream's playlists name them.

`vstream serve` answers its ``/r/...`` URLs with these bytes, and `vstream render --copy` writes the
same bytes into a folder, so both play in the players that keep one init section or one timeline.
"""

from __future__ import annotations

import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vstream import errors
from vstream.library import Library

MAX_DELTA = 90_000 * 86_400 * 366  # a shift of up to a year of timeline (90 kHz ticks)
MAX_ALLOWANCE = 90_000 * 10  # B-frame reordering delays are a few frames
RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class MediaLayout:
    """What serving a media file's fragments rebased needs to know of it (read once)."""

    offsets: list[int]  # where each fragment starts
    timescales: dict[int, int]  # track_ID -> media timescale
    params: tuple[int, bytes] | None  # (video track_ID, length-prefixed SPS/PPS) for H.264/HEVC
    end: int  # where the last fragment ends
    init: bytes  # the init section
    video: int | None = None  # the video track_ID


def parse_delta(delta: str) -> tuple[int, int]:
    """``(shift, reordering allowance)`` in ticks from a rebased URL's ``TICKS`` or ``TICKSdALLOWANCE``."""
    m = re.fullmatch(r"(-?\d{1,16})(?:d(\d{1,7}))?", delta)
    if not m or abs(int(m.group(1))) > MAX_DELTA or int(m.group(2) or 0) > MAX_ALLOWANCE:
        raise errors.UsageError(f"bad timeline shift {delta!r}")
    return int(m.group(1)), int(m.group(2) or 0)


class Rebaser:
    """Serves ``/r/DELTA/SEQ/media/DIR/media.m4s`` byte ranges: the library's fragments with each ``traf``'s
    decode time moved DELTA ticks and their ``mfhd`` numbers SEQ on, so a composed stream runs on one
    continuous timeline with one run of fragment numbers in every player (ffmpeg's and GStreamer's
    HLS demuxers take fMP4 time from tfdt across discontinuities; VLC ends its MP4 demuxer at a gap
    in the numbers).

    Only the tfdt values inside the range change (same widths: the layout and byte ranges are the
    file's own, so the playlists' EXT-X-BYTERANGE apply unchanged). A stream with B-frame clips has a
    reordering allowance, DELTA as ``TICKSdALLOWANCE``: the video's composition offsets become
    unsigned ones that much larger and the other tracks move that much later, so every player
    presents each frame at the same time (ffmpeg and GStreamer do not honour the signed offsets of
    the library's CMAF timing without an edit list; browsers need them). URLs are deterministic and
    immutable, a CDN caches them per shift. A forged shift or path is a 400 or 404, never a read
    outside the library's media.
    """

    def __init__(self, lib: Library, lib_lock: threading.Lock):
        self.lib = lib
        self.lib_lock = lib_lock
        self._known: dict[str, Any] = {}  # media_dir -> (fragment offsets, timescales), per catalog version
        self._live: dict[str, tuple[bytes, dict[int, int], Any]] = {}  # a live take's init section, timescales, SPS/PPS
        self._live_layouts: dict[str, tuple[tuple[int, int, int], MediaLayout]] = {}  # by the state file's stat
        self._version = None

    def serve(self, delta: str, path: str, range_header: str | None, sequence: str = "0",
              if_none_match: str | None = None, root: str = "media", *, strict: bool = True) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        from vstream.media.fmp4 import fragment_at, rebase_patches

        shift, allowance = parse_delta(delta)
        if not re.fullmatch(r"-?\d{1,10}", sequence) or abs(int(sequence)) >= 1 << 31:
            raise errors.UsageError(f"bad fragment renumbering {sequence!r}")
        renumber = int(sequence)
        media = self._media_file(path, root)
        layout = self._layout(media, root)
        offsets, timescales = layout.offsets, layout.timescales
        stat = media.stat()
        size = stat.st_size
        etag = f'"{stat.st_mtime_ns:x}-{size:x}-r{shift}d{allowance}-{renumber}"'
        if if_none_match and etag in if_none_match:
            return 304, {"etag": etag}, b""
        m = RANGE_RE.match(range_header or "")
        if not m:
            raise errors.UsageError("rebased media is served by byte range", hint="send Range: bytes=START-END")
        start, end = int(m.group(1)), int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            raise errors.NotFound(f"bytes {start}-{end} are outside the file ({size} bytes)")
        end = min(end, size - 1)
        if end - start + 1 > 256 * 2**20:
            raise errors.UsageError("ask for at most 256 MiB at a time")
        import bisect

        with open(media, "rb") as fh:
            fh.seek(start)
            body = bytearray(fh.read(end - start + 1))
            first = max(0, bisect.bisect_right(offsets, start) - 1)
            for offset in offsets[first:]:
                if offset > end:
                    break
                found = fragment_at(fh, offset, size)
                if found is None:
                    continue
                try:
                    patches = rebase_patches(found[1], found[0], timescales, shift, sequence_delta=renumber,
                                             video=layout.video, allowance=allowance, strict=strict)  # fmt: skip
                except ValueError as exc:
                    raise errors.UsageError(f"bad timeline shift {shift}: {exc}") from None
                for at, data in patches:  # the part of each patch inside the range asked for
                    lo, hi = max(at, start), min(at + len(data), end + 1)
                    if lo < hi:
                        body[lo - start : hi - start] = data[lo - at : hi - at]
        headers = {"content-range": f"bytes {start}-{end}/{size}", "accept-ranges": "bytes", "etag": etag}
        return 206, headers, bytes(body)

    def segment(self, delta: str, sequence: str, span: str, path: str,
                if_none_match: str | None = None, root: str = "media") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        """``/r/DELTA/SEQ/OFFSET+LENGTH[p][i]/media/DIR/media.m4s``: whole fragments (a playlist segment)
        rebased as :meth:`serve` does; with ``p`` the video's parameter sets (SPS/PPS) go in front of each
        fragment's first frame (players that keep the first clip's init section, ffmpeg and GStreamer's
        playbin, then decode every clip), with ``i`` the init section goes in front of the segment (VLC
        restarts its MP4 demuxer at a change of video without loading the new EXT-X-MAP). Playlists
        that change video use these: a resource per segment, since the bytes no longer are a range of
        the file. Deterministic and immutable like :meth:`serve`."""
        from vstream.media.fmp4 import with_composition_offsets, with_parameter_sets

        m = re.fullmatch(r"(\d{1,15})\+(\d{1,10})(p?)(i?)", span)
        if not m:
            raise errors.UsageError(f"bad segment {span!r}", hint="OFFSET+LENGTH of whole fragments")
        media = self._media_file(path, root)
        layout = self._layout(media, root)
        offsets, params, end = layout.offsets, layout.params, layout.end
        start, length = int(m.group(1)), int(m.group(2))
        import bisect

        i = bisect.bisect_left(offsets, start)
        stop = start + length
        if i == len(offsets) or offsets[i] != start or not (stop == end or stop in set(offsets[i + 1:])):
            raise errors.NotFound(f"bytes {start}+{length} are not whole fragments of this media")
        if length > 256 * 2**20:
            raise errors.UsageError("ask for at most 256 MiB at a time")
        status, headers, body = self.serve(delta, path, f"bytes={start}-{stop - 1}", sequence, None, root, strict=False)
        etag = headers["etag"][:-1] + f'-{m.group(3)}{m.group(4)}"'
        if if_none_match and etag in if_none_match:
            return 304, {"etag": etag}, b""
        allowance = parse_delta(delta)[1]
        if allowance and layout.video is not None:  # a video without B-frames in a stream with some
            try:
                body = with_composition_offsets(body, layout.video, round(allowance * layout.timescales[layout.video] / 90_000))
            except (ValueError, KeyError, struct.error, errors.MediaError) as exc:
                raise errors.UsageError(f"bad timeline shift {delta!r}: {exc}") from None
        if params is not None and m.group(3):
            try:
                body = with_parameter_sets(body, *params)
            except (ValueError, struct.error, errors.MediaError):
                pass  # a layout that cannot take them: the fragments as they are (browsers still decode them)
        if m.group(4):
            body = layout.init + body
        return 200, {"etag": etag}, body

    def init(self, path: str, if_none_match: str | None = None, root: str = "media") -> tuple[int, dict[str, str], bytes]:
        """``/r/init/media/DIR/media.m4s``: a media file's init section as a resource of its own. Playlists
        with whole-segment resources name it so (GStreamer's legacy hlsdemux applies an EXT-X-MAP's byte
        range to the segment after it when that segment has none)."""
        media = self._media_file(path, root)
        stat = media.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}-init"' if root == "media" else f'"{stat.st_ino:x}-init"'
        if if_none_match and etag in if_none_match:
            return 304, {"etag": etag}, b""
        return 200, {"etag": etag}, self._layout(media, root).init

    def _media_file(self, path: str, root: str = "media") -> Path:
        if root == "live":  # a live event's take: live/EVENT/take-NNN/media.m4s (it grows while recorded)
            parts = PurePosixPath(path).parts
            if (len(parts) != 3 or any(p.startswith(".") for p in parts) or not re.fullmatch(r"take-\d{3,6}", parts[1])
                    or parts[2] != "media.m4s"):  # fmt: skip
                raise errors.NotFound("no such media")
            top = (self.lib.root / "live").resolve()
            media = self.lib.root / "live" / parts[0] / parts[1] / parts[2]
            if media.is_symlink() or media.resolve().parent.parent.parent != top or not media.is_file():
                raise errors.NotFound("no such media")
            return media
        parts = PurePosixPath(path).parts
        if len(parts) != 2 or any(p in ("..", ".") or p.startswith(".") for p in parts) or not parts[1].endswith(".m4s"):
            raise errors.NotFound("no such media")
        root = (self.lib.root / "media").resolve()
        media = self.lib.root / "media" / parts[0] / parts[1]
        if media.is_symlink() or media.parent.is_symlink() or media.resolve().parent.parent != root or not media.is_file():
            raise errors.NotFound("no such media")
        return media

    def _layout(self, media: Path, root: str = "media") -> MediaLayout:
        """The fragment offsets, track timescales, video parameter sets and where the fragments end, of a
        media file (of a video, or retired media that streams composed before a re-ingest still play),
        read from its boxes once; of a live take, the fragments its event lists so far."""
        from vstream.media.fmp4 import fragment_index, parameter_sets, track_timescales, video_track

        if root == "live":
            return self._live_layout(media)

        media_dir = f"media/{media.parent.name}"
        with self.lib_lock:  # the catalog connection is shared with the composer
            version = self.lib.data_version()
            if version != self._version:
                self._known, self._version = {}, version
            kept = set(self.lib.media_dirs().values()) if media_dir not in self._known else {media_dir}
        if media_dir not in self._known:
            if media_dir not in kept:
                raise errors.NotFound("no such media")
            try:
                index = fragment_index(media)
            except errors.MediaError:
                raise errors.NotFound("no such media (not fragmented MP4)") from None
            with open(media, "rb") as fh:
                fh.seek(index.init.offset)
                init = fh.read(index.init.length)
            try:
                params = parameter_sets(init)
            except (ValueError, struct.error, errors.MediaError):
                params = None  # served as they are
            last = index.ranges[-1][1]
            self._known[media_dir] = MediaLayout([rng.offset for _, rng in index.ranges], track_timescales(init),
                                                 params, last.offset + last.length, bytes(init), video_track(init))  # fmt: skip
        return self._known[media_dir]

    def _live_layout(self, media: Path) -> MediaLayout:
        """A take's layout, read again only when its event's state file was replaced (the recorder
        replaces it once per fragment; players ask for every fragment of every viewer's stream)."""
        from vstream import live
        from vstream.media.fmp4 import parameter_sets, track_timescales, video_track

        try:
            st = (media.parent.parent / live.STATE).stat()
        except FileNotFoundError:
            raise errors.NotFound("no such media") from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._live_layouts.get(str(media))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        event = live.load(self.lib, media.parent.parent.name)
        take = next((t for t in event.takes if t.folder == media.parent.name and t.init and t.fragments), None)
        if take is None:
            raise errors.NotFound("no such media")
        key = f"live/{event.id}/{take.folder}"
        known = self._live.get(key)
        if known is None:
            with open(media, "rb") as fh:
                fh.seek(take.init[1])
                init = fh.read(take.init[0])
            try:
                params = parameter_sets(init)
            except (ValueError, struct.error, errors.MediaError):
                params = None
            known = self._live[key] = (bytes(init), track_timescales(init), params)
        last = take.fragments[-1]
        layout = MediaLayout([f.offset for f in take.fragments], known[1], known[2], last.offset + last.length, known[0],
                             video_track(known[0]))  # fmt: skip
        self._live_layouts[str(media)] = (stamp, layout)  # (a state replaced meanwhile: a new stamp next time)
        return layout
