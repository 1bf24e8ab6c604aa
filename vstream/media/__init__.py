"""Media plumbing: probing, the keyframe table, ffmpeg argv builders and the one runner."""
