"""The web page's People view and the subject-following reframe, in a real server and Chromium."""

from __future__ import annotations

import pytest

from tests.conftest import vstream, vstream_json
from tests.e2e.test_serve import ADMIN, SECRET, Server, open_page
from tests.support.faces import Place, build_pan, build_video, photos_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def faces_server(tmp_path_factory):
    photos_dir()
    root = tmp_path_factory.mktemp("people-page")
    lib = root / "library"
    build_pan(root / "walk.mp4")
    build_video(root / "duo.mp4", [[Place("obama", .5, .8)], [Place("biden", .4, .8)], [Place("obama2", .6, .8)]])
    vstream("ingest", "-L", str(lib), str(root / "walk.mp4"), str(root / "duo.mp4"), check=True)
    vstream("index", "-L", str(lib), "--only", "scenes", "--only", "faces", check=True, timeout=600)
    plain = Server(lib, None)
    signed = Server(lib, None, "--secret", SECRET, "--admin-token", ADMIN)
    yield plain, signed, lib
    plain.stop()
    signed.stop()


def test_faces_are_only_handed_to_the_admin_on_a_signed_server(faces_server):
    plain, signed, lib = faces_server
    status, body = signed.json("/api/people")
    assert status == 401 and "admin token" in body["error"]
    status, body = signed.json("/api/search?q=&person=p1")
    assert status == 401
    status, body = signed.json("/api/people", token=ADMIN)
    assert status == 200 and len(body["people"]) == 2
    assert all(p["image"].startswith("data:image/jpeg;base64,") for p in body["people"])
    crop = body["people"][0]["thumbnail"]
    for path in (f"/{crop}", f"/thumbs/../faces/{crop.split('/', 2)[2]}", f"/media/../{crop}"):
        assert plain.get(path)[0] == 404  # no URL serves a face crop
    status, body = signed.json("/api/people/name", {"person": "p1", "name": "Alice"})
    assert status == 401
    # a page elsewhere can POST text/plain to a server on localhost without a preflight: refused
    status, _, body = plain.get("/api/people/name", {"content-type": "text/plain"}, b'{"person": "p1", "name": "X"}')
    assert status == 400 and b"application/json" in body
    assert all(p["name"] != "X" for p in plain.json("/api/people")[1]["people"])


def test_a_name_given_in_the_server_shows_in_its_next_search(faces_server):
    plain, _, lib = faces_server
    before = plain.json("/api/search?q=&person=p2")[1]["moments"]
    status, person = plain.json("/api/people/name", {"person": "p2", "name": "Joe Biden"})
    assert status == 200 and person["name"] == "Joe Biden"
    after = plain.json("/api/search?q=&person=Joe%20Biden")[1]["moments"]
    assert [m["start"] for m in after] == [m["start"] for m in before]
    assert all("Joe Biden" in m["people"] for m in after)
    plain.json("/api/people/name", {"person": "p2", "name": ""})  # unnamed again for the other tests


def test_the_page_names_a_person_and_finds_their_moments(faces_server, browser):
    plain, _, lib = faces_server
    page = open_page(browser, plain)
    page.click("#people-box summary")
    page.wait_for_selector("#people .person img")
    faces = page.query_selector_all("#people .person")
    assert len(faces) == 2
    assert page.evaluate("[...document.querySelectorAll('#people img')].every(i => i.complete && i.naturalWidth > 0)")
    obama = max(vstream_json("people", "-L", str(lib))["people"], key=lambda p: p["appearances"])
    box = page.query_selector(f"#people .person[data-person='{obama['id']}'] input")
    box.fill("Barack Obama")
    box.dispatch_event("change")
    page.wait_for_function("() => [...document.getElementById('person').options].some(o => o.value === 'Barack Obama')")
    assert vstream_json("people", "-L", str(lib))["people"][0]["name"] == "Barack Obama"
    page.click(f"#people .person[data-person='{obama['id']}'] img")
    page.wait_for_selector("#results .card")
    cards = page.query_selector_all("#results .card")
    assert len(cards) == 3  # walking, and the two duo scenes he is in
    assert all("Barack Obama" in c.inner_text() for c in cards)
    page.close()


def test_a_portrait_reel_follows_the_walker_in_the_browser(faces_server, browser):
    plain, _, lib = faces_server
    status, reel = plain.json("/api/reels", {"clips": [{"video_id": "walk", "start": 0, "end": 12}],
                                             "resolution": "608x1080"})  # fmt: skip
    assert status == 200
    page = open_page(browser, plain)
    page.evaluate("url => play(url)", reel["url"])
    page.wait_for_function("() => window.vstream.state === 'playing'", timeout=30_000)
    assert page.evaluate("window.vstream.reframe.mode") == "follow"
    seen = []
    for t in (1.0, 10.5):
        page.evaluate(f"() => {{ const v = document.getElementById('video'); v.pause(); v.currentTime = {t}; }}")
        page.wait_for_function(f"() => Math.abs(document.getElementById('video').currentTime - {t}) < 0.1 && "
                               "window.vstream.window !== undefined")  # fmt: skip
        page.wait_for_timeout(300)
        seen.append((page.evaluate("window.vstream.window"),
                     float(page.evaluate("document.getElementById('video').style.objectPosition").split("%")[0])))
    (x1, pos1), (x2, pos2) = seen
    assert x1 < 0.3 and x2 > 0.7  # the window's centre moved with him, left to right
    assert pos1 < 20 and pos2 > 80  # and so did the picture under the portrait frame
    page.close()


@pytest.fixture
def browser(hls_player):
    return hls_player.browser


def test_names_stay_with_the_admin_in_search_results_and_person_recipes(faces_server, tmp_path):
    import lance

    plain, _, lib = faces_server
    described = lance.dataset(str(lib / "index" / "lancedb" / "scenes.lance")).to_table(columns=["description"])
    word = next(w for d in described["description"].to_pylist() for w in d.replace(",", " ").split() if len(w) > 3)
    plain.json("/api/people/name", {"person": "p1", "name": "Alice"})
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "arc.yaml").write_text("version: 1\nname: arc\nvars:\n  who: Alice\nclips:\n  - select: person\n"
                                      "    person: '{{who}}'\n")  # fmt: skip
    guarded = Server(lib, recipes, "--admin-token", ADMIN)  # names guarded, links unsigned
    try:
        status, open_ = plain.json(f"/api/search?q={word}")
        assert status == 200 and any("Alice" in m["people"] for m in open_["moments"]), open_  # an open server
        status, body = guarded.json(f"/api/search?q={word}")
        assert status == 200 and body["moments"] and all(m["people"] == [] for m in body["moments"])
        status, body = guarded.json(f"/api/search?q={word}", token=ADMIN)
        assert any("Alice" in m["people"] for m in body["moments"])
        # an unsigned recipe link takes any vars: a person-selecting recipe would search people for anyone
        status, _, body = guarded.get("/streams/arc/video.m3u8?user=x&who=p2")
        assert status == 401 and b"admin token" in body
        status, _, body = guarded.get("/streams/arc/video.m3u8?user=x&who=p2", {"authorization": f"Bearer {ADMIN}"})
        assert status == 200 and body.startswith(b"#EXTM3U")
    finally:
        guarded.stop()
        plain.json("/api/people/name", {"person": "p1", "name": ""})


def test_a_persons_moments_show_the_scene_they_are_in_not_the_videos_picture(faces_server):
    import lance

    _, _, lib = faces_server
    scenes = lance.dataset(str(lib / "index" / "lancedb" / "scenes.lance")).to_table(
        columns=["video_id", "start", "end", "thumbnail"]).to_pylist()  # fmt: skip
    for person in vstream_json("people", "-L", str(lib))["people"]:
        moments = vstream_json("search", "", "--person", str(person["id"]), "-L", str(lib))["moments"]
        assert moments
        for m in moments:
            shot = next(s for s in scenes if s["video_id"] == m["video_id"] and s["start"] <= m["start"] + 0.01 < s["end"])
            assert m["thumbnail"] == str(lib / shot["thumbnail"]), (m, shot)
    # --kind sorts a query's hits: with no query it would be silently ignored, so it is refused
    proc = vstream("search", "", "--person", "p1", "--kind", "scene", "-L", str(lib))
    assert proc.returncode == 2 and "--kind" in proc.stderr and "Traceback" not in proc.stderr
