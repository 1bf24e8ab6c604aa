"""Compose: recipes and the editor API -> personal HLS streams over the library's segments."""

from vstream.compose.api import AdBreaks, CaptionAsset, Clip, ImageAsset, Timeline, Track, VideoAsset

__all__ = ["AdBreaks", "CaptionAsset", "Clip", "ImageAsset", "Timeline", "Track", "VideoAsset"]
