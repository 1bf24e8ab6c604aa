"""The README does not lie: its Python example runs as printed, and every command line it shows exists."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, vstream

README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_the_python_highlight_reel_runs_as_printed(indexed_library, tmp_path):
    code = next(b for b in blocks("python") if "generate_stream" in b)
    assert len(code.strip().splitlines()) < 20  # the promise: a reel in under 20 lines
    shutil.copytree(indexed_library, tmp_path / "vstream-library")
    (tmp_path / "recipes").mkdir()
    shutil.copy(ROOT / "recipes" / "logo.png", tmp_path / "recipes" / "logo.png")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert set(printed) == {"u42", "u7"}
    videos = {}
    for user, master in printed.items():
        folder = Path(master).parent
        assert folder == tmp_path / "vstream-library" / "streams" / "highlights" / user
        assert 'DATA-ID="dev.vstream.overlays"' in (folder / "master.m3u8").read_text()
        assert (folder / "captions.vtt").read_text().startswith("WEBVTT")
        videos[user] = (folder / "video.m3u8").read_text()
    assert "media/match-" in videos["u42"].split("#EXTINF")[1]  # the goal is u42's first moment
    assert "media/talk-" in videos["u7"].split("#EXTINF")[1]  # the rocket launch is u7's


def commands() -> list[list[str]]:
    found = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("vstream ") and "|" not in line:
                found.append(shlex.split(line))
            elif line.startswith("vstream ") and "|" in line:
                found.append(shlex.split(line.split("|")[0]))
    return found


@pytest.mark.parametrize("argv", commands(), ids=lambda a: " ".join(a)[:60])
def test_every_readme_command_and_option_exists(argv):
    command = argv[1]
    help_text = vstream(command, "--help").stdout
    assert "Usage: vstream " + command in help_text, f"no such command: vstream {command}"
    rest = argv[2:]
    if rest and not rest[0].startswith("-") and "Commands" in help_text:  # a group: `vstream people name ...`
        sub = vstream(command, rest[0], "--help").stdout
        if f"Usage: vstream {command} {rest[0]}" in sub:
            help_text, rest = sub, rest[1:]
    for token in rest:
        if token.startswith("--"):
            assert token.split("=")[0] in help_text, f"vstream {command} has no option {token}"
