"""The CLIP backend for real: open_clip code paths with a tiny random model saved to disk.

No registry package ships CLIP weights, so this checks what can be checked without
them: loading a user's checkpoint through --clip-weights, shapes and normalisation,
storage in LanceDB, and that switching backends re-indexes. Retrieval quality needs
real weights (see the README).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import sample_path, vstream, vstream_json

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clip")
    config = folder / "tiny-clip.json"
    config.write_text(json.dumps(TINY))
    open_clip.add_model_config(str(config))
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms("tiny-clip", pretrained=None)
    weights = folder / "tiny-clip.pt"
    torch.save(model.state_dict(), weights)
    return config, weights


def test_backend_loads_a_checkpoint_and_embeds_normalised_vectors(tiny_clip):
    from vstream.index.visual.clip import load_clip_backend

    config, weights = tiny_clip
    backend = load_clip_backend(str(config), str(weights))
    frames = [np.zeros((90, 160, 3), np.uint8), np.full((360, 640, 3), 200, np.uint8)]
    images = backend.embed_frames(frames)
    texts = backend.embed_texts(["a cat", "a rocket on a launch pad"])
    assert images.shape == (2, 32) and texts.shape == (2, 32) and backend.dim == 32
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert not np.allclose(images[0], images[1])  # different pictures, different vectors
    # the same weights give the same vectors when loaded again (nothing random at load time)
    from vstream.index.visual import clip as clip_module

    clip_module._CACHE.clear()
    again = load_clip_backend(str(config), str(weights)).embed_frames(frames)
    assert np.allclose(again, images, atol=1e-5)


def test_index_with_clip_stores_vectors_and_switching_backend_reindexes(tiny_clip, samples, tmp_path):
    import lancedb

    config, weights = tiny_clip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "talk")), check=True)
    clip_args = ["--visual", "clip", "--clip-model", str(config), "--clip-weights", str(weights), "--only", "scenes"]
    result = vstream_json("index", "-L", str(lib), *clip_args, "--no-ocr", timeout=600)
    assert result["failed"] == 0 and result["indexed"] == 1
    db = lancedb.connect(str(lib / "index" / "lancedb"))
    clip_rows = db.open_table("clip").to_arrow().to_pylist()
    scenes = db.open_table("scenes").to_arrow().to_pylist()
    assert len(clip_rows) >= len(scenes) >= 4
    assert all(len(r["vector"]) == 32 and abs(np.linalg.norm(r["vector"]) - 1) < 1e-4 for r in clip_rows)
    assert {r["scene"] for r in clip_rows} == {f"talk:{i}" for i in range(len(scenes))}
    again = vstream_json("index", "-L", str(lib), *clip_args, "--no-ocr")
    assert again["indexed"] == 0 and again["skipped"] == 1
    switched = vstream_json("index", "-L", str(lib), "--visual", "labels", "--only", "scenes", "--no-ocr", timeout=600)
    assert switched["indexed"] == 1


def test_bad_clip_settings_are_one_clear_error(tiny_clip, samples, tmp_path):
    config, weights = tiny_clip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), check=True)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    cases = [
        (["--clip-weights", str(garbage), "--clip-model", str(config)], "not a PyTorch checkpoint"),
        (["--clip-weights", str(weights), "--clip-model", "ViT-B-32"], "does not fit the model"),
        (["--clip-weights", str(tmp_path / "missing.pt"), "--clip-model", str(config)], "neither a file nor"),
    ]
    for extra, needle in cases:
        proc = vstream("index", "-L", str(lib), "--visual", "clip", "--only", "scenes", *extra)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert needle in proc.stderr and "Traceback" not in proc.stderr
