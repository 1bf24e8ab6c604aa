"""Pure ingest decisions: which streams are copied, what ffmpeg is asked to do, ids, tags, inputs."""

import pytest

from vstream.errors import MediaError, UsageError
from vstream.ingest import IGNORED, expand_inputs, hls_argv, plan_streams, transcode_argv
from vstream.library import parse_tags, slugify
from vstream.media.probe import AudioInfo, KeyframeTable, ProbeInfo, VideoInfo
from vstream.timecode import TICKS


def info(vcodec="h264", pix="yuv420p", acodec="aac", audio=True, rate=48000):
    return ProbeInfo(
        container="mov,mp4",
        duration=20,
        size=1000,
        bit_rate=None,
        video=VideoInfo(0, vcodec, "High", pix, 640, 360, 25.0),
        audio=AudioInfo(1, acodec, rate, 2, "stereo") if audio else None,
        streams=2 if audio else 1,
    )


def table(gap_seconds=1.0, n=20, non_monotonic=0):
    keys = [round(i * gap_seconds * TICKS) for i in range(n)]
    return KeyframeTable(keys, round(n * gap_seconds * TICKS), 0.0, n * 25, 7200, non_monotonic)


def test_h264_aac_is_copied_untouched():
    plan = plan_streams(info(), table(), "fmp4", 4, transcode=False)
    assert (plan.video, plan.audio, plan.transcodes) == ("copy", "copy", False)


def test_video_without_audio_gets_silence_not_a_transcode():
    plan = plan_streams(info(audio=False), table(), "fmp4", 4, transcode=False)
    assert (plan.video, plan.audio, plan.transcodes) == ("copy", "silence", False)


@pytest.mark.parametrize(
    "kwargs, fmt, needle",
    [
        ({"vcodec": "mpeg4"}, "fmp4", "video codec mpeg4"),
        ({"vcodec": "hevc"}, "ts", "video codec hevc"),
        ({"pix": "yuv422p10le"}, "fmp4", "pixel format yuv422p10le"),
        ({"acodec": "ac3"}, "fmp4", "audio codec ac3"),
        ({"acodec": "opus"}, "ts", "audio codec opus"),
    ],
)
def test_unplayable_sources_are_named_and_need_transcode(kwargs, fmt, needle):
    with pytest.raises(MediaError, match=needle) as exc:
        plan_streams(info(**kwargs), table(), fmt, 4, transcode=False)
    assert "--transcode" in str(exc.value)


def test_sparse_keyframes_and_backwards_timestamps_are_reported():
    with pytest.raises(MediaError, match="keyframes are up to 30.0s apart"):
        plan_streams(info(), table(gap_seconds=30, n=3), "fmp4", 4, transcode=False)
    with pytest.raises(MediaError, match="timestamps go backwards 3 times"):
        plan_streams(info(), table(non_monotonic=3), "fmp4", 4, transcode=False)


def test_transcode_reencodes_only_what_needs_it():
    audio_only_problem = plan_streams(info(acodec="ac3"), table(), "fmp4", 4, transcode=True)
    assert (audio_only_problem.video, audio_only_problem.audio) == ("copy", "encode")
    video_problem = plan_streams(info(vcodec="mpeg4"), table(), "fmp4", 4, transcode=True)
    assert (video_problem.video, video_problem.audio) == ("encode", "encode")


def test_resample_audio_reencodes_only_audio_at_another_rate_and_says_so(tmp_path):
    phone = plan_streams(info(rate=44100), table(), "fmp4", 4, transcode=False, resample_audio=True)
    assert (phone.video, phone.audio) == ("copy", "encode")
    assert phone.problems == ("audio at 44100 Hz resampled to 48000 Hz (--resample-audio)",)
    argv = hls_argv("ffmpeg", tmp_path / "in.mp4", tmp_path, info=info(rate=44100), plan=phone, fmt="fmp4", video_delay=0)
    assert argv[argv.index("-c:v") + 1] == "copy" and argv[argv.index("-ar") + 1] == "48000"
    for same in (info(), info(audio=False)):  # already 48 kHz, or no audio: nothing more to do
        plan = plan_streams(same, table(), "fmp4", 4, transcode=False, resample_audio=True)
        assert not plan.transcodes and not plan.problems
    assert plan_streams(info(rate=44100), table(), "fmp4", 4, transcode=False).audio == "copy"  # only when asked


def test_hls_argv_is_a_pure_stream_copy(tmp_path):
    plan = plan_streams(info(), table(), "fmp4", 4, transcode=False)
    argv = hls_argv("ffmpeg", tmp_path / "in.mp4", tmp_path, info=info(), plan=plan, fmt="fmp4", video_delay=7200)
    joined = " ".join(argv)
    assert "-c:v copy" in joined and "-c:a copy" in joined
    assert "libx264" not in joined and "-c:a aac" not in joined
    # ADTS AAC (from MPEG-TS sources) becomes MP4's raw AAC by a bitstream filter: still a copy
    assert argv[argv.index("-bsf:a") + 1] == "aac_adtstoasc"
    assert argv[argv.index("-audio_preload") + 1] == "80000"  # 7200 ticks = 80 ms
    assert argv[argv.index("-f") + 1] == "mp4" and "frag_keyframe" in argv[argv.index("-movflags") + 1]
    assert "-bsf:v" not in argv  # the packets as they are
    assert argv[-1].endswith("media.m4s")
    in_band = hls_argv("ffmpeg", tmp_path / "in.mp4", tmp_path, info=info(), plan=plan, fmt="fmp4", video_delay=0,
                       params_in_band=True)  # fmt: skip
    assert in_band[in_band.index("-bsf:v") + 1] == "h264_mp4toannexb"  # SPS/PPS at every keyframe, asked for


def test_silence_is_mapped_from_lavfi_and_video_still_copied(tmp_path):
    plan = plan_streams(info(audio=False), table(), "ts", 4, transcode=False)
    argv = hls_argv("ffmpeg", tmp_path / "in.mp4", tmp_path, info=info(audio=False), plan=plan, fmt="ts", video_delay=0)
    assert "anullsrc" in " ".join(argv) and argv[argv.index("-c:v") + 1] == "copy"
    assert "-audio_preload" not in argv and argv[argv.index("-hls_segment_type") + 1] == "mpegts"


def test_transcode_argv_fixes_the_gop_to_one_second(tmp_path):
    argv = transcode_argv("ffmpeg", tmp_path / "a.avi", tmp_path / "o.mp4", info=info(vcodec="mpeg4"))
    assert argv[argv.index("-g") + 1] == "25" and argv[argv.index("-sc_threshold") + 1] == "0"
    assert argv[argv.index("-c:v") + 1] == "libx264"


@pytest.mark.parametrize(
    "name, slug", [("My Talk (2)", "my-talk-2"), ("Übergröße", "ubergroe"), ("___", "video"), ("a" * 100, "a" * 64)]
)
def test_slugify(name, slug):
    assert slugify(name) == slug


def test_parse_tags():
    assert parse_tags(["series=lost", "episode = 3", "empty="]) == {"series": "lost", "episode": "3", "empty": ""}
    with pytest.raises(UsageError, match="key=value"):
        parse_tags(["novalue"])


def test_expand_inputs_walks_directories_expands_globs_and_reports_misses(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ["d/a.mp4", "d/sub/b.MOV", "d/notes.txt", "c.mkv"]:
        (tmp_path / name).write_bytes(b"x")
    items = expand_inputs([str(tmp_path / "d"), str(tmp_path / "*.mkv"), str(tmp_path / "nope.mp4"), str(tmp_path / "q*.mp4")])
    paths = [p if p in (None, IGNORED) else p.name for _, p in items]
    assert paths == ["a.mp4", IGNORED, "b.MOV", "c.mkv", None, None]  # notes.txt: reported as ignored
    assert items[1][0].endswith("notes.txt")
