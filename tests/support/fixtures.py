"""pytest fixtures for the hls.js browser harness.

Wire them up from the top-level ``tests/conftest.py`` (or the rootdir conftest)::

    pytest_plugins = ["tests.support.fixtures"]

which also registers the ``browser`` marker.  Alternatively import the
fixtures into a conftest or test module namespace::

    from tests.support.fixtures import hls_player, hls_serve  # noqa: F401

Fixtures:

``hls_player`` (session)
    the shared :class:`~tests.support.hlsplayer.HlsPlayer` (one headless
    Chromium per test session, a fresh browser context per playback)::

        result = hls_player.play(url, timeout=30, rate=4.0)
        result.assert_played(expected_duration=6.0)

``hls_serve`` (function)
    factory ``hls_serve(directory) -> base_url`` starting a loopback static
    server (Range support, HLS MIME types) that stops at test teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .hlsplayer import HlsPlayer, close_shared_player, serve_directory, shared_player


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: needs headless Chromium + hls.js (npm ci; apt-get install chromium)"
    )


@pytest.fixture(scope="session")
def hls_player() -> Iterator[HlsPlayer]:
    """The session-wide headless Chromium + hls.js player (same one :func:`play_hls` uses)."""
    player = shared_player()
    try:
        yield player
    finally:
        close_shared_player()


@pytest.fixture
def hls_serve() -> Iterator[Callable[[Path | str], str]]:
    """Factory: ``hls_serve(directory)`` -> base URL of a loopback server for ``directory``."""
    with contextlib.ExitStack() as stack:

        def serve(directory: Path | str) -> str:
            return stack.enter_context(serve_directory(Path(directory)))

        yield serve
