"""On-screen text (scoreboards, captions, signs) with RapidOCR: PP-OCR models in ONNX.

The ``rapidocr`` wheel ships its default models in ``rapidocr/models/``: PP-OCRv6 small
text detection and multilingual recognition (Latin, Chinese, ...; the character list is
embedded in the recognition model). Left to itself, RapidOCR checks that folder and
downloads whatever is missing, so the model files are passed as explicit paths: then
it never reaches for the network. The angle classifier is off: on-screen text in video
is upright, and skipping it saves about a fifth of the time.

Frames larger than :data:`MAX_SIDE` are downscaled first (720p -> 960x540: a scoreboard
stays readable down to a 480-pixel side); boxes come back in the caller's coordinates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vstream.errors import MissingDependency, UsageError
from vstream.models import threads as thread_budget

PACKAGE = "rapidocr"
INSTALL = "pip install 'vstream[index]', or: pip install rapidocr onnxruntime"
LICENCE = "Apache-2.0"
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
SOURCES = {
    DET_MODEL: "PP-OCRv6 small text detection (PaddleOCR, Baidu), ONNX conversion by RapidOCR",
    REC_MODEL: "PP-OCRv6 small multilingual text recognition (PaddleOCR, Baidu), ONNX conversion by RapidOCR",
}
MAX_SIDE = 960  # frames are downscaled to this longest side before detection
MAX_LINE_HEIGHT = 0.5  # a "line" thicker than this share of the frame's short side is a false detection
VERSION = "ocr-v1"  # bump when preprocessing or filtering change what is stored


@dataclass
class TextBox:
    text: str
    score: float  # recognition confidence, 0..1
    box: list[tuple[float, float]]  # four corners (x, y) in the frame's pixels, clockwise from top-left


class OcrBackend:
    """``read_frames`` for the index; one RapidOCR engine, created once."""

    name = "ocr"

    def __init__(self, engine: Any, *, fingerprint: str, max_side: int = MAX_SIDE):
        self.engine = engine
        self.fingerprint = fingerprint
        self.max_side = max_side
        self.frames = 0  # read so far, for ms_per_frame()
        self._ms = 0.0

    def read_frames(self, frames: list[Any]) -> list[list[TextBox]]:
        """Text boxes of each ``HxWx3`` uint8 RGB frame, in the engine's order (see :func:`frame_text`)."""
        return [self.read(frame) for frame in frames]

    def read(self, frame: Any) -> list[TextBox]:
        from vstream.index.visual.labels import as_rgb

        t0 = time.perf_counter()
        bgr, scale = _prepare(as_rgb(frame), self.max_side)
        result = self.engine(bgr)
        boxes = _text_boxes(result, scale, min(bgr.shape[:2]))
        self.frames += 1
        self._ms += (time.perf_counter() - t0) * 1000
        return boxes

    def ms_per_frame(self) -> float:
        return round(self._ms / self.frames, 2) if self.frames else 0.0


def frame_text(boxes: list[TextBox], min_score: float = 0.6) -> str:
    """The confident boxes' text in reading order (lines top to bottom, left to right), space-joined."""
    lines: list[list[TextBox]] = []
    for box in sorted((b for b in boxes if b.score >= min_score and b.text.strip()), key=_top):
        if lines and _top(box) <= _centre_y(lines[-1][0]) <= _bottom(box):
            lines[-1].append(box)
        else:
            lines.append([box])
    return " ".join(" ".join(b.text.split()) for line in lines for b in sorted(line, key=_left))


_CACHE: dict[tuple, OcrBackend] = {}


def load_ocr(setting: str | None = None, *, max_side: int = MAX_SIDE) -> OcrBackend:
    """``None``: the models in the rapidocr wheel; else a directory with one ``*det*.onnx`` and one ``*rec*.onnx``."""
    det, rec, keys = _model_files(setting)
    key = (det, rec, max_side)
    if key not in _CACHE:
        _CACHE[key] = OcrBackend(_engine(det, rec, keys, max_side), fingerprint=_fingerprint(det, rec, max_side),
                                 max_side=max_side)  # fmt: skip
    return _CACHE[key]


def default_model_files() -> list[dict]:
    """The packaged model files, for ``vstream doctor``; MissingDependency when rapidocr is absent."""
    det, rec, _ = _model_files(None)
    via = f"via PyPI {PACKAGE} {_package_version()}"
    return [
        {"name": path.name, "path": str(path), "size_bytes": path.stat().st_size, "licence": LICENCE,
         "source": f"{SOURCES.get(path.name, 'PP-OCR (PaddleOCR, Baidu), ONNX by RapidOCR')}; {via}"}
        for path in (det, rec)
    ]  # fmt: skip


def package_model_dir() -> Path:
    """``rapidocr/models`` of the installed wheel (found without importing rapidocr)."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr")
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "models"
        if any(folder.glob("*.onnx")):
            return folder.resolve()
    raise MissingDependency("the OCR models (rapidocr) are not installed", hint=INSTALL)


def _package_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _model_files(setting: str | None) -> tuple[Path, Path, Path | None]:
    """(detection model, recognition model, character list or None when the model embeds it)."""
    if setting is None:
        folder = package_model_dir()
        if (folder / DET_MODEL).is_file() and (folder / REC_MODEL).is_file():
            return folder / DET_MODEL, folder / REC_MODEL, None
        return _folder_files(folder)  # another rapidocr release: its one det and one rec model
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise UsageError(f"OCR models {setting}: not a directory", hint="a directory with *det*.onnx and *rec*.onnx")
    return _folder_files(folder.resolve())


def _folder_files(folder: Path) -> tuple[Path, Path, Path | None]:
    det, rec = _one(folder, "*det*.onnx"), _one(folder, "*rec*.onnx")
    keys = sorted(folder.glob("*.txt"))
    if len(keys) > 1:
        raise UsageError(f"OCR models {folder}: several character lists ({', '.join(k.name for k in keys)})")
    return det, rec, keys[0] if keys else None


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise UsageError(f"OCR models {folder}: expected one {pattern}, found {len(found)}")
    return found[0]


def _engine(det: Path, rec: Path, keys: Path | None, max_side: int):
    try:
        import onnxruntime  # noqa: F401 - RapidOCR's engine; its absence would surface much later
        from rapidocr import RapidOCR
    except ImportError as exc:
        raise MissingDependency(f"OCR needs {exc.name}", hint=INSTALL) from None
    if keys is None:
        _check_embedded_keys(rec)
    params = {
        "Global.log_level": "warning", "Global.use_cls": False, "Global.max_side_len": max(2000, max_side),
        "Det.model_path": str(det), "Det.limit_type": "max", "Det.limit_side_len": max_side,
        "Rec.model_path": str(rec), **({"Rec.rec_keys_path": str(keys)} if keys else {}),
        "EngineConfig.onnxruntime.intra_op_num_threads": thread_budget(),
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }  # fmt: skip
    _route_logging()
    try:
        return RapidOCR(params=params)
    except Exception as exc:  # noqa: BLE001 - OmegaConf/onnxruntime raise many kinds for a bad setting
        raise UsageError(f"OCR models {det.parent}: cannot be loaded ({exc})") from None


def _check_embedded_keys(rec: Path) -> None:
    """Without an embedded character list RapidOCR would download one: refuse instead."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(rec), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not typed usefully
        raise UsageError(f"{rec}: not a usable ONNX model ({str(exc)[:200]})") from None
    if "character" not in session.get_modelmeta().custom_metadata_map:
        raise UsageError(f"{rec}: no character list inside the model", hint="put its keys .txt file next to it")


def _route_logging() -> None:
    """RapidOCR logs to its own stderr handler; send it through ``logging`` instead, minus routine notes."""
    logger = logging.getLogger("RapidOCR")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    if not any(isinstance(f, _RoutineFilter) for f in logger.filters):
        logger.addFilter(_RoutineFilter())


class _RoutineFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # "The text detection result is empty": a normal frame
        return "result is empty" not in record.getMessage()


def _fingerprint(det: Path, rec: Path, max_side: int) -> str:
    return f"{VERSION}:{det.name}@{_digest(det)},{rec.name}@{_digest(rec)}:max_side={max_side}"


def _digest(path: Path) -> str:
    from vstream.hashing import file_digest

    return file_digest(path)[:12]


def _prepare(rgb: Any, max_side: int) -> tuple[Any, float]:
    """BGR (what RapidOCR expects of arrays), downscaled so the longest side is at most ``max_side``."""
    import cv2

    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), scale


def _text_boxes(result: Any, scale: float, short_side: int) -> list[TextBox]:
    boxes, texts, scores = (getattr(result, key, None) for key in ("boxes", "txts", "scores"))
    if boxes is None or not texts:
        return []
    out = []
    for quad, text, score in zip(boxes, texts, scores):
        if _thickness(quad) > MAX_LINE_HEIGHT * short_side:  # e.g. a whole coffee cup read as "8"
            continue
        corners = [(round(float(x) / scale, 1), round(float(y) / scale, 1)) for x, y in quad]
        out.append(TextBox(text=" ".join(str(text).split()), score=round(float(score), 4), box=corners))
    return out


def _thickness(quad: Any) -> float:
    """The shorter side of a detected quadrilateral: the height of a text line."""
    (x0, y0), (x1, y1), (x2, y2) = quad[0], quad[1], quad[2]
    return min(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5)


def _top(box: TextBox) -> float:
    return min(y for _, y in box.box)


def _bottom(box: TextBox) -> float:
    return max(y for _, y in box.box)


def _left(box: TextBox) -> float:
    return min(x for x, _ in box.box)


def _centre_y(box: TextBox) -> float:
    return (_top(box) + _bottom(box)) / 2
