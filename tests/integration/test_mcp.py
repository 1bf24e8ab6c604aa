"""`vstream mcp` with the SDK's own client: in-process and over stdio against the real command."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, vstream_json
from tests.media_checks import played_duration

mcp = pytest.importorskip("mcp", reason="the mcp extra is installed by make test")
from mcp import Client, StdioServerParameters  # noqa: E402

from vstream.library import Library  # noqa: E402


@pytest.fixture(scope="module")
def lib(indexed_library, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("mcp") / "lib"
    shutil.copytree(indexed_library, copy)
    return copy


def run(coro):
    """Run the client in a thread of its own: the session's Playwright browser keeps an event loop
    running in the main thread, where asyncio.run() may not start another."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def session(server, calls):
    async with Client(server) as client:
        return [await client.call_tool(name, args) if name != "list_tools" else await client.list_tools()
                for name, args in calls]  # fmt: skip


def in_process(lib: Path, *calls):
    from vstream.mcp_server import build_server

    return run(session(build_server(Library.open(lib)), list(calls)))


def test_the_tools_and_their_schemas(lib):
    (listed,) = in_process(lib, ("list_tools", None))
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == {"list_videos", "video_details", "search_moments", "transcript_window", "validate_recipe",
                          "compose_stream", "compose_explainer", "list_people", "list_live_events", "live_clip",
                          "live_highlights"}  # fmt: skip
    for tool in tools.values():
        assert tool.description and tool.output_schema and tool.input_schema["type"] == "object"
    limit = tools["search_moments"].input_schema["properties"]["limit"]
    assert limit["maximum"] == 25 and limit["minimum"] == 1
    assert tools["compose_stream"].input_schema["properties"]["clips"]["maxItems"] == 30
    assert tools["search_moments"].annotations.read_only_hint is True


def test_the_tool_schemas_match_their_snapshot(lib):
    """What agents see of every tool (write tools too): a change shows here as a diff to review."""
    from tests.unit.test_timeline import check_golden
    from vstream.mcp_server import build_server

    async def listing():
        async with Client(build_server(Library.open(lib), allow_write=True)) as client:
            return (await client.list_tools()).tools

    tools = run(listing())
    snapshot = {t.name: {"description": (t.description or "").split("\n")[0], "input": t.input_schema,
                         "output": t.output_schema} for t in sorted(tools, key=lambda t: t.name)}  # fmt: skip
    check_golden("mcp_tools.json", json.dumps(snapshot, indent=1, sort_keys=True) + "\n")


def test_an_agent_searches_composes_an_explainer_and_gets_a_playable_stream(lib):
    found, made, again = in_process(lib, ("search_moments", {"query": "the rocket launch", "limit": 3}),
                                    ("compose_explainer", {"query": "the rocket launch", "max_clips": 2}),
                                    ("compose_explainer", {"query": "the rocket launch", "max_clips": 2}))  # fmt: skip
    moments = found.structured_content["moments"]
    assert moments[0]["video_id"] == "talk" and moments[0]["start"] <= 3.0 < moments[0]["end"]
    stream = made.structured_content
    assert stream["url"].startswith("streams/agent-") and stream["clips"][0]["video_id"] == "talk"
    assert again.structured_content["stream_id"] == stream["stream_id"]  # content-addressed
    master = lib / stream["url"]
    assert played_duration(master.parent / "video.m3u8") == pytest.approx(stream["duration"], abs=0.1)
    cues = (master.parent / "captions.vtt").read_text()
    assert "rocket launch" in cues.lower()  # captions of the cited clips, at composed time


@pytest.mark.browser
def test_the_explainer_an_agent_gets_plays_in_hlsjs_with_captions_inside_its_clips(lib, hls_player, hls_serve):
    (made,) = in_process(lib, ("compose_explainer", {"query": "the budget for next year", "max_clips": 3}))
    stream = made.structured_content
    played = hls_player.play(f"{hls_serve(lib)}/{stream['url']}", timeout=90, rate=4.0)
    played.assert_played(expected_duration=stream["duration"], tolerance=0.1)
    assert not played.stream_errors, played.summary()
    stamps = re.findall(r"([\d:.]+) --> ([\d:.]+)", (lib / stream["url"]).with_name("captions.vtt").read_text())
    spans = [(c["at"], c["at"] + c["end"] - c["start"]) for c in stream["clips"]]
    assert stamps
    for a, b in ((seconds(x), seconds(y)) for x, y in stamps):
        assert any(lo - 1e-3 <= a < b <= hi + 1e-3 for lo, hi in spans), (a, b, spans)  # no cue across a cut


def seconds(stamp: str) -> float:
    h, m, s = (["0"] + stamp.split(":"))[-3:]
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_transcripts_and_videos_come_in_bounded_pages(lib, monkeypatch):
    import vstream.mcp_server as server

    window, page = in_process(lib, ("transcript_window", {"video_id": "talk", "start": 0, "end": 12}),
                              ("list_videos", {"limit": 2}))  # fmt: skip
    sentences = window.structured_content["sentences"]
    assert sentences and all(s["end"] > 0 and s["start"] < 12 for s in sentences)
    assert len(page.structured_content["videos"]) == 2 and page.structured_content["next_cursor"] == "2"
    monkeypatch.setattr(server, "MAX_CHARS", 400)  # a large library: the answer stops at its budget
    (capped,) = in_process(lib, ("list_videos", {"limit": 100}))
    data = capped.structured_content
    assert data["truncated"] and len(data["videos"]) < data["total"] and data["next_cursor"]
    assert len(json.dumps(data)) < 2000


@pytest.mark.parametrize("name, args, needle", [
    ("transcript_window", {"video_id": "talk", "start": 0, "end": 999}, "not inside the video"),
    ("transcript_window", {"video_id": "talk", "start": -1}, "greater than or equal to 0"),
    ("search_moments", {"query": "rocket", "limit": 500}, "less than or equal to 25"),
    ("video_details", {"video_id": "../../etc/passwd"}, "no video"),
    ("compose_stream", {"clips": [{"video_id": "talk", "start": 30, "end": 40}]}, "not inside the video"),
    ("compose_stream", {"clips": [{"video_id": "talk", "start": 0, "end": 1}] * 31}, "at most 30"),
    ("list_videos", {"cursor": "abc"}, "bad cursor"),
])  # fmt: skip
def test_bad_inputs_are_tool_errors_with_the_reason(lib, name, args, needle):
    (result,) = in_process(lib, (name, args))
    assert result.is_error and needle in result.content[0].text, result.content[0].text


def test_no_match_is_an_empty_list_and_validate_names_the_field(lib):
    empty, bad, good = in_process(lib, ("search_moments", {"query": "xqzv blorp"}),
                                  ("validate_recipe", {"recipe_yaml": "version: 1\nname: x\nclips:\n  - video: talk\n    strat: 1\n"}),
                                  ("validate_recipe", {"recipe_yaml": (ROOT / "recipes" / "explainer.yaml").read_text()
                                                       .replace("logo.png", "nope.png")}))  # fmt: skip
    assert not empty.is_error and empty.structured_content["moments"] == []
    assert bad.structured_content["valid"] is False and "clips[0].strat" in bad.structured_content["errors"][0]
    assert good.structured_content["valid"] is True
    assert not (lib / "streams" / "explainer").exists()  # validation writes nothing


def test_resources_for_videos_transcripts_and_streams_and_an_explainer_prompt(lib):
    from vstream.mcp_server import build_server

    async def exchange():
        async with Client(build_server(Library.open(lib))) as client:
            templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
            video = await client.read_resource("vstream://videos/talk")
            vtt = await client.read_resource("vstream://videos/talk/transcript")
            made = await client.call_tool("compose_stream", {"clips": [{"video_id": "talk", "start": 0, "end": 8}]})
            stream = await client.read_resource(f"vstream://streams/{made.structured_content['stream_id']}")
            escaped = []
            for uri in ("vstream://streams/..%2F..%2Fcatalog.sqlite", "vstream://streams/../../catalog.sqlite",
                        "vstream://videos/..%2Fcatalog"):  # fmt: skip
                try:
                    escaped.append((await client.read_resource(uri)).contents[0])
                except Exception as exc:  # noqa: BLE001 - the SDK raises its MCPError for a failed read
                    assert "no stream" in str(exc) or "no video" in str(exc) or "Unknown resource" in str(exc), exc
            prompt = await client.get_prompt("explainer", {"topic": "the rocket launch"})
            return templates, video, vtt, stream, escaped, prompt

    templates, video, vtt, stream, escaped, prompt = run(exchange())
    assert templates == {"vstream://videos/{video_id}", "vstream://videos/{video_id}/transcript",
                         "vstream://streams/{stream_id}"}  # fmt: skip
    assert json.loads(video.contents[0].text)["id"] == "talk"
    assert vtt.contents[0].text.startswith("WEBVTT") and "rocket" in vtt.contents[0].text.lower()
    assert "#EXTM3U" in stream.contents[0].text and "#EXTINF" in stream.contents[0].text
    assert not escaped  # an id is an id, never a path into the library
    text = prompt.messages[0].content.text
    assert "the rocket launch" in text and "search_moments" in text and "compose_stream" in text


def test_write_tools_only_with_the_flag_ingest_as_a_job_with_progress_inside_their_folder(lib, tmp_path):
    from vstream.mcp_server import build_server

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4",
                    "-f", "lavfi", "-i", "sine=f=440:duration=4:sample_rate=44100", "-c:v", "libx264", "-g", "25",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(inbox / "promo.mp4")], check=True)  # fmt: skip
    # (a new file: a copy of one would be "already ingested"; its sound at 44.1 kHz, the library's at 48)
    (inbox / "escape.mp4").symlink_to("/etc/passwd")
    writable = tmp_path / "lib"
    shutil.copytree(lib, writable)
    notes: list[tuple[float, str]] = []
    rates: list[int | None] = []
    from vstream.library import stored_audio_rate

    async def progress(done, total, message):
        notes.append((done, message or ""))

    async def exchange():
        async with Client(build_server(Library.open(writable))) as client:
            plain = {t.name for t in (await client.list_tools()).tools}
        async with Client(build_server(Library.open(writable), allow_write=True, ingest_dirs=[inbox])) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            bad = [await client.call_tool("ingest_file", {"path": p}) for p in
                   ("../lib/catalog.sqlite", "/etc/passwd", "escape.mp4", "missing.mp4")]  # fmt: skip
            done = await client.call_tool("ingest_file", {"path": "promo.mp4", "index": True},
                                          progress_callback=progress)  # fmt: skip
            status = await client.call_tool("job_status", {"job_id": done.structured_content["job_id"]})
            rates.append(stored_audio_rate(Library.open(writable).get("promo").meta))
            again = await client.call_tool("ingest_file", {"path": "promo.mp4", "index": False, "force": True,
                                                           "resample_audio": True})  # as compose advises  # fmt: skip
            return plain, tools, bad, done, status, again

    plain, tools, bad, done, status, again = run(exchange())
    assert not {"ingest_file", "index_video", "job_status"} & plain
    assert {"ingest_file", "index_video", "job_status"} <= tools
    assert all(b.is_error for b in bad) and "outside the folders" in bad[0].content[0].text
    assert "outside the folders" in bad[2].content[0].text  # a symlink out of the folder, resolved
    job = done.structured_content
    assert job["status"] == "done", job
    assert job["result"]["results"][0]["id"] == "promo" and job["result"]["index"][0]["status"] == "indexed"
    assert status.structured_content["status"] == "done"
    assert notes and any("promo" in m or "index" in m.lower() for _, m in notes)  # progress reached the client
    assert "promo" in {v["id"] for v in vstream_json("list", "-L", str(writable))["videos"]}
    assert again.structured_content["status"] == "done", again.structured_content
    assert rates == [44100] and stored_audio_rate(Library.open(writable).get("promo").meta) == 48000  # its sound re-encoded, 44.1 -> 48 kHz


def test_over_stdio_against_the_real_command(lib):
    params = StdioServerParameters(command=sys.executable, args=["-m", "vstream", "mcp", "--library", str(lib)])
    listed, found = run(session(params, [("list_tools", None), ("search_moments", {"query": "budget", "limit": 2})]))
    assert "compose_stream" in {t.name for t in listed.tools}
    assert found.structured_content["moments"][0]["video_id"] == "talk"
    assert vstream_json("list", "-L", str(lib))["videos"]  # the library is as it was


def test_over_streamable_http_with_a_bearer_token(lib):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from tests.e2e.test_serve import free_port

    token, port = "agent-token-0123456789", free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vstream", "mcp", "--http", "--port", str(port), "--token", token,
                             "-L", str(lib)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(port, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}))
        listed, found = run(session(transport, [("list_tools", None), ("search_moments", {"query": "budget"})]))
        assert "compose_explainer" in {t.name for t in listed.tools}
        assert found.structured_content["moments"][0]["video_id"] == "talk"
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            answer = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
            assert answer.status_code == 401
        older = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "old-agent", "version": "1"}}},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"})  # fmt: skip
        assert older.status_code == 200 and '"protocolVersion":"2025-03-26"' in older.text.replace(" ", "")
        rebinding = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                headers={"Authorization": f"Bearer {token}", "Host": "attacker.example"})  # fmt: skip
        assert rebinding.status_code in (400, 403, 421)  # DNS rebinding: a foreign Host is refused
    finally:
        proc.terminate()
        proc.wait(10)


def test_http_beyond_loopback_needs_a_token(lib):
    proc = subprocess.run([sys.executable, "-m", "vstream", "mcp", "--http", "--host", "0.0.0.0", "-L", str(lib)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and "--token" in proc.stderr


def wait_for(port: int, proc) -> None:
    import socket
    import time

    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read())
            time.sleep(0.1)
    raise AssertionError("the MCP server did not start")


def test_an_agent_lists_live_events_clips_them_and_gets_their_highlights(tmp_path):
    """A recorder's file source (a finished file is read at once): 30 s with a roar at 12-13 s."""
    source = tmp_path / "derby.ts"
    subprocess.run(["ffmpeg", "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=30", "-af", "volume='if(between(t,12,13),1,0.02)':eval=frame",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", str(source)], check=True)  # fmt: skip
    lib = tmp_path / "lib"
    vstream_json("live", "record", str(source), "--id", "derby", "--idle", "1", "-L", str(lib))
    listed, lights, clip, loud, early, both = in_process(
        lib, ("list_live_events", {}), ("live_highlights", {"event_id": "derby"}), ("live_clip", {"event_id": "derby", "last": 6}),
        ("live_clip", {"event_id": "derby", "loudest": 6}), ("live_clip", {"event_id": "derby", "start": "20", "end": "90"}),
        ("live_clip", {"event_id": "derby", "last": 6, "loudest": 6}))  # fmt: skip
    (event,) = listed.structured_content["events"]
    assert event["id"] == "derby" and event["status"] == "ended" and event["video"] == "derby" and event["highlights"] == 1
    assert abs(event["duration"] - 30) < 0.5 and event["url"] == "live/derby/index.m3u8"
    (h,) = lights.structured_content["highlights"]
    assert 12 <= h["peak"] <= 14 and h["in_playlist"] and h["at"].endswith("Z")  # the roar, within a GOP
    assert lights.structured_content["url"] == "live/derby/highlights.m3u8"
    made = clip.structured_content
    assert made["duration"] == pytest.approx(6, abs=0.1) and made["end"] == pytest.approx(30, abs=0.5)
    assert played_duration(lib / made["url"]) == pytest.approx(made["duration"], abs=0.1)
    assert loud.structured_content["start"] <= 12 <= loud.structured_content["end"]
    assert early.is_error and "derby ended at 30" in early.content[0].text  # past its end: never, not "not yet"
    assert both.is_error and "one of them" in both.content[0].text
