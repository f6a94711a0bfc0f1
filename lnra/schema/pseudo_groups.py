"""The schema of the ``pseudo`` group (docs/method.md §3–5): skip frames, the patch entries, the variant
itself, and one schema per intruder source kind (``pseudo/source=...``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lnra.schema.fields import opt
from lnra.schema.rules import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    PROBABILITY,
    SEED,
    Items,
    Mapping,
    NonEmpty,
    OneOf,
    Range,
)

PATCH_TECHNIQUES = ("smoothmix_s", "smoothmix_c", "cutmix", "mixup_patch")


@dataclass
class SkipSchema:
    """Skip-frame pseudo anomalies (docs/method.md §5)."""

    p: float = opt(0.2, PROBABILITY, "probability that a training sample is a skip-frame clip")
    jump: list[int] = opt([2, 3, 4, 5], Items(AT_LEAST_ONE), "the jumps s drawn per sample")


@dataclass
class PatchSchema:
    """One patch technique (docs/method.md §4); ``source`` is usually ``${pseudo.source}``."""

    _target_: str = opt("lnra.pseudo.patch.PatchMixer", NonEmpty(), "the class that pastes patches")
    technique: str = opt("smoothmix_s", OneOf(PATCH_TECHNIQUES), "how the intruder is blended in "
                         "(usually ${pseudo.technique})")
    p: float = opt(0.2, PROBABILITY, "probability that a training sample gets this patch",
                   allowed="in [0, 1]; with pseudo.skip.p and the other patches' p, sum <= 1")
    max_size: float = opt(0.5, Range(0, 1, low_open=True), "α: the window's largest side, as a fraction "
                          "of the frame")
    max_move: int = opt(10, NON_NEGATIVE, "β: the window's largest step per frame, in pixels")
    source: Any = opt("${pseudo.source}", Mapping("source settings"), "the intruder source (normally the "
                      "pseudo.source above)")


@dataclass
class PseudoSchema:
    name: str = opt("none", NonEmpty(no_slash=True), "the variant's name (run name, results)")
    skip: Any = opt(None, Mapping("skip-frame settings"), "skip-frame pseudo anomalies, or null",
                    schema=SkipSchema)
    technique: str | None = opt(None, OneOf(PATCH_TECHNIQUES), "the blend of the patch variants' patch "
                                "(their entry reads ${pseudo.technique}); null: no patch variant")
    patches: list[PatchSchema] = opt([], None, "patch pseudo anomalies (each with its own p)")
    source: Any = opt(None, Mapping("source settings"), "the intruder source of the patches (pick one "
                      "with pseudo/source=cifar100|image_folder|textures|video)")


@dataclass
class Cifar100SourceSchema:
    _target_: str = opt("lnra.pseudo.sources.Cifar100Source", NonEmpty(), "the source class")
    root: str = opt("${paths.intruder_dir}/cifar100", NonEmpty(), "holds cifar-100-python/")
    download: bool = opt(False, None, "let torchvision download the archive (needs a network)")
    verify_md5: bool = opt(False, None, "check the files against the official md5 sums")
    max_images: int = opt(50000, AT_LEAST_ONE, "images decoded at start-up")
    seed: int = opt(0, SEED, "which images, when max_images is below the set's size")


@dataclass
class ImageFolderSourceSchema:
    _target_: str = opt("lnra.pseudo.sources.ImageFolderSource", NonEmpty(), "the source class")
    root: str = opt("${paths.intruder_dir}/imagenet", NonEmpty(), "an ImageFolder: <root>/<class>/<image>")
    crop: bool = opt(True, None, "random resized crop + flips, streamed (ImageNet); false: whole images "
                     "in memory, like CIFAR")
    workers: int = opt(2, NON_NEGATIVE, "processes decoding ahead when crop=true (0: in this process)")


@dataclass
class TexturesSourceSchema:
    _target_: str = opt("lnra.pseudo.sources.TextureSource", NonEmpty(), "the source class")
    count: int = opt(1000, AT_LEAST_ONE, "textures generated")
    size: int = opt(32, Range(2), "side of each texture, in pixels")
    seed: int = opt(0, SEED, "the generator's seed")


@dataclass
class VideoSourceSchema:
    _target_: str = opt("lnra.pseudo.sources.VideoClipSource", NonEmpty(), "the source class")
    name: str = opt("ped2", NonEmpty(no_slash=True), "the video dataset whose training clips are pasted")
    root: str = opt("${paths.data_dir}/${.name}", NonEmpty(), "that dataset's folder")
    cache_dir: str = opt("${paths.cache_dir}", NonEmpty(), "its frame cache")
    clip_len: int = opt("${dataset.clip_len}", AT_LEAST_ONE, "frames per intruder clip")
