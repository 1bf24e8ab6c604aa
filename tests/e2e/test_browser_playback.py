"""What a browser plays: every ingested playlist plays to `ended` in hls.js in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import sample_path, vstream, vstream_json

pytestmark = pytest.mark.browser


def _url(base: str, library: Path, playlist: str) -> str:
    return f"{base}/{Path(playlist).relative_to(library).as_posix()}"


def test_every_ingested_sample_plays_to_the_end_in_hlsjs(library, samples, hls_player, hls_serve):
    base = hls_serve(library)
    for name, expected in samples["videos"].items():
        info = vstream_json("info", name, "-L", str(library))
        result = hls_player.play(_url(base, library, info["playlist"]), timeout=60, rate=8.0)
        result.assert_played(expected_duration=expected["duration"], tolerance=0.1)
        # byte ranges really were requested as ranges (one media file per video)
        assert any(r.startswith("206 ") for r in result.requests), result.requests[:5]


def test_mpeg_ts_output_plays_in_hlsjs(samples, tmp_path, hls_player, hls_serve):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), "--format", "ts", str(sample_path(samples, "talk")), check=True)
    info = vstream_json("info", "talk", "-L", str(lib))
    result = hls_player.play(_url(hls_serve(lib), lib, info["playlist"]), timeout=60, rate=8.0)
    result.assert_played(expected_duration=samples["videos"]["talk"]["duration"], tolerance=0.1)
