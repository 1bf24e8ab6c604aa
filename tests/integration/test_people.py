"""People with the real face models, on videos made of real photos (tests/support/faces.py)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import vstream, vstream_json
from tests.support.faces import Place, build_video, photos_dir, truth

P = Place
EPISODES = {
    "ep1": [[P("obama", .5, .7)], [P("biden", .3, .8)], [P("astronaut", .6, .6)],
            [P("obama2", .25, .7), P("biden", .75, .7, mirror=True)], [P("obama3", .5, .9, light=.7)],
            [P("astronaut", .3, .7, mirror=True), P("obama", .75, .6)], [P("biden", .5, .9, light=1.2)],
            [P("obama_partial_face", .4, .8)], [P("obama3", .3, .9), P("biden", .72, .8, light=.8)]],
    "ep2": [[P("biden", .6, .7, light=.8)], [P("obama2", .4, .8, mirror=True)], [P("astronaut", .5, .8, light=1.2)],
            [P("obama", .3, .6, light=.8), P("astronaut", .75, .6)], [P("biden", .25, .8), P("obama3", .75, .9)],
            [P("obama_partial_face2", .6, .8)], [P("biden", .5, .85, light=.9)],
            [P("astronaut", .35, .8), P("obama_partial_face", .75, .8)]],
    "ep3": [[P("astronaut", .4, .9, light=.8)], [P("obama3", .3, .9, mirror=True), P("biden", .72, .7, light=.9)],
            [P("obama", .6, .8, mirror=True)], [P("biden", .4, .6, mirror=True)],
            [P("obama2", .6, .7, light=1.2), P("astronaut", .25, .6, light=.9)],
            [P("obama_partial_face2", .5, .8, light=.85)], [P("biden", .3, .8, light=1.1), P("astronaut", .7, .75, mirror=True)]],
}  # fmt: skip
NEWCOMER = [[P("obama2", .5, .8, light=.9)], [P("astronaut", .5, .7, mirror=True, light=.8)]]
SECONDS = 4.0


@pytest.fixture(scope="module")
def cast(tmp_path_factory) -> dict:
    """Three episodes of a series, ingested, tagged and indexed (scenes and faces)."""
    photos_dir()
    root = tmp_path_factory.mktemp("people")
    lib = root / "library"
    for n, (name, scenes) in enumerate(EPISODES.items(), 1):
        build_video(root / f"{name}.mp4", scenes, seconds=SECONDS)
        vstream("ingest", "-L", str(lib), "--tag", "series=cast", "--tag", f"episode={n}", str(root / f"{name}.mp4"),
                check=True)  # fmt: skip
    result = vstream_json("index", "-L", str(lib), "--only", "scenes", "--only", "faces", timeout=900)
    assert result["failed"] == 0 and result["indexed"] == 2 * len(EPISODES)
    build_video(root / "ep4.mp4", NEWCOMER, seconds=SECONDS)
    return {"lib": lib, "root": root}


def copy(cast: dict, tmp_path: Path) -> Path:
    lib = tmp_path / "library"
    shutil.copytree(cast["lib"], lib)
    return lib


def faces(lib: Path) -> list[dict]:
    """Every face track with its person, from the people listing and each person's faces."""
    out = []
    for p in vstream_json("people", "-L", str(lib), "--all")["people"]:
        for f in vstream_json("people", "faces", str(p["id"]), "-L", str(lib))["faces"]:
            out.append(f | {"person": p["id"], "name": p["name"]})
    return out


def who(track: dict, lib: Path) -> str:
    """The truth for a face track: the photo placed in its scene nearest its centre."""
    import lance

    row = lance.dataset(str(lib / "index" / "lancedb" / "faces.lance")).to_table(
        filter=f"row_id = '{track['face']}'", columns=["boxes"]).to_pylist()[0]  # fmt: skip
    cx = (row["boxes"][0] + row["boxes"][2]) / 2
    placed = [t for t in truth(EPISODES.get(track["video_id"], NEWCOMER), seconds=SECONDS)
              if t[0] <= track["start"] + 0.01 and track["start"] < t[1]]  # fmt: skip
    return min(placed, key=lambda t: abs(t[3] - cx))[2]


def test_the_same_person_across_videos_is_one_person_and_different_people_are_not(cast, record_property):
    lib = cast["lib"]
    tracks = faces(lib)
    assert len(tracks) >= 30, f"only {len(tracks)} face appearances found"
    truths = [who(t, lib) for t in tracks]
    tp = fp = fn = 0
    for (a, ta), (b, tb) in itertools.combinations(zip(tracks, truths), 2):
        same_cluster, same_truth = a["person"] == b["person"], ta == tb
        tp += same_cluster and same_truth
        fp += same_cluster and not same_truth
        fn += same_truth and not same_cluster
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    record_property("pairs", f"{len(tracks)} appearances: precision {precision:.3f}, recall {recall:.3f}")
    print(f"clustering: {len(tracks)} face appearances of 3 people, pair precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9
    people = vstream_json("people", "-L", str(lib))["people"]
    assert len([p for p in people if p["appearances"] >= 3]) == 3  # Obama, Biden, Collins
    for p in people:
        assert (lib / p["thumbnail"]).is_file()  # a face crop to recognise them by


def obama(lib: Path) -> int:
    people = vstream_json("people", "-L", str(lib))["people"]
    return max(people, key=lambda p: sum(who(f, lib) == "obama" for f in faces_of(lib, p["id"])))["id"]


def faces_of(lib: Path, person) -> list[dict]:
    return vstream_json("people", "faces", str(person), "-L", str(lib))["faces"]


def test_names_survive_reindexing_and_find_the_person_in_new_videos(cast, tmp_path):
    lib = copy(cast, tmp_path)
    pid = obama(lib)
    named = vstream_json("people", "name", f"p{pid}", "Barack Obama", "-L", str(lib))
    assert named["name"] == "Barack Obama"
    before = {f["face"] for f in faces_of(lib, "barack obama")}
    assert vstream_json("index", "-L", str(lib), "--only", "faces", "--force", timeout=900)["indexed"] == len(EPISODES)
    assert {f["face"] for f in faces_of(lib, "Barack Obama")} == before
    vstream("ingest", "-L", str(lib), "--tag", "series=cast", "--tag", "episode=4", str(cast["root"] / "ep4.mp4"), check=True)
    vstream("index", "-L", str(lib), "--only", "faces", check=True, timeout=900)
    arrived = [f for f in faces_of(lib, "Barack Obama") if f["video_id"] == "ep4"]
    assert [(f["start"], f["end"]) for f in arrived] == [(0.0, SECONDS)]
    # a name is one person's: giving it to another is refused with the way out
    proc = vstream("people", "name", "Barack Obama", "-L", str(lib))
    assert proc.returncode == 2
    other = next(p for p in vstream_json("people", "-L", str(lib))["people"] if p["id"] != pid)
    proc = vstream("people", "name", str(other["id"]), "barack obama", "-L", str(lib))
    assert proc.returncode == 2 and "people merge" in proc.stderr and "Traceback" not in proc.stderr


def spans(moments: list[dict]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list] = {}
    for m in moments:
        out.setdefault(m["video_id"], []).append((m["start"], m["end"]))
    return out


def truth_spans(name: str, with_: str | None = None) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list] = {}
    for video, scenes in EPISODES.items():
        for i, places in enumerate(scenes):
            people = {truth([[p]])[0][2] for p in places}
            if name in people and (with_ is None or with_ in people):
                span = (i * SECONDS, (i + 1) * SECONDS)
                if out.get(video) and out[video][-1][1] == span[0]:
                    out[video][-1] = (out[video][-1][0], span[1])
                else:
                    out.setdefault(video, []).append(span)
    return out


def close(found: dict, expected: dict, tolerance: float = 2.0) -> bool:
    """The same spans per video, each end within one keyframe interval (2 s)."""
    if found.keys() != expected.keys():
        return False
    return all(len(found[v]) == len(expected[v]) and all(abs(a - c) <= tolerance and abs(b - d) <= tolerance
               for (a, b), (c, d) in zip(found[v], expected[v])) for v in expected)  # fmt: skip


def test_search_by_person_finds_exactly_the_scenes_they_are_in(cast, tmp_path):
    lib = copy(cast, tmp_path)
    pid = obama(lib)
    vstream("people", "name", str(pid), "Barack Obama", "-L", str(lib), check=True)
    biden = next(p for p in vstream_json("people", "-L", str(lib))["people"]
                 if all(who(f, lib) == "biden" for f in faces_of(lib, p["id"])))  # fmt: skip
    vstream("people", "name", str(biden["id"]), "Joe Biden", "-L", str(lib), check=True)
    found = vstream_json("search", "-L", str(lib), "--person", "Barack Obama", "--limit", "100")
    assert found["mode"] == "person"
    assert close(spans(found["moments"]), truth_spans("obama")), (spans(found["moments"]), truth_spans("obama"))
    assert all("Barack Obama" in m["people"] for m in found["moments"])
    both = vstream_json("search", "-L", str(lib), "-p", "Barack Obama", "-p", "joe biden", "--limit", "100")
    assert close(spans(both["moments"]), truth_spans("obama", with_="biden"))
    assert all({"Barack Obama", "Joe Biden"} <= set(m["people"]) for m in both["moments"])
    # with words: only hits while the person is on screen (a scene search for what the labels say)
    worded = vstream_json("search", "-L", str(lib), "a man in a suit", "--person", "Joe Biden", "--limit", "50")
    assert worded["moments"] and all(
        any(a < m["end"] and m["start"] < b for a, b in truth_spans("biden")[m["video_id"]]) for m in worded["moments"])
    proc = vstream("search", "-L", str(lib), "--person", "Obama Barack")
    assert proc.returncode == 3 and "no person" in proc.stderr


RECIPE = """
version: 1
name: arc
vars: {character: "Barack Obama", episode: 3}
clips:
  - select: person
    person: "{{character}}"
    tags: {series: cast, episode: "<{{episode}}"}
    order: chronological
    order_by: episode
    limit: 20
"""


def test_a_recipe_follows_one_character_through_earlier_episodes(cast, tmp_path):
    lib = copy(cast, tmp_path)
    vstream("people", "name", str(obama(lib)), "Barack Obama", "-L", str(lib), check=True)
    recipe = tmp_path / "arc.yaml"
    recipe.write_text(RECIPE)
    result = vstream_json("compose", "-L", str(lib), str(recipe), "--user", "fan", timeout=300)
    clips = [(c["video_id"], c["start"], c["end"]) for c in result["clips"]]
    expected = [(v, a, b) for v in ("ep1", "ep2") for a, b in truth_spans("obama")[v]]
    assert len(clips) == len(expected) and all(
        c[0] == e[0] and abs(c[1] - e[1]) <= 2 and abs(c[2] - e[2]) <= 2 for c, e in zip(clips, expected)), clips
    missing = recipe.read_text().replace("Barack Obama", "Nobody Atall")
    recipe.write_text(missing)
    proc = vstream("compose", "-L", str(lib), str(recipe))
    assert proc.returncode == 2 and "no person 'Nobody Atall'" in proc.stderr and "Traceback" not in proc.stderr


def test_corrections_are_kept_by_later_index_runs(cast, tmp_path):
    lib = copy(cast, tmp_path)
    pid = obama(lib)
    wrong = faces_of(lib, pid)[0]["face"]
    moved = vstream_json("people", "unlink", wrong, "-L", str(lib))
    assert moved["id"] != pid and moved["appearances"] == 1
    vstream("people", "name", str(moved["id"]), "Stand-in", "-L", str(lib), check=True)
    vstream("index", "-L", str(lib), "--only", "faces", "--force", check=True, timeout=900)
    assert [f["face"] for f in faces_of(lib, "Stand-in")] == [wrong]
    assert all(f["face"] != wrong for f in faces_of(lib, pid))
    merged = vstream_json("people", "merge", str(pid), "Stand-in", "-L", str(lib))
    assert merged["id"] == pid and merged["name"] == "Stand-in"  # the merged-in name is kept when the target had none
    hidden = vstream_json("people", "hide", "Stand-in", "-L", str(lib))
    assert hidden["hidden"] and all(p["id"] != pid for p in vstream_json("people", "-L", str(lib))["people"])


def test_forget_deletes_a_persons_face_data_for_good(cast, tmp_path):
    import lance
    import numpy as np

    lib = copy(cast, tmp_path)
    pid = obama(lib)
    gone = faces_of(lib, pid)
    table = lance.dataset(str(lib / "index" / "lancedb" / "faces.lance")).to_table().to_pylist()
    vectors = [np.asarray(r["vector"], dtype=np.float32).tobytes() for r in table if r["row_id"] in {f["face"] for f in gone}]
    assert vectors and all((lib / f["thumbnail"]).is_file() for f in gone)
    proc = vstream("people", "forget", str(pid), "-L", str(lib))  # not a terminal: refuses without --yes
    assert proc.returncode == 2 and "--yes" in proc.stderr
    result = vstream_json("people", "forget", str(pid), "--yes", "-L", str(lib))
    assert result["faces_deleted"] == len(gone)
    assert not any((lib / f["thumbnail"]).exists() for f in gone)
    data = b"".join(p.read_bytes() for p in (lib / "index" / "lancedb" / "faces.lance").rglob("*") if p.is_file())
    assert not any(v[:64] in data for v in vectors)  # no version of the table keeps an embedding of theirs
    vstream("index", "-L", str(lib), "--only", "faces", "--force", check=True, timeout=900)
    remaining = [who(f, lib) for f in faces(lib)]
    assert remaining and "obama" not in remaining  # a re-index does not bring them back


def test_a_crowd_frame_costs_a_bounded_number_of_faces():
    import numpy as np
    from PIL import Image

    from vstream.index.faces import MAX_FACES, load_face_model
    from tests.support.faces import photo

    tile = photo("obama").crop((300, 80, 700, 500)).resize((110, 115))  # a head and shoulders, face ~80 px
    crowd = Image.new("RGB", (10 * 110, 5 * 115), (60, 60, 60))
    for i in range(50):
        crowd.paste(tile, ((i % 10) * 110, (i // 10) * 115))
    model = load_face_model()
    found = model.detect(np.asarray(crowd))
    assert len(found) == MAX_FACES  # fifty faces there; the largest MAX_FACES are embedded
    assert len(model._detector.run(np.asarray(crowd), 1, 0.3)[0]) >= 40  # (the detector does see the crowd)


BLOCK_DLIB = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "dlib" or name.startswith("dlib."):
            raise ModuleNotFoundError("No module named 'dlib'")
sys.meta_path.insert(0, _Block())
"""


def test_without_the_face_models_the_stage_is_skipped_and_doctor_says_so(cast, tmp_path):
    lib = copy(cast, tmp_path)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(BLOCK_DLIB)
    env = {"PYTHONPATH": str(shim)}
    vstream("ingest", "-L", str(lib), str(cast["root"] / "ep4.mp4"), check=True, env=env)
    result = vstream_json("index", "-L", str(lib), "--only", "scenes", "--only", "audio", env=env, timeout=600)
    assert result["failed"] == 0
    default = vstream_json("index", "-L", str(lib), env=env, timeout=600)
    assert default["failed"] == 0 and all(r["stage"] != "faces" for r in default["results"])
    doctor = vstream_json("doctor", "-L", str(lib), env=env)
    line = next(c for c in doctor["checks"] if c["name"] == "model: faces")
    assert line["status"] == "optional" and "dlib-bin is not installed" in line["detail"] and "vstream[faces]" in line["fix"]
    proc = vstream("index", "-L", str(lib), "--only", "faces", env=env)
    assert proc.returncode == 6 and proc.stderr.count("\n") == 1 and "vstream[faces]" in proc.stderr


def test_an_agent_finds_people_and_their_moments_over_mcp(cast, tmp_path):
    pytest.importorskip("mcp", reason="the mcp extra is installed by make test")
    from tests.integration.test_mcp import in_process

    lib = copy(cast, tmp_path)
    vstream("people", "name", str(obama(lib)), "Barack Obama", "-L", str(lib), check=True)
    listed, found = in_process(lib, ("list_people", {}),
                               ("search_moments", {"query": "", "people": ["Barack Obama"], "limit": 25}))
    people = listed.structured_content["people"]
    assert people[0]["name"] == "Barack Obama" and set(people[0]) == {"id", "name", "videos", "appearances", "seconds"}
    moments = found.structured_content["moments"]
    assert close(spans(moments), truth_spans("obama"))
    assert all("Barack Obama" in m["people"] for m in moments)


def test_faces_in_a_phone_video_are_found_upright(tmp_path):
    """A phone stores a portrait video as landscape frames plus 'turn 90° clockwise to show'."""
    import numpy as np
    from PIL import Image

    from tests.support.faces import compose

    upright = compose([P("obama", .5, .5, y=.35), P("biden", .5, .5, y=.75)], size=(720, 1280))
    coded = Image.fromarray(np.rot90(np.asarray(upright), k=1))  # as the sensor wrote it: turned counter-clockwise
    coded.save(tmp_path / "coded.png")
    raw, phone = tmp_path / "raw.mp4", tmp_path / "phone.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(tmp_path / "coded.png"), "-t", "4", "-r", "25",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p", str(raw)], check=True)  # fmt: skip
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(phone)],
                   check=True)  # fmt: skip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(phone), check=True)
    assert vstream_json("info", "phone", "-L", str(lib))["rotation"] == 90
    vstream("index", "-L", str(lib), "--only", "faces", check=True, timeout=300)
    people = vstream_json("people", "-L", str(lib))["people"]
    assert len(people) == 2  # both faces, found the way the phone shows them
