"""Compose: clips of the library's videos -> timelines -> HLS playlists that point at existing segments."""
