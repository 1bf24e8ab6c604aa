"""The pure parts of people: linking faces into tracks, clustering tracks into persons, spans."""

import numpy as np

from vstream.index.faces import Face, link_tracks
from vstream.people import TrackInfo, cluster, merge_spans, same_sighting, together

RNG = np.random.default_rng(7)
ALICE, BOB, CAROL = (RNG.normal(0, 0.09, 128).astype(np.float32) for _ in range(3))  # ~1.0 apart, like dlib's


def face(who, x=0.5, noise=0.02):
    return Face((x - 0.05, 0.3, x + 0.05, 0.5), 1.0, who + RNG.normal(0, noise / 11, 128).astype(np.float32))


def test_a_face_seen_on_consecutive_keyframes_is_one_track_until_it_is_gone():
    frames = [(0.0, 0, [face(ALICE)]), (2.0, 0, [face(ALICE)]), (4.0, 0, []), (6.0, 0, [face(ALICE)])]
    tracks = link_tracks(frames, end=8.0)
    assert [(t.start, t.end) for t in tracks] == [(0.0, 4.0), (6.0, 8.0)]  # gone at 4 s; back at 6 s until the end


def test_two_people_on_screen_keep_their_own_tracks_even_when_they_swap_places():
    frames = [(0.0, 0, [face(ALICE, 0.2), face(BOB, 0.8)]), (2.0, 0, [face(BOB, 0.2), face(ALICE, 0.8)])]
    tracks = link_tracks(frames, end=4.0)
    assert len(tracks) == 2
    for t in tracks:
        assert len(t.times) == 2 and np.linalg.norm(t.vectors[0] - t.vectors[1]) < 0.2  # linked by who, not where


def test_a_cut_ends_every_track():
    frames = [(0.0, 0, [face(ALICE)]), (2.0, 1, [face(ALICE)]), (4.0, 1, [face(ALICE)])]
    tracks = link_tracks(frames, end=6.0)
    assert [(t.start, t.end, t.scene) for t in tracks] == [(0.0, 2.0, 0), (2.0, 6.0, 1)]


def info(track, start, end, who, x=0.5, person=None, pinned=False):
    return TrackInfo(track, start, end, x, 0.4, who, person, pinned)


def test_new_faces_join_the_nearest_person_or_start_one_each():
    known = [(1, ALICE), (2, BOB)]
    new = [info(0, 0, 2, ALICE + 0.001), info(1, 2, 4, CAROL), info(2, 4, 6, CAROL + 0.001), info(3, 6, 8, BOB)]
    out = cluster(new, [], known)
    assert out[0][0] == 1 and out[3][0] == 2
    assert out[1][0] is None and out[1][2] == out[2][2]  # Carol twice: one new person


def test_a_reindexed_track_keeps_its_person_and_pin_even_if_the_model_changed():
    previous = [info(0, 0.0, 4.0, None, 0.3, person=5, pinned=True), info(1, 0.0, 4.0, None, 0.7, person=6)]
    other_model = RNG.normal(0, 0.09, 128).astype(np.float32)  # vectors unlike any known face
    new = [info(0, 0.0, 4.0, other_model, 0.72), info(1, 0.0, 4.0, other_model + 0.5, 0.31)]
    out = cluster(new, previous, [(9, ALICE)])
    assert out[0][:2] == (6, False) and out[1][:2] == (5, True)  # matched by time and place


def test_a_sighting_elsewhere_in_time_or_frame_is_not_the_same():
    a = info(0, 0.0, 4.0, None, 0.3)
    assert same_sighting(a, info(1, 0.0, 4.0, None, 0.32)) > 0
    assert same_sighting(a, info(1, 4.0, 8.0, None, 0.3)) == 0  # only touching
    assert same_sighting(a, info(1, 0.0, 4.0, None, 0.8)) == 0  # the other side of the frame


def test_spans_of_people_together_are_intersections_per_video():
    alice = {"v": [(0.0, 4.0), (4.0, 8.0), (20.0, 30.0)], "w": [(0.0, 5.0)]}
    bob = {"v": [(6.0, 22.0)], "x": [(0.0, 1.0)]}
    assert merge_spans(alice["v"]) == [(0.0, 8.0), (20.0, 30.0)]
    assert together([alice, bob]) == {"v": [(6.0, 8.0), (20.0, 22.0)]}
    assert together([alice]) == {"v": [(0.0, 8.0), (20.0, 30.0)], "w": [(0.0, 5.0)]}
