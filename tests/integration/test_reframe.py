"""Reframe that follows the subject: a person walks across a 16:9 frame, the 9:16 crop keeps them."""

from __future__ import annotations

import pytest

from tests.conftest import vstream, vstream_json
from tests.support.faces import build_pan, photos_dir

RECIPE = """
version: 1
name: walk
output: {{resolution: 608x1080, reframe: {mode}}}
clips:
  - video: walk
"""


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    photos_dir()
    root = tmp_path_factory.mktemp("reframe")
    video, start_x, end_x = build_pan(root / "walk.mp4")
    lib = root / "library"
    vstream("ingest", "-L", str(lib), str(video), check=True)
    vstream("index", "-L", str(lib), "--only", "scenes", "--only", "faces", check=True, timeout=600)
    return {"lib": lib, "root": root, "start_x": start_x, "end_x": end_x}


def compose(walk, mode: str) -> tuple[dict, dict]:
    from vstream.compose.render import session_data

    recipe = walk["root"] / f"walk-{mode}.yaml"
    recipe.write_text(RECIPE.format(mode=mode))
    result = vstream_json("compose", "-L", str(walk["lib"]), str(recipe), "--user", mode)
    from pathlib import Path

    return result, session_data(Path(result["master"]).read_text())


def face_inside(mp4, step: float = 0.5) -> float:
    """The share of frames (every ``step`` s) where a whole face is in the picture."""
    import av
    import numpy as np

    from vstream.index.faces import load_face_model

    model = load_face_model()
    seen = total = 0
    next_t = 0.0
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 < next_t:
                continue
            next_t += step
            image = frame.to_ndarray(format="rgb24")
            small = image[::2, ::2]  # 304x540: the face stays ~110 px wide
            faces = model.detect(np.ascontiguousarray(small))
            total += 1
            seen += any(f.box[0] > 0.0 and f.box[2] < 1.0 for f in faces)
    return seen / total


def test_the_crop_follows_a_person_walking_across_the_frame(walk, tmp_path):
    from vstream.compose.reframe import MAX_SPEED

    result, session = compose(walk, "follow")
    reframe = session["dev.vstream.reframe"]
    assert reframe["mode"] == "follow" and (reframe["width"], reframe["height"]) == (608, 1080)
    path = reframe["path"]
    assert path[0][1] < 0.35 and path[-1][1] > 0.65  # from the left to the right
    for (t0, x0), (t1, x1) in zip(path, path[1:]):  # smooth: no jump, a bounded pan speed
        assert t1 > t0 and abs(x1 - x0) / (t1 - t0) <= MAX_SPEED + 1e-3
    out = tmp_path / "walk.mp4"
    rendered = vstream_json("render", result["master"], "--out", str(out), timeout=600)
    assert (rendered["width"], rendered["height"]) == (608, 1080)
    share = face_inside(out)
    print(f"subject-following reframe: a whole face in {share:.0%} of sampled frames")
    assert share >= 0.95


def test_a_centre_crop_loses_the_walker_which_is_why_follow_is_the_default(walk, tmp_path):
    result, session = compose(walk, "center")
    assert session["dev.vstream.reframe"]["mode"] == "crop-center"
    out = tmp_path / "centre.mp4"
    vstream("render", result["master"], "--out", str(out), check=True, timeout=600)
    assert face_inside(out) < 0.6


PAIR = """
version: 1
name: pair
output: {{resolution: 608x1080}}
clips:
  - select: person
    person: "{who}"
    videos: [pair]
"""


@pytest.mark.parametrize("who, side", [("Obama", "left"), ("Biden", "right")])
def test_a_clip_chosen_for_someone_follows_them_when_another_face_is_on_screen(tmp_path_factory, who, side):
    """Two people side by side, each alone before and after: the 9:16 crop of a person's clip is on
    that person, whoever else the frame holds (it followed the other face half the time before)."""
    from pathlib import Path

    from tests.support.faces import Place, build_video
    from vstream.compose.render import session_data

    root = tmp_path_factory.mktemp(f"pair-{who}")
    obama, biden = Place("obama", 0.22, 0.6), Place("biden", 0.78, 1.0, y=0.6)
    scenes = [[obama], [obama, biden], [biden]]
    video = build_video(root / "pair.mp4", scenes, seconds=4.0)
    lib = root / "library"
    vstream("ingest", "-L", str(lib), str(video), check=True)
    vstream("index", "-L", str(lib), "--only", "scenes", "--only", "faces", check=True, timeout=600)
    people = vstream_json("people", "-L", str(lib))["people"]
    assert len(people) == 2, people
    for p in people:  # the one seen first is Obama (left), the other Biden
        name = "Obama" if min(a["start"] for a in vstream_json("search", "", "--person", str(p["id"]), "-L",
                                                                  str(lib))["moments"]) < 2 else "Biden"  # fmt: skip
        vstream("people", "name", str(p["id"]), name, "-L", str(lib), check=True)
    recipe = root / "pair.yaml"
    recipe.write_text(PAIR.format(who=who))
    result = vstream_json("compose", "-L", str(lib), str(recipe))
    path = session_data(Path(result["master"]).read_text())["dev.vstream.reframe"]["path"]
    # the clip is their appearances (alone, then beside the other, 4-8 s): the crop stays on them throughout
    assert result["clips"][0]["end"] - result["clips"][0]["start"] == 8.0, result["clips"]
    assert all(x < 0.45 for _, x in path) if side == "left" else all(x > 0.55 for _, x in path), (who, path)
