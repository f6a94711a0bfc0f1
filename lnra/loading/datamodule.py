"""One LightningDataModule for every dataset in the shared layout. The loaders carry uint8 frames (or
indices); [-1, 1] and the pseudo anomalies come in ``on_after_batch_transfer``, on the batch's device."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

import pytorch_lightning as pl
import torch
from pydantic import Field
from torch.utils.data import DataLoader, Dataset, Sampler

from lnra.config.options import checked
from lnra.config.types import Count, FolderName, Location, NonNegative
from lnra.data.frames import FrameStore, VideoListing, list_videos, load_frame_store
from lnra.data.labels import MaskStore, TestVideos, find_label_file, list_masks, load_labels, load_mask_store
from lnra.data.pixels import ClipLength, FrameSide, to_unit_range
from lnra.data.synthetic import SyntheticSpec, generate_synthetic
from lnra.errors import LnraError
from lnra.loading.batches import Clips, EvalBatch, TestFetch, TrainBatch, TrainFetch
from lnra.loading.clip_datasets import ShuffledPairs, TestWindows, TrainClips, already_batched
from lnra.pseudo.selection import PseudoAnomalies

log = logging.getLogger(__name__)


@checked
class VideoDataModule(pl.LightningDataModule):
    """Training clips and test windows of ``<root>/{training,testing}/frames/<video>/<frame>``, for every
    dataset; built from the ``dataset`` config's ``_target_``, so a user's own DataModule can replace it."""

    def __init__(
        self,
        name: Annotated[FolderName, Field(description="the dataset's name (labels file, run name)")],
        root: Annotated[Location, Field(description="holds {training,testing}/frames/<video>/<frame>")],
        cache_dir: Annotated[Location, Field(description="decoded-frame caches")],
        height: Annotated[FrameSide, Field(description="frame height after resizing, in pixels")] = 256,
        width: Annotated[FrameSide, Field(description="frame width after resizing, in pixels")] = 256,
        clip_len: Annotated[ClipLength, Field(description="frames per clip")] = 16,
        batch_size: Annotated[Count, Field(description="training clips per batch")] = 4,
        eval_batch_size: Annotated[Count, Field(description="clips per batch when scoring")] = 16,
        num_workers: Annotated[NonNegative | None, Field(
            description="data-loader worker processes (null: 8 on a GPU, 0 on a CPU)")] = None,
        pin_memory: Annotated[bool | None, Field(description="pinned host memory (null: on a GPU)")] = None,
        cache_on_device: Annotated[bool | Literal["auto"], Field(
            description="keep the decoded frame cache on the GPU (auto: when it fits)")] = "auto",
        labels_path: Annotated[Location | None, Field(
            description="frame labels (.npy); null: frame_labels_<name>.npy beside the data")] = None,
        generate: Annotated[SyntheticSpec | None, Field(
            description="synthetic datasets only: how to generate it")] = None,
        pseudo: PseudoAnomalies | None = None,
    ) -> None:
        super().__init__()
        self.name, self.root, self.cache_dir = name, Path(root), Path(cache_dir)
        self.height, self.width, self.clip_len = height, width, clip_len
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.cache_on_device, self.labels_path = cache_on_device, labels_path
        self.generate = generate if generate is None or isinstance(generate, SyntheticSpec) \
            else SyntheticSpec(**generate)
        self.pseudo = pseudo or PseudoAnomalies()
        self._test_videos: TestVideos | None = None
        self._stores: dict[str, FrameStore] = {}
        self._listings: dict[str, VideoListing] = {}
        self._device_frames: dict[str, torch.Tensor] = {}
        self._masks: MaskStore | None = None

    # -- data on disk -------------------------------------------------------------------------
    def listing(self, folder: str) -> VideoListing:
        """The videos of ``training`` or ``testing``, listed once for the checks, the cache and the masks."""
        if folder not in self._listings:
            if self.generate is not None:
                generate_synthetic(self.root, self.generate)  # once: a complete set is kept as it is
            self._listings[folder] = list_videos(self.root / folder / "frames")
        return self._listings[folder]

    def check_test_split(self) -> None:
        """List the test videos and load the labels: cheap, so inconsistencies surface before caching."""
        listing = self.listing("testing")
        labels = load_labels(find_label_file(self.name, self.root, self.labels_path), listing.lengths)
        self._test_videos = TestVideos(tuple(listing.names), tuple(labels), self.clip_len)
        short = [name for name, n in zip(listing.names, listing.lengths, strict=True) if n < self.clip_len]
        if short:
            log.warning("test videos %s are shorter than %d frames and cannot be scored", short,
                        self.clip_len)

    def test_videos(self) -> TestVideos:
        """The test videos' names and frame labels: what the module scores against (loaded on first use)."""
        if self._test_videos is None:
            self.check_test_split()
        return self._test_videos

    def check_train_split(self) -> None:
        """List the training videos (cheap): a split with no video of a whole clip fails before caching."""
        listing = self.listing("training")
        if max(listing.lengths) < self.clip_len:
            raise LnraError(f"no training video in {listing.split_dir} has {self.clip_len} frames (the "
                            f"longest has {max(listing.lengths)}): nothing to train on")

    def store(self, split: str) -> FrameStore:
        if split not in self._stores:
            folder = "training" if split == "train" else "testing"
            self._stores[split] = load_frame_store(self.listing(folder), self.cache_dir, self.name, folder,
                                                   self.height, self.width)
        return self._stores[split]

    def pixel_masks(self) -> MaskStore | None:
        """The test split's pixel-level ground truth (``testing/pixel_masks``), or None when it has none."""
        if self._masks is None and (listing := list_masks(self.root / "testing", self.listing("testing"))):
            self._masks = load_mask_store(listing, self.cache_dir, self.name)
        return self._masks

    def prepare_data(self) -> None:
        self.check_test_split()
        self.store("train")
        self.store("test")

    def setup(self, stage: str | None = None) -> None:
        self.test_videos()
        self.follow_device(self.trainer.strategy.root_device if self.trainer else torch.device("cpu"))

    def follow_device(self, device: torch.device) -> None:
        """Settle the loading settings left to the device (docs/guide.md, Speed); on a CPU a batch is one
        gather, which workers would only add copies to."""
        on_gpu = device.type == "cuda"
        if self.num_workers is None:
            self.num_workers = 8 if on_gpu else 0
        if self.pin_memory is None:
            self.pin_memory = on_gpu
        if str(self.cache_on_device) == "auto":
            self.cache_on_device = False
            if on_gpu:
                frames = sum(sum(self.listing(folder).lengths) for folder in ("training", "testing"))
                needed, free = frames * self.height * self.width, torch.cuda.mem_get_info(device)[0]
                self.cache_on_device = needed <= free // 2
                log.info("frame cache (%.2f GB) %s GPU memory (%.1f GB free)", needed / 1e9,
                         "kept in" if self.cache_on_device else "too large for half of the", free / 1e9)

    # -- loaders ------------------------------------------------------------------------------
    def _loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None = None) -> DataLoader:
        """Training (``sampler`` given) drops the last partial batch as the reference does (docs/method.md
        §3), never a last one of a few samples in train-mode BatchNorm; evaluation keeps every window."""
        return DataLoader(dataset, batch_size, sampler=sampler, drop_last=sampler is not None,
                          num_workers=self.num_workers or 0, pin_memory=bool(self.pin_memory),
                          persistent_workers=bool(self.num_workers), collate_fn=already_batched)

    def train_clips(self, gather: bool) -> TrainClips:
        """The training windows, with skip-frame clips when the pseudo anomalies need them."""
        self.check_train_split()
        jumps = tuple(self.pseudo.skip.jump) if self.pseudo.needs_skip_clips else None
        return TrainClips(self.store("train"), self.clip_len, jumps, gather)

    def train_dataloader(self) -> DataLoader:
        dataset = self.train_clips(gather=not self.cache_on_device)
        # torch.initial_seed() is the run's seed (seed_everything): the same on every rank of a DDP run
        return self._loader(dataset, self.batch_size, ShuffledPairs(len(dataset), torch.initial_seed()))

    def test_dataloader(self) -> DataLoader:
        dataset = TestWindows(self.store("test"), self.test_videos(), gather=not self.cache_on_device,
                              masks=self.pixel_masks())
        return self._loader(dataset, self.eval_batch_size)

    val_dataloader = test_dataloader  # validation scores the test windows

    # -- on the device ------------------------------------------------------------------------
    def _unit_range(self, clips: Clips, split: str) -> torch.Tensor:
        """(B, 1, T, H, W) in [-1, 1]: the loaded frames, or those gathered from the cache on the device,
        uploaded there once in chunks (the host never holds a second copy)."""
        if clips.frames is not None:
            return to_unit_range(clips.frames)
        if split not in self._device_frames:
            store = self.store(split)
            on_device = torch.empty(store.frames.shape, dtype=torch.uint8, device=clips.index.device)
            chunk = max(1, (256 << 20) // max(1, store.frames[0].nbytes))
            for start in range(0, len(store.frames), chunk):
                on_device[start : start + chunk] = torch.from_numpy(store.gather(slice(start, start + chunk)))
            self._device_frames[split] = on_device
        return to_unit_range(self._device_frames[split][clips.index].unsqueeze(1))

    def to_train_batch(self, fetch: TrainFetch, kind: torch.Tensor | None = None) -> TrainBatch:
        """uint8 → [-1, 1], then the whole batch's pseudo anomalies (drawn, or the given ``kind`` codes)."""
        clips = [None if part is None else self._unit_range(part, "train")
                 for part in (fetch.clip, fetch.skip, fetch.skip_target)]
        return TrainBatch(*self.pseudo(*clips, kind), tuple(self.pseudo.kind_names))

    def on_after_batch_transfer(self, batch: TrainFetch | TestFetch, dataloader_idx: int,
                                ) -> TrainBatch | EvalBatch:
        """A loaded batch on its device → what the module reads; its type says which loop it is for."""
        if isinstance(batch, TestFetch):
            return EvalBatch(self._unit_range(batch.clip, "test"), batch.video, batch.window, batch.videos,
                             batch.mask)
        return self.to_train_batch(batch)
