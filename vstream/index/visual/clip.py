"""The CLIP visual backend (open_clip): image embeddings for scenes, text embeddings for queries.

Opt-in (``pip install vstream[clip]``): PyTorch and torchvision come from PyPI.
No registry package ships CLIP weights, so the weights are the user's:

* ``--clip-weights /path/to/checkpoint.pt`` (a state dict or an open_clip checkpoint)
  for any open_clip architecture named by ``--clip-model`` (``ViT-B-32``, ...), or
  by a path to a model-config JSON for architectures open_clip does not know;
* or an open_clip pretrained tag (``--clip-weights laion2b_s34b_b79k``), which
  open_clip downloads itself - only when the user is online and asks for it.
"""

from __future__ import annotations

from pathlib import Path

from vstream.errors import MissingDependency, UsageError

INSTALL = "pip install 'vstream[clip]' (PyTorch and torchvision from PyPI)"


class ClipBackend:
    """``embed_frames`` for scenes, ``embed_texts`` for queries; rows are L2-normalised."""

    def __init__(self, model, preprocess, tokenizer, *, name: str, fingerprint: str, dim: int, device: str):
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.fingerprint = fingerprint
        self.dim = dim
        self.device = device

    def embed_frames(self, frames: list, batch_size: int = 16):
        import numpy as np
        import torch
        from PIL import Image

        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), batch_size):
                batch = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames[i : i + batch_size]])
                feats = self.model.encode_image(batch.to(self.device)).float()
                out.append(torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        return np.concatenate(out).astype("float32") if out else np.zeros((0, self.dim), dtype="float32")

    def embed_texts(self, texts: list[str]):
        import numpy as np
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        with torch.inference_mode():
            feats = self.model.encode_text(self.tokenizer(texts).to(self.device)).float()
            return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy().astype("float32")


_CACHE: dict[tuple, ClipBackend] = {}


def load_clip_backend(model_name: str, weights: str | None, *, device: str = "cpu") -> ClipBackend:
    key = (model_name, weights, device)
    if key not in _CACHE:
        _CACHE[key] = _load(model_name, weights, device)
    return _CACHE[key]


def _load(model_name: str, weights: str | None, device: str) -> ClipBackend:
    try:
        import open_clip
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(f"the CLIP backend needs open_clip and PyTorch ({exc.name} is missing)", hint=INSTALL) from None
    if not weights:
        raise UsageError("the CLIP backend needs weights", hint="pass --clip-weights PATH (an open_clip checkpoint)")
    name = model_name
    config = Path(model_name).expanduser()
    if config.suffix == ".json":
        if not config.is_file():
            raise UsageError(f"--clip-model {model_name}: no such model config file")
        open_clip.add_model_config(str(config))
        name = config.stem
    elif name not in open_clip.list_models():
        raise UsageError(f"unknown open_clip model {model_name!r}", hint="see open_clip.list_models(), or pass a config .json")
    path = Path(weights).expanduser()
    if path.exists():
        if not path.is_file():
            raise UsageError(f"--clip-weights {weights}: not a file")
        with _quiet():  # open_clip warns that the model is random: the weights are loaded next
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None, device=device)
        _load_state(model, path)
        fingerprint = f"clip:{name}:{_file_digest(path)}"
    else:
        tags = {tag for arch, tag in open_clip.list_pretrained() if arch == name}
        if weights not in tags:
            raise UsageError(
                f"--clip-weights {weights}: neither a file nor an open_clip pretrained tag for {name}",
                hint="pass the path of a checkpoint you have on disk",
            )
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights, device=device)
        fingerprint = f"clip:{name}:{weights}"
    model.eval()
    dim = int(model.text_projection.shape[1]) if getattr(model, "text_projection", None) is not None else None
    if dim is None:
        import torch

        with torch.inference_mode():
            dim = int(model.encode_text(open_clip.get_tokenizer(name)(["x"]).to(device)).shape[-1])
    return ClipBackend(model, preprocess, open_clip.get_tokenizer(name), name=f"clip-{name}",
                       fingerprint=fingerprint, dim=dim, device=device)  # fmt: skip


class _quiet:
    def __enter__(self) -> None:
        import logging

        logging.disable(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        import logging

        logging.disable(logging.NOTSET)


def _load_state(model, path: Path) -> None:
    import torch

    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise UsageError(f"--clip-weights {path}: not a PyTorch checkpoint ({exc.__class__.__name__})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        missing, _unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensors of the wrong shape: another architecture's checkpoint
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise UsageError(
            f"--clip-weights {path} does not fit the model ({first[:160]})",
            hint="pass the --clip-model the checkpoint was trained with",
        ) from None
    if missing:
        raise UsageError(
            f"--clip-weights {path} does not fit the model: {len(missing)} missing tensors (e.g. {missing[0]})",
            hint="pass the --clip-model the checkpoint was trained with",
        )


def _file_digest(path: Path) -> str:
    from vstream.hashing import file_digest

    return file_digest(path)
