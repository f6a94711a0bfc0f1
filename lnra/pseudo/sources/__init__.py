"""Intruder sources: where the content pasted as a patch pseudo anomaly comes from (docs/method.md §4).

Every source is drawn as the reference draws it: a shuffled pass over the *whole* source without
replacement, a new pass when one is exhausted. Small sources (CIFAR, generated textures, a folder of
small images) are decoded once into a uint8 pool that follows the batch to its device; video clips are
sliced from the source dataset's frame cache; ImageNet-style folders are streamed from disk by a
DataLoader whose workers decode, crop and flip ahead of time, so a training step does not wait for
them. ``sample`` returns intruders in [-1, 1] resized to the whole frame (bilinear,
``align_corners=True``), as (k, 1, H, W) for images and (k, T, H, W) for clips, whose frame t is
pasted into frame t of the clip.

One module per kind of source; the classes the configs name (``_target_: lnra.pseudo.sources.<Class>``)
are importable from here. The shared interface and pool are in :mod:`lnra.pseudo.sources.base`.
"""

from lnra.pseudo.sources.cifar import Cifar100Source
from lnra.pseudo.sources.image_folder import ImageFolderSource
from lnra.pseudo.sources.textures import TextureSource
from lnra.pseudo.sources.video import VideoClipSource

__all__ = ["Cifar100Source", "ImageFolderSource", "TextureSource", "VideoClipSource"]
