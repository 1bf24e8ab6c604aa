"""Visual backends: what a scene's frames show.

Two kinds sit behind one narrow seam (``vstream.models.Models.visual``):

* :mod:`vstream.index.visual.labels` (default, offline): ImageNet labels and COCO
  objects as text, ``describe_frames(frames) -> [FrameDescription]``;
* :mod:`vstream.index.visual.clip` (opt-in): image embeddings, ``embed_frames``.

Frames are ``HxWx3`` uint8 RGB numpy arrays of any size. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class VisualBackend(Protocol):
    name: str  # short, shown in `vstream doctor` and stored with the index
    fingerprint: str  # changes when the model files change (the index is then redone)


@runtime_checkable
class FrameDescriber(VisualBackend, Protocol):
    def describe_frames(self, frames: list[Any]) -> list[Any]: ...


@runtime_checkable
class FrameEmbedder(VisualBackend, Protocol):
    def embed_frames(self, frames: list[Any]) -> Any: ...
