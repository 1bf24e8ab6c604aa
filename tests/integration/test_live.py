"""`vstream live`: real senders on loopback (ffmpeg -re over UDP, SRT, RTMP, a growing file), the real recorder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import sample_path, vstream, vstream_json
from tests.media_checks import played_duration

pytestmark = pytest.mark.slow


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(url: str, seconds: float, *, fmt: str = "mpegts", audio: bool = True, roars: tuple = ()) -> subprocess.Popen:
    """A live encoder: test pattern and a tone in real time (-re), 2 s keyframe interval; ``roars``:
    ``(start, end)`` seconds where the tone is at full scale (a crowd's roar), quiet (-34 dB) elsewhere."""
    inputs = ["-re", "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}"]
    if audio:
        inputs += ["-re", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}:sample_rate=48000"]  # broadcast audio
    if roars:
        loud = "+".join(f"between(t,{a},{b})" for a, b in roars)
        inputs += ["-af", f"volume='if({loud},1,0.02)':eval=frame"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
              "-pix_fmt", "yuv420p"] + (["-c:a", "aac", "-b:a", "64k"] if audio else [])  # fmt: skip
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-v", "error", *inputs, *codecs, "-f", fmt, url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def recorder(lib: Path, source: str, event: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vstream", "live", "record", source, "--id", event, "-L", str(lib),
                             "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def udp_event(lib: Path, event: str, seconds: float, fragments: int, roars: tuple = ()) -> tuple[subprocess.Popen, subprocess.Popen]:
    """A recorder on a UDP port and an encoder sending ``seconds`` to it, once ``fragments`` are listed."""
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", event, "--idle", "2", "--reconnect", "0")
    time.sleep(1.0)
    sender = send(f"udp://127.0.0.1:{port}", seconds, roars=roars)
    wait_for_fragments(lib / "live" / event / "index.m3u8", fragments)
    return rec, sender


def sample_event(lib: Path, samples: dict, sample: str, event: str, *args: str) -> tuple[subprocess.Popen, subprocess.Popen]:
    """A recorder on a UDP port and a sample video sent to it in real time (2 s GOPs), once a fragment is listed."""
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", event, "--idle", "2", "--reconnect", "0", *args)
    time.sleep(1.0)
    sender = subprocess.Popen(["ffmpeg", "-hide_banner", "-v", "error", "-re", "-i", str(sample_path(samples, sample)),
                               "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold",
                               "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts",
                               f"udp://127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_fragments(lib / "live" / event / "index.m3u8", 1)
    return rec, sender


def session(master: Path) -> dict:
    """A master playlist's EXT-X-SESSION-DATA, by DATA-ID (the JSON of each data: URI)."""
    import base64
    import re

    return {m.group(1): json.loads(base64.b64decode(m.group(2)))
            for m in re.finditer(r'DATA-ID="([^"]+)",URI="data:application/json;base64,([^"]+)"', master.read_text())}


def open_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def segments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#EXT-X-BYTERANGE:")]


def wait_for_fragments(playlist: Path, count: int, timeout: float = 40) -> None:
    """Until the live playlist lists ``count`` fragments."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (playlist.exists() and len(segments(playlist.read_text())) >= count):
        time.sleep(0.2)


def watch(playlist: Path, proc: subprocess.Popen, timeout: float = 90) -> list[str]:
    """The playlist as it was at every read while the recorder ran (a read every 0.2 s)."""
    seen = []
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if playlist.exists():
            text = playlist.read_text()
            if not seen or text != seen[-1]:
                seen.append(text)
        time.sleep(0.2)
    return seen


def test_a_udp_event_grows_as_a_live_playlist_then_becomes_a_library_video(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "game", "--idle", "2", "--reconnect", "0")
    time.sleep(1.0)
    started = time.monotonic()
    sender = send(f"udp://127.0.0.1:{port}", 10)
    playlist = lib / "live" / "game" / "index.m3u8"
    first = None
    listed = None
    while rec.poll() is None and time.monotonic() - started < 90:
        if first is None and playlist.exists() and segments(playlist.read_text()):
            first = time.monotonic() - started
            listed = vstream_json("list", "-L", str(lib))
        time.sleep(0.2)
        if first is not None:
            break
    seen = watch(playlist, rec)
    sender.wait(timeout=30)
    out, errors = rec.communicate(timeout=60)
    assert rec.returncode == 0, errors
    assert first is not None and first <= 5.0, f"the first fragment was listed {first} s after the source started"
    assert listed["live"][0]["id"] == "game" and listed["live"][0]["status"] == "recording"
    for before, after in zip(seen, seen[1:]):  # only ever grows; the target duration never changes
        assert segments(after)[: len(segments(before))] == segments(before)
        assert "#EXT-X-TARGETDURATION:6" in before and "#EXT-X-TARGETDURATION:6" in after
        assert "#EXT-X-ENDLIST" not in before
    final = playlist.read_text()
    assert final.rstrip().endswith("#EXT-X-ENDLIST") and "#EXT-X-PROGRAM-DATE-TIME:" in final
    result = json.loads(out)
    assert result["status"] == "ended" and result["video"] == "game"
    info = vstream_json("info", "game", "-L", str(lib))
    assert abs(info["duration"] - 10.0) <= 0.5 and info["tags"] == {"live": "recorded"}
    assert played_duration(Path(info["playlist"])) == pytest.approx(info["duration"], abs=0.1)  # decodes whole
    assert played_duration(playlist) == pytest.approx(info["duration"], abs=0.1)  # and the live playlist too


def test_an_srt_sender_that_drops_and_comes_back_is_a_new_take(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"srt://127.0.0.1:{port}?mode=listener", "match", "--idle", "2", "--reconnect", "10")
    time.sleep(1.0)
    send(f"srt://127.0.0.1:{port}", 6).wait(timeout=30)
    time.sleep(2.5)  # the recorder notices the drop and listens again
    send(f"srt://127.0.0.1:{port}", 4).wait(timeout=30)
    out, errors = rec.communicate(timeout=90)
    assert rec.returncode == 0, errors
    event = json.loads(out)
    assert event["takes"] == 2 and abs(event["duration"] - 10.0) <= 1.0
    text = (lib / "live" / "match" / "index.m3u8").read_text()
    assert text.count("#EXT-X-DISCONTINUITY") == 1 and text.count("#EXT-X-MAP:") == 2
    info = vstream_json("info", "match", "-L", str(lib))
    assert played_duration(Path(info["playlist"])) == pytest.approx(event["duration"], abs=0.2)


def test_rtmp_pushes_are_recorded_and_the_stream_key_is_not_shown(tmp_path):
    lib = tmp_path / "lib"
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/s3cr3t-key"
    rec = recorder(lib, url, "studio", "--idle", "2", "--reconnect", "0")
    time.sleep(1.5)  # vstream listens; the encoder pushes
    send(url, 5, fmt="flv").wait(timeout=30)
    out, errors = rec.communicate(timeout=60)
    assert rec.returncode == 0, errors
    assert abs(json.loads(out)["duration"] - 5.0) <= 0.5
    listed = vstream("live", "list", "-L", str(lib), "--json", check=True).stdout
    assert "s3cr3t" not in listed and "s3cr3t" not in out + errors


def test_a_file_still_being_written_is_followed_until_it_stops_growing(tmp_path):
    lib = tmp_path / "lib"
    growing = tmp_path / "recorder-output.ts"
    writer = send(str(growing), 6)
    time.sleep(0.5)
    proc = vstream("live", "record", str(growing), "--id", "dvr", "-L", str(lib), "--idle", "3", "--json", timeout=90)
    writer.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert abs(json.loads(proc.stdout)["duration"] - 6.0) <= 0.5


def test_an_instant_clip_plays_while_recording_and_sigterm_ends_the_event(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "final", "--idle", "3")
    time.sleep(1.0)
    sender = send(f"udp://127.0.0.1:{port}", 30)
    playlist = lib / "live" / "final" / "index.m3u8"
    wait_for_fragments(playlist, 4)
    clip = vstream_json("live", "clip", "final", "--last", "4", "-L", str(lib))
    assert clip["live"] and 4.0 <= clip["duration"] <= 6.0  # whole keyframe intervals covering the last 4 s
    assert played_duration(Path(clip["playlist"])) == pytest.approx(clip["duration"], abs=0.1)
    early = vstream("live", "clip", "final", "--from", "0", "--to", "600", "-L", str(lib))
    assert early.returncode == 3 and "not yet" in early.stderr and "Traceback" not in early.stderr
    rec.send_signal(signal.SIGTERM)
    out, errors = rec.communicate(timeout=60)
    sender.kill()
    assert rec.returncode == 0, errors
    assert playlist.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    assert vstream_json("info", "final", "-L", str(lib))["duration"] == pytest.approx(json.loads(out)["duration"], abs=0.1)
    assert played_duration(Path(clip["playlist"])) == pytest.approx(clip["duration"], abs=0.1)  # the clip outlives the event


def test_a_killed_recorder_leaves_an_event_the_next_command_closes(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "crash", "--idle", "3")
    time.sleep(1.0)
    sender = send(f"udp://127.0.0.1:{port}", 30)
    playlist = lib / "live" / "crash" / "index.m3u8"
    wait_for_fragments(playlist, 2)
    os.kill(rec.pid, signal.SIGKILL)
    rec.wait()
    sender.kill()
    time.sleep(1.0)
    take = lib / "live" / "crash" / "take-001" / "take.m3u8"  # as after a power cut: ffmpeg never closed it
    take.write_text(take.read_text().replace("#EXT-X-ENDLIST", ""))
    state = lib / "live" / "crash" / "event.json"  # after a reboot its pid may belong to another process
    state.write_text(json.dumps(json.loads(state.read_text()) | {"pid": os.getpid(), "status": "recording"}))
    events = vstream_json("live", "list", "-L", str(lib))["events"]
    assert events[0]["status"] == "interrupted" and events[0]["fragments"] >= 2
    assert vstream_json("list", "-L", str(lib))["live"][0]["status"] == "interrupted"
    # a fan's stream following it says why it waits, and ends when the event is closed
    (tmp_path / "fan.yaml").write_text("version: 1\nname: fan\nclips:\n  - live: crash\n")
    log = tmp_path / "follow.err"
    with open(log, "w") as errors:
        follow = subprocess.Popen([sys.executable, "-m", "vstream", "compose", str(tmp_path / "fan.yaml"), "-L", str(lib),
                                   "--follow"], stdout=subprocess.PIPE, stderr=errors, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while "recorder stopped without finishing" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "crash: its recorder stopped without finishing; waiting until it is resumed (vstream live record SOURCE " \
           "--id crash) or closed (vstream live stop crash)" in log.read_text() and follow.poll() is None
    stopped = vstream_json("live", "stop", "crash", "-L", str(lib), timeout=120)
    assert stopped["status"] == "ended" and stopped["video"] == "crash"
    follow.wait(timeout=60)  # no roar in this event: nothing to play, said in one line
    assert follow.returncode == 3 and "crash ended without highlights" in log.read_text().splitlines()[-1], log.read_text()
    info = vstream_json("info", "crash", "-L", str(lib))
    assert played_duration(Path(info["playlist"])) == pytest.approx(info["duration"], abs=0.1)
    assert vstream_json("doctor", "-L", str(lib))["ok"]


def test_two_recorders_started_at_once_for_one_event_record_it_once(tmp_path):
    lib = tmp_path / "lib"  # created by whichever starts first
    ports = [free_port(socket.SOCK_DGRAM) for _ in range(2)]
    recs = [recorder(lib, f"udp://127.0.0.1:{port}", "final", "--idle", "2", "--reconnect", "0", "--timeout", "30")
            for port in ports]  # fmt: skip
    deadline = time.monotonic() + 30
    while all(r.poll() is None for r in recs) and time.monotonic() < deadline:
        time.sleep(0.1)
    losers = [r for r in recs if r.poll() is not None]
    assert len(losers) == 1, "both recorders kept running for one event"
    _, errors = losers[0].communicate()
    assert losers[0].returncode == 2 and "being recorded by another process" in errors and "Traceback" not in errors
    winner = recs[1 - recs.index(losers[0])]
    sender = send(f"udp://127.0.0.1:{ports[recs.index(winner)]}", 6)
    out, _ = winner.communicate(timeout=90)
    sender.wait()
    assert winner.returncode == 0 and json.loads(out)["video"] == "final"
    info = vstream_json("info", "final", "-L", str(lib))
    assert played_duration(Path(info["playlist"])) == pytest.approx(info["duration"], abs=0.1) and info["duration"] >= 4


def test_the_loudest_moment_so_far_is_an_instant_clip(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "derby", "--idle", "2", "--reconnect", "0")
    time.sleep(1.0)
    # a quiet tone with a roar (full scale) from 8 to 10 s: the goal
    sender = subprocess.Popen(["ffmpeg", "-hide_banner", "-v", "error", "-re", "-f", "lavfi", "-i",
                               "testsrc2=size=640x360:rate=25:duration=30", "-re", "-f", "lavfi", "-i",
                               "sine=frequency=440:duration=30", "-af", "volume='if(between(t,8,10),1,0.02)':eval=frame",
                               "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50",
                               "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts",
                               f"udp://127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_fragments(lib / "live" / "derby" / "index.m3u8", 7)  # 14 s recorded, the roar among them
        found = vstream_json("live", "clip", "derby", "--loudest", "6", "-L", str(lib))
        # mostly before the roar (at 8 s: 4 s of the 6 before it), on the 2 s keyframe grid, not the last 6 s
        assert found["live"] and 4.0 <= found["start"] <= 8.0 and 10.0 <= found["end"] <= 12.0, found
        assert played_duration(Path(found["playlist"])) == pytest.approx(found["duration"], abs=0.1)
        bad = vstream("live", "clip", "derby", "--loudest", "1", "-L", str(lib))
        assert bad.returncode == 2 and "--loudest must be 2..600 seconds" in bad.stderr
        both = vstream("live", "clip", "derby", "--loudest", "6", "--last", "6", "-L", str(lib))
        assert both.returncode == 2 and "one of them" in both.stderr
    finally:
        sender.kill()
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=90)


def test_highlights_are_found_as_the_event_is_recorded_and_their_playlist_only_grows(tmp_path):
    lib = tmp_path / "lib"
    rec, sender = udp_event(lib, "final", 44, 1, roars=((12, 13), (34, 35)))
    folder = lib / "live" / "final"
    try:
        deadline = time.monotonic() + 60  # the first roar's loudness measured (18 s recorded)
        while time.monotonic() < deadline and sum(1 for _ in open_lines(folder / "loudness.jsonl")) < 9:
            time.sleep(0.2)
        # search sees the loud moment while the event is on: nothing else of it is kept (no follower)
        loud = vstream_json("search", "", "--mode", "peaks", "--video", "final", "-L", str(lib))
        said = vstream("search", "budget", "--video", "final", "--json", "-L", str(lib))
        seen = watch(folder / "highlights.m3u8", rec, timeout=120)
        out, errors = rec.communicate(timeout=60)
    finally:
        sender.kill()
        if rec.poll() is None:
            rec.kill()
    assert rec.returncode == 0, errors
    assert "highlight at 12" in errors and "highlight at 34" in errors  # said as they were found
    assert len(seen) >= 2 and seen[-1].endswith("#EXT-X-ENDLIST\n")
    for before, after in zip(seen, seen[1:]):
        assert after.startswith(before)  # a player's reload only ever sees more
    assert all("#EXT-X-TARGETDURATION:6\n" in text for text in seen)
    assert all("#EXT-X-ENDLIST" not in text for text in seen[:-1])
    assert seen[0].count("#EXTINF") * 2 >= 18  # published once it held 3 target durations
    found = vstream_json("live", "highlights", "final", "-L", str(lib))
    peaks = [h["peak"] for h in found["highlights"]]
    assert len(peaks) == 2 and 12 <= peaks[0] <= 14 and 34 <= peaks[1] <= 36, found  # on the roars, within a GOP
    assert all(h["in_playlist"] and h["at"].endswith("Z") for h in found["highlights"])
    assert found["playlist"] == "live/final/highlights.m3u8" and not found["live"]
    final = (folder / "highlights.m3u8").read_text()
    listed = sum(float(line[8:].split(",")[0]) for line in final.splitlines() if line.startswith("#EXTINF:"))
    assert played_duration(folder / "highlights.m3u8") == pytest.approx(listed, abs=0.1)
    # found again from nothing (an event recorded without them): the same highlights, the same playlist
    for name in ("highlights.json", "highlights.m3u8", "loudness.jsonl"):
        (folder / name).unlink()
    again = vstream_json("live", "highlights", "final", "-L", str(lib))
    assert [h["peak"] for h in again["highlights"]] == peaks
    assert (folder / "highlights.m3u8").read_text() == final
    top = loud["moments"][0]
    assert top["video_id"] == "final" and top["live"] and top["wall"].endswith("Z"), loud
    assert top["start"] <= 12.5 <= top["end"] and top["score"] > 0.5, loud  # the roar, snapped to fragments
    assert said.returncode == 3 and "nothing of it is transcribed" in json.loads(said.stdout)["error"], said.stdout
    # ended, not indexed: its loud moments are the video's, from the recorder's measure
    after = vstream_json("search", "", "--mode", "peaks", "-L", str(lib))["moments"]
    roars = sorted(after[:2], key=lambda m: m["start"])
    assert roars[0]["start"] <= 12.5 <= roars[0]["end"] and roars[1]["start"] <= 34.5 <= roars[1]["end"], after
    assert not any(m["live"] for m in after), after


FAN_RECIPE = """version: 1
name: fan
vars:
  event: final
clips:
  - video: match
    start: 0
    duration: 8
  - live: "{{event}}"
"""


def test_a_fans_recipe_plays_archive_clips_then_the_live_highlights_as_they_are_found(tmp_path, samples):
    lib = tmp_path / "lib"
    vstream("ingest", str(sample_path(samples, "match")), "-L", str(lib), check=True)
    recipe = tmp_path / "fan.yaml"
    shutil.copyfile(Path(__file__).parents[2] / "recipes" / "logo.png", tmp_path / "logo.png")
    recipe.write_text(FAN_RECIPE + "overlays:\n  - image: logo.png\ntext:\n  - text: \"{{user}}'s final\"\n    end: 5\n")
    rec, sender = udp_event(lib, "final", 44, 1, roars=((12, 13), (34, 35)))
    follow = subprocess.Popen([sys.executable, "-m", "vstream", "compose", str(recipe), "-L", str(lib), "--follow",
                               "--user", "ana"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    playlist = lib / "streams" / "fan" / "ana" / "video.m3u8"
    try:
        seen = watch(playlist, follow, timeout=150)
        out, errors = follow.communicate(timeout=60)
        rec.communicate(timeout=60)
        if playlist.read_text() != seen[-1]:  # written just before --follow exited, after the last look
            seen.append(playlist.read_text())
    finally:
        for proc in (sender, rec, follow):
            if proc.poll() is None:
                proc.kill()
    assert follow.returncode == 0, errors
    assert out.strip() == str(lib / "streams" / "fan" / "ana" / "master.m3u8")  # printed once published
    assert "2 highlight(s) of final" in errors
    assert len(seen) >= 2 and "#EXT-X-ENDLIST" not in seen[0]  # published while the event was live, then grew
    for before, after in zip(seen, seen[1:]):
        assert after.startswith(before)  # a player's reload only ever sees more
        assert "#EXT-X-ENDLIST" not in before
    assert all("#EXT-X-TARGETDURATION:6\n" in text and "#EXT-X-PLAYLIST-TYPE:EVENT" in text for text in seen)
    final = seen[-1]
    assert final.endswith("#EXT-X-ENDLIST\n")
    assert final.index("/media/") < final.index("/live/final/")  # the archive clip first
    lines = final.splitlines()
    live_ranges = [a for a, b in zip(lines, lines[1:]) if a.startswith("#EXT-X-BYTERANGE") and "/live/final/" in b]
    highlights = (lib / "live" / "final" / "highlights.m3u8").read_text()
    assert live_ranges == segments(highlights)  # exactly the event's highlights, in order
    assert final.count("#EXT-X-PROGRAM-DATE-TIME") == 3  # dated: the archive block and each highlight
    assert 1 <= final.count("#EXT-X-DISCONTINUITY") <= 2  # the second highlight may follow on from the first
    # the logo over the whole stream (no end: on through highlights not found yet), the text over its first 5 s
    shown = session(lib / "streams" / "fan" / "ana" / "master.m3u8")
    assert [set(o) for o in shown["dev.vstream.overlays"]] == [{"image", "position", "scale", "opacity"}]
    assert shown["dev.vstream.overlays"][0]["image"].startswith("data:image/png;base64,")
    assert [(t["text"], t.get("start", 0), t["end"]) for t in shown["dev.vstream.text"]] == [("ana's final", 0, 5)]
    composed = vstream_json("compose", str(recipe), "-L", str(lib), "--user", "ana")
    assert composed["live"] == {"event": "final", "ended": True, "highlights": 2, "found": 2}
    assert [c["video_id"] for c in composed["clips"]] == ["match", "live:final", "live:final"]
    lengths = [c["end"] - c["start"] for c in composed["clips"]]
    assert lengths[0] == 8 and all(18 <= n <= 24 for n in lengths[1:])  # a clip of about 20 s per highlight
    assert composed["duration"] == pytest.approx(sum(lengths))
    assert playlist.read_text() == final  # composed again once ended: the same stream


def test_a_live_recipe_says_not_yet_and_refuses_an_unknown_event(tmp_path, samples):
    lib = tmp_path / "lib"
    vstream("ingest", str(sample_path(samples, "match")), "-L", str(lib), check=True)
    recipe = tmp_path / "fan.yaml"
    recipe.write_text(FAN_RECIPE)
    unknown = vstream("compose", str(recipe), "-L", str(lib), "--json")
    assert unknown.returncode == 2 and "clips[1].live" in json.loads(unknown.stdout)["error"]
    rec, sender = udp_event(lib, "final", 12, 1)
    try:
        early = vstream("compose", str(recipe), "-L", str(lib), "--json")
    finally:
        sender.kill()
        rec.send_signal(signal.SIGTERM)
        rec.communicate(timeout=90)
    assert early.returncode == 3 and json.loads(early.stdout)["error"].startswith("not yet: fan.yaml for guest")
    assert not (lib / "streams" / "fan").exists()  # nothing half-written
    ended = vstream_json("compose", str(recipe), "-L", str(lib))  # ended without a roar: the archive alone, said
    assert ended["live"]["highlights"] == 0 and any("final ended without highlights" in w for w in ended["warnings"])
    assert (lib / "streams" / "fan" / "guest" / "video.m3u8").read_text().endswith("#EXT-X-ENDLIST\n")


def test_an_event_without_sound_is_recorded_and_says_why_it_has_no_highlights(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "mute", "--idle", "2", "--reconnect", "0")
    time.sleep(1.0)
    sender = send(f"udp://127.0.0.1:{port}", 8, audio=False)
    try:
        out, errors = rec.communicate(timeout=90)
    finally:
        sender.kill()
    assert rec.returncode == 0, errors
    assert json.loads(out)["video"] == "mute"
    found = vstream("live", "highlights", "mute", "-L", str(lib))
    assert found.returncode == 0 and "no highlights: the event's sound cannot be measured" in found.stderr, found.stderr
    assert not (lib / "live" / "mute" / "highlights.m3u8").exists()


def test_bad_highlight_settings_are_refused_before_anything_is_made(tmp_path):
    lib = tmp_path / "lib"
    for option, value, needle in (("--highlight-length", "2", "--highlight-length must be 4..300 seconds"),
                                  ("--highlight-rise", "0", "--highlight-rise must be 1..60 LU")):  # fmt: skip
        proc = vstream("live", "record", "udp://127.0.0.1:9", "--id", "x", option, value, "-L", str(lib))
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert not lib.exists()


def test_a_silent_source_times_out_and_leaves_nothing(tmp_path):
    lib = tmp_path / "lib"
    proc = vstream("live", "record", f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}", "--id", "nothing",
                   "-L", str(lib), "--timeout", "2", timeout=60)  # fmt: skip
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "no video arrived" in proc.stderr
    assert not (lib / "live" / "nothing").exists()
    assert vstream_json("list", "-L", str(lib)).get("live") is None


def test_a_source_without_video_is_refused(tmp_path):
    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "radio", "--idle", "2", "--timeout", "20")
    time.sleep(1.0)
    subprocess.Popen(["ffmpeg", "-hide_banner", "-v", "error", "-re", "-f", "lavfi", "-i", "sine=duration=8",
                      "-c:a", "aac", "-f", "mpegts", f"udp://127.0.0.1:{port}"])  # fmt: skip
    _, errors = rec.communicate(timeout=60)
    assert rec.returncode == 4 and "carries no video" in errors
    assert not (lib / "live" / "radio").exists()


def test_index_follow_transcribes_a_live_events_speech_while_it_is_recorded(tmp_path, samples):
    """The sample talk sent live (four sentences, known word times): each sentence is kept once, on
    its time, the first while the event is still on; a restarted follower adds nothing twice."""
    import difflib
    from datetime import datetime

    lib = tmp_path / "lib"
    port = free_port(socket.SOCK_DGRAM)
    rec = recorder(lib, f"udp://127.0.0.1:{port}", "show", "--idle", "2", "--reconnect", "0")
    time.sleep(1.0)
    sender = subprocess.Popen(["ffmpeg", "-hide_banner", "-v", "error", "-re", "-i", str(sample_path(samples, "talk")),
                               "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold",
                               "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "mpegts",
                               f"udp://127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_fragments(lib / "live" / "show" / "index.m3u8", 1)
    argv = [sys.executable, "-m", "vstream", "index", "--follow", "show", "-L", str(lib), "--whisper-model", "tiny.en", "--json"]
    follow = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    transcript = lib / "live" / "show" / "speech.jsonl"
    # a fan's stream of the moments the event's speech mentions her topic
    (tmp_path / "fan.yaml").write_text("version: 1\nname: fan\nvars:\n  topic: budget\nclips:\n  - live: show\n"
                                       "    said: '{{topic}}'\n")  # fmt: skip
    fan = subprocess.Popen([sys.executable, "-m", "vstream", "compose", str(tmp_path / "fan.yaml"), "-L", str(lib),
                            "--follow", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        while not (transcript.exists() and "rocket" in transcript.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "rocket launch" in transcript.read_text() and rec.poll() is None  # kept while the event is on
        # search sees it while the event is on (nothing is indexed yet): by meaning, no word in common
        found = vstream_json("search", "when does the spacecraft lift off", "-L", str(lib))["moments"]
        assert rec.poll() is None and found and found[0]["video_id"] == "show" and found[0]["live"], found
        first = samples["videos"]["talk"]["speech"][0]
        assert found[0]["start"] <= first["start"] and found[0]["end"] >= first["end"] and "rocket" in found[0]["text"]
        assert found[0]["start"] % 2 == 0 and found[0]["wall"]  # on a fragment boundary (2 s GOPs), with its clock
        clip = vstream_json("live", "clip", "show", "-L", str(lib), "--from", str(found[0]["start"]), "--to",
                            str(found[0]["end"]))  # and it plays as an instant clip from the times it gave
        assert clip["start"] == found[0]["start"] and played_duration(clip["playlist"]) >= first["end"] - first["start"]
        out, errors = follow.communicate(timeout=120)  # it ends with the event
        assert follow.returncode == 0, errors
        event = json.loads(rec.communicate(timeout=60)[0])
        composed, fan_errors = fan.communicate(timeout=60)  # it ends once the transcript is complete
        assert fan.returncode == 0, fan_errors
    finally:
        for proc in (sender, rec, follow, fan):
            if proc.poll() is None:
                proc.kill()
    lines = json.loads(out)["lines"]
    spoken = samples["videos"]["talk"]["speech"]
    assert len(lines) == len(spoken), [line["text"] for line in lines]  # each sentence once, none cut in two
    began = datetime.fromisoformat(json.loads((lib / "live" / "show" / "event.json").read_text())["started_at"].replace("Z", "+00:00"))
    for said, line in zip(spoken, lines):
        words = [w.strip(".,").lower() for w in line["text"].split()]
        assert difflib.SequenceMatcher(None, words, [w["word"].lower() for w in said["words"]]).ratio() >= 0.8, line
        assert abs(line["at"] - said["start"]) < 0.6 and abs(line["to"] - said["end"]) < 0.6, (said, line)
        wall = datetime.fromisoformat(line["wall"].replace("Z", "+00:00"))
        assert abs((wall - began).total_seconds() - line["at"]) < 0.01  # the take's clock + its time
    assert event["status"] == "ended"
    # each kept line was embedded by the follower, as search embeds it (search reads them, embeds nothing)
    import numpy as np

    from vstream.index.textembed import load_text_embedder
    from vstream.library import Library
    from vstream.live_speech import read_vectors

    embedder = load_text_embedder(None)
    stored = read_vectors(Library.open(lib), "show", embedder.fingerprint, 100)
    assert stored.shape[0] == len(lines)
    assert np.allclose(stored, embedder.embed_passages([line["text"] for line in lines]), atol=1e-4)
    result = json.loads(composed)
    (clip,) = result["clips"]  # the one sentence about the budget, whole, with the seconds before it
    assert clip["start"] <= spoken[1]["start"] and clip["end"] >= spoken[1]["end"] and result["live"]["ended"]
    assert (Path(result["master"]).parent / "video.m3u8").read_text().endswith("#EXT-X-ENDLIST\n")
    # a fan's stream of what the live transcript says about her topic, by meaning (no word in common)
    (tmp_path / "money.yaml").write_text("version: 1\nname: money\nvars:\n  topic: money for next year\nclips:\n"
                                         "  - live: show\n    search: '{{topic}}'\n")  # fmt: skip
    (clip,) = vstream_json("compose", str(tmp_path / "money.yaml"), "-L", str(lib))["clips"]
    assert clip["start"] <= spoken[1]["start"] and clip["end"] >= spoken[1]["end"], clip
    nothing = vstream_json("compose", str(tmp_path / "money.yaml"), "-L", str(lib), "--set", "topic=volcano eruption")
    assert "nothing in its transcript matches the search 'volcano eruption'" in nothing["error"]
    # ended, a library video not indexed yet: its transcript still answers, as moments of the video
    (budget,) = vstream_json("search", "budget", "-L", str(lib), "--mode", "keyword")["moments"]
    assert budget["video_id"] == "show" and not budget["live"] and budget["start"] <= spoken[1]["start"]
    assert budget["end"] >= spoken[1]["end"] and Path(budget["thumbnail"]).is_file()
    assert vstream_json("search", "budget", "-L", str(lib), "--no-live")["error"] == "nothing is indexed yet"
    again = vstream_json("index", "--follow", "show", "-L", str(lib), "--whisper-model", "tiny.en")
    assert again["sentences"] == 0 and len(transcript.read_text().splitlines()) == len(spoken)


def test_index_follow_ocr_reads_a_scoreboard_while_it_is_on_screen_and_search_finds_it(tmp_path, samples):
    """The match sample sent live: the scoreboard it shows at 8-16 s is read from the fragments'
    keyframes as they are recorded, and a search finds that live moment while the event is on; what
    the picture shows is described too (a tripod at 16-24 s)."""
    lib = tmp_path / "lib"
    rec, sender = sample_event(lib, samples, "match", "game", "--no-highlights")
    follow = subprocess.Popen([sys.executable, "-m", "vstream", "index", "--follow", "game", "-L", str(lib), "--ocr",
                               "--visual", "labels", "--whisper-model", "tiny.en", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    shown = lib / "live" / "game" / "onscreen.jsonl"
    try:
        deadline = time.monotonic() + 40
        while not (shown.exists() and "LIVERPOOL" in shown.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        (found,) = vstream_json("search", "liverpool", "-L", str(lib), "--mode", "keyword", "--kind", "scene")["moments"]
        assert rec.poll() is None, "the event should still be on"
        assert found["video_id"] == "game" and found["live"] and "LIVERPOOL" in found["text"], found
        assert found["start"] == 8.0 and found["end"] >= 10.0, found  # from the fragment the scoreboard is first in
        out, errors = follow.communicate(timeout=120)  # it ends with the event
        assert follow.returncode == 0, errors
        rec.communicate(timeout=60)
    finally:
        for proc in (sender, rec, follow):
            if proc.poll() is None:
                proc.kill()
    shown_all = json.loads(out)["shown"]
    described = [s for s in shown_all if s["source"] == "description"]
    assert len(described) >= 11 and sum("tripod" in s["text"] for s in described if s["at"] >= 16) >= 3, described
    runs = [s for s in shown_all if "LIVERPOOL" in s["text"]]
    assert [(s["at"], s["to"]) for s in runs] == [(8.0, 10.0), (10.0, 12.0), (12.0, 14.0), (14.0, 16.0)], runs
    assert all("MAN UTD" in s["text"] and s["wall"] for s in runs)
    # the whole event, read once: one moment, the scoreboard's 8 s
    (whole,) = vstream_json("search", "liverpool", "-L", str(lib), "--mode", "keyword", "--kind", "scene")["moments"]
    assert (whole["start"], whole["end"]) == (8.0, 16.0)
    tripod = vstream_json("search", "tripod", "-L", str(lib), "--mode", "keyword", "--kind", "scene")["moments"]
    assert tripod and all("tripod" in m["text"] and m["start"] >= 16.0 for m in tripod), tripod  # the camera's 8 s
    assert min(m["start"] for m in tripod) == 16.0 and max(m["end"] for m in tripod) >= 23.5, tripod
