"""Per-sample selection (docs/method.md §3) and the skip-frame settings (docs/method.md §5), with real
patch mixers and real Hydra configs."""

from __future__ import annotations

import shutil

import pytest
import torch

from lnra.config.options import effective_options
from lnra.errors import LnraError
from lnra.pseudo.kinds import FIRST_PATCH_KIND, KIND_NORMAL, KIND_SKIP
from lnra.pseudo.patch import PatchMixer
from lnra.pseudo.selection import PseudoAnomalies
from lnra.pseudo.skip import SkipFrame
from lnra.pseudo.sources import IntruderSource
from lnra.run.builders import build_datamodule


def constant_source(value: int) -> IntruderSource:
    """Intruders of one grey level, so a patched sample tells which mixer patched it."""
    return IntruderSource(1, 1, 16, 16, f"grey {value}", torch.full((1, 1, 4, 4), value, dtype=torch.uint8))


def two_patches(p_a: float, p_b: float) -> list[PatchMixer]:
    return [PatchMixer("cutmix", constant_source(255), p=p_a, max_size=1.0, max_move=0, name="white"),
            PatchMixer("cutmix", constant_source(0), p=p_b, max_size=1.0, max_move=0, name="black")]


def test_intervals_are_laid_end_to_end_skip_first(monkeypatch):
    pseudo = PseudoAnomalies(skip=SkipFrame(p=0.2), patches=two_patches(0.3, 0.1))
    draws = torch.tensor([0.0, 0.1999, 0.2, 0.4999, 0.5, 0.5999, 0.6, 0.9999], dtype=torch.float64)
    calls = []

    def scripted_rand(n, **kwargs):
        calls.append(n)
        return draws.to(kwargs.get("dtype", torch.float64))

    monkeypatch.setattr(torch, "rand", scripted_rand)
    kind = pseudo.select(8, torch.device("cpu"))
    s, a, b, n = KIND_SKIP, FIRST_PATCH_KIND, FIRST_PATCH_KIND + 1, KIND_NORMAL
    assert kind.tolist() == [s, s, a, a, b, b, n, n]
    assert calls == [8]  # one draw per sample, for the whole batch at once
    assert pseudo.kind_names == ["normal", "skip_frame", "white", "black"]


def test_frequencies_match_the_probabilities():
    torch.manual_seed(0)
    pseudo = PseudoAnomalies(skip=SkipFrame(p=0.25), patches=two_patches(0.15, 0.35))
    kind = pseudo.select(200_000, torch.device("cpu"))
    freq = torch.bincount(kind, minlength=4).double() / kind.numel()
    assert torch.allclose(freq, torch.tensor([0.25, 0.25, 0.15, 0.35], dtype=torch.float64), atol=0.005)


def test_every_sample_gets_at_most_one_type_with_its_own_target():
    torch.manual_seed(0)
    clip = torch.full((400, 1, 16, 16, 16), 0.25)
    skip_clip, skip_target = torch.full_like(clip, -0.5), torch.full_like(clip, 0.75)
    pseudo = PseudoAnomalies(skip=SkipFrame(p=0.2), patches=two_patches(0.3, 0.3))
    inputs, target, kind = pseudo(clip, skip_clip, skip_target)
    values = {k: set(inputs[kind == k].round(decimals=5).unique().tolist()) for k in range(4)}
    assert values[KIND_NORMAL] == {0.25} and values[KIND_SKIP] == {-0.5}
    assert values[FIRST_PATCH_KIND] <= {0.25, 1.0} and 1.0 in values[FIRST_PATCH_KIND]
    assert values[FIRST_PATCH_KIND + 1] <= {0.25, -1.0} and -1.0 in values[FIRST_PATCH_KIND + 1]
    assert target[kind == KIND_SKIP].eq(0.75).all() and target[kind != KIND_SKIP].eq(0.25).all()
    assert clip.eq(0.25).all()  # the clean clips are not modified in place


def test_probabilities_over_one_are_refused():
    with pytest.raises(LnraError, match=r"sum to 1.100 > 1"):
        PseudoAnomalies(skip=SkipFrame(p=0.5), patches=two_patches(0.4, 0.2))
    exactly_one = PseudoAnomalies(skip=SkipFrame(p=0.5), patches=two_patches(0.3, 0.2))  # is fine
    assert exactly_one.enabled_kinds


def test_all_probabilities_one_means_every_sample_is_pseudo():
    pseudo = PseudoAnomalies(patches=two_patches(1.0, 0.0))
    assert pseudo.select(1000, torch.device("cpu")).eq(FIRST_PATCH_KIND).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"jump": ()}, r"^jump=\[\]: must be a non-empty list \(each an integer >= 1\)$"),
    ({"jump": (2, 0)}, r"^jump=\[2,0\]: must be a non-empty list"),
    ({"jump": (1.5,)}, r"^jump=\[1.5\]: must be a non-empty list"),
    ({"p": 1.2}, r"^p=1.2: must be a number in \[0, 1\]$"),
])
def test_bad_skip_settings_are_refused(kwargs, message):
    with pytest.raises(LnraError, match=message):
        SkipFrame(**kwargs)


def test_config_with_skip_and_patch_together(compose_cfg):
    cfg = compose_cfg("pseudo=synthetic_smoothmix", "pseudo.skip={p:0.3,jump:[2,3]}",
                      "pseudo.source.count=20")
    pseudo = build_datamodule(cfg).pseudo
    assert pseudo.needs_skip_clips and pseudo.skip.p == pytest.approx(0.3)
    assert [p.name for p in pseudo.patches] == ["smoothmix_s"] and pseudo.patches[0].source.count == 20
    too_much = compose_cfg("pseudo=synthetic_smoothmix", "pseudo.skip={p:0.9,jump:[2]}")
    with pytest.raises(LnraError, match="sum to 1.100"):
        build_datamodule(too_much)


PAPER_VARIANTS = {
    "cifar_smoothmix": ("Cifar100Source", "smoothmix_s"),
    "cifar_smoothmixc": ("Cifar100Source", "smoothmix_c"),
    "cifar_cutmix": ("Cifar100Source", "cutmix"),
    "cifar_mixup_patch": ("Cifar100Source", "mixup_patch"),
    "imagenet_smoothmix": ("ImageFolderSource", "smoothmix_s"),
    "ped2_smoothmix": ("VideoClipSource", "smoothmix_s"),
    "shanghai_smoothmix": ("VideoClipSource", "smoothmix_s"),
    "synthetic_smoothmix": ("TextureSource", "smoothmix_s"),
}


@pytest.mark.parametrize("variant", PAPER_VARIANTS)
def test_each_patch_variant_has_the_papers_settings(compose_cfg, variant):
    cfg = compose_cfg(f"pseudo={variant}", "paths.data_dir=/data")
    source, technique = PAPER_VARIANTS[variant]
    (entry,) = cfg.pseudo.patches
    patch = effective_options(entry)  # the patch's own defaults, overlaid by the variant's file
    assert cfg.pseudo.name == variant and cfg.pseudo.skip is None
    assert (patch["technique"], patch["p"], patch["max_size"], patch["max_move"]) == (technique, 0.2, 0.5, 10)
    assert entry.source._target_.endswith(source) and entry.source == cfg.pseudo.source
    if variant.endswith(("ped2_smoothmix", "shanghai_smoothmix")):
        assert cfg.pseudo.source.root == f"/data/{variant.split('_')[0]}"


def test_intruder_location_is_overridable_and_missing_data_stops_at_start_up(compose_cfg, tmp_path):
    cfg = compose_cfg("pseudo=imagenet_smoothmix", f"pseudo.source.root={tmp_path}/absent")
    assert cfg.pseudo.patches[0].source.root == f"{tmp_path}/absent"
    with pytest.raises(LnraError, match=f"intruder folder not found: {tmp_path}/absent"):
        build_datamodule(cfg)
    cifar = compose_cfg("pseudo=cifar_smoothmix", f"paths.data_dir={tmp_path}")
    with pytest.raises(LnraError, match=f"CIFAR-100 not found in {tmp_path}/intruders/cifar100"):
        build_datamodule(cifar)


def test_cifar_variant_with_the_cifar10_stand_in(compose_cfg, shared_data, tmp_path):
    # 30 images of the stand-in (decoding all 10,000 takes seconds), drawn like CIFAR: whole, no crop
    for class_dir in sorted((shared_data / "intruders" / "cifar10_subset").iterdir())[:3]:
        (tmp_path / "cifar10" / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:10]:
            shutil.copy(image, tmp_path / "cifar10" / class_dir.name / image.name)
    cfg = compose_cfg("pseudo=cifar_smoothmix", "pseudo/source=image_folder",
                      f"pseudo.source.root={tmp_path}/cifar10", "pseudo.source.crop=false")
    (patch,) = build_datamodule(cfg).pseudo.patches
    assert patch.technique == "smoothmix_s" and patch.source.pool.shape == (30, 1, 32, 32)
