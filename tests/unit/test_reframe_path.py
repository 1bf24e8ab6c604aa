"""The subject-following crop path (pure): still where the subject is still, smooth, jumps only at cuts."""

from vstream.compose.reframe import MAX_SPEED, Sighting, at, crop_fraction, follow

CROP = crop_fraction((1280, 720), (608, 1080))  # a 9:16 window over 16:9: about a third of the width


def face_at(t, x, w=0.1):
    return Sighting(t, ((x - w / 2, 0.3, x + w / 2, 0.5),))


def test_a_nine_sixteenths_window_keeps_a_third_of_a_sixteen_ninths_frame():
    assert abs(CROP - 405 / 1280) < 0.001 and crop_fraction((720, 1280), (608, 1080)) == 1.0


def test_a_still_subject_off_centre_gets_a_still_window_on_them_despite_detector_jitter():
    sightings = [face_at(t, 0.7 + (0.01 if t % 4 else -0.01)) for t in range(0, 20, 2)]
    path = follow(sightings, [0.0], CROP, start=0.0, end=20.0)
    assert {x for _, x in path} == {path[0][1]} and abs(path[0][1] - 0.69) < 0.02


def test_the_window_pans_no_faster_than_the_bound_and_jumps_only_at_a_cut():
    sightings = [face_at(0, 0.2), face_at(2, 0.2), face_at(4, 0.8), face_at(6, 0.8), face_at(8, 0.3), face_at(10, 0.3)]
    path = follow(sightings, [0.0, 8.0], CROP, start=0.0, end=12.0)
    for (t0, x0), (t1, x1) in zip(path, path[1:]):
        if t1 == t0:
            assert t0 == 8.0  # the cut
        else:
            assert abs(x1 - x0) / (t1 - t0) <= MAX_SPEED + 1e-9
    assert abs(at(path, 7.9) - 0.8) < 0.05 and abs(at(path, 8.0) - 0.3) < 0.01


def test_nobody_on_screen_is_the_centre_and_a_clip_span_is_respected():
    assert follow([], [0.0], CROP, start=3.0, end=9.0) == [(3.0, 0.5), (9.0, 0.5)]
    path = follow([face_at(0, 0.9), face_at(4, 0.9)], [0.0], CROP, start=2.0, end=6.0)
    assert path[0][0] == 2.0 and path[-1][0] == 6.0
    assert all(CROP / 2 - 1e-4 <= x <= 1 - CROP / 2 + 1e-4 for _, x in path)  # never past the picture's edge


def test_a_still_window_is_two_points_however_long_the_clip():
    sightings = [face_at(t, 0.6) for t in range(0, 600, 2)]
    path = follow(sightings, [0.0], CROP, start=0.0, end=600.0)
    assert len(path) == 2 and path[0][1] == path[1][1]


def test_ffmpeg_accepts_the_crop_expression_of_a_long_moving_path(tmp_path):
    import subprocess

    from vstream.compose.reframe import ffmpeg_x

    path = [(float(t), 0.3 + 0.4 * ((t // 2) % 2)) for t in range(0, 400)]  # a zigzag: 400 points, none redundant
    expr = ffmpeg_x(path)
    graph = f"crop='min(iw,ih*608/1080)':'min(ih,iw*1080/608)':'{expr}':'(ih-oh)/2'"
    proc = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=1280x720:d=1:r=5", "-vf", graph,
                           "-f", "null", "-"], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-500:]
