"""Compose: recipes and the editor API -> personal HLS streams over the library's segments."""

from vstream.compose.api import (
    AdBreaks, CaptionAsset, Clip, ImageAsset, TextAsset, TextStyle, Timeline, Track, VideoAsset,
)  # fmt: skip

__all__ = ["AdBreaks", "CaptionAsset", "Clip", "ImageAsset", "TextAsset", "TextStyle", "Timeline", "Track", "VideoAsset"]
