"""Every Lightning callback: side outputs of a run that watch the batch path without changing it (result
images and videos, the pseudo-anomaly preview, TensorBoard views, progress lines, localisation metrics,
per-epoch weights)."""
