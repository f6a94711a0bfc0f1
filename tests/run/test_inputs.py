"""The pre-flight look-up of every input (lnra.run.tasks.missing_inputs) on configs composed from conf/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.data import write_stub_videos
from helpers.runner import run_py

from lnra.errors import LnraError
from lnra.run.tasks import check, missing_inputs


def check_inputs(cfg, training: bool) -> None:
    """As the run checks them: an LnraError naming every missing input in one line."""
    lines = missing_inputs(cfg, training)
    assert len(lines) <= 1
    if lines:
        raise LnraError(lines[0])


def _error(cfg, training: bool = True) -> str:
    with pytest.raises(LnraError) as err:
        check_inputs(cfg, training)
    return str(err.value)


def _dataset(root: Path, name: str, labels: bool = True) -> None:
    """One test video of 20 frames (as many as the labels; they are read with the look-up) and one training
    video folder (only looked at)."""
    (root / name / "training" / "frames" / "01").mkdir(parents=True)
    write_stub_videos(root / name / "testing" / "frames", [20], ["01"])
    if labels:
        np.save(root / name / f"frame_labels_{name}.npy", np.zeros((1, 20), np.uint8))


def test_every_missing_input_is_named_at_once_with_its_command(compose_cfg, tmp_path) -> None:
    data = tmp_path / "nothing"
    message = _error(compose_cfg("dataset=avenue", "pseudo=cifar_smoothmix", f"paths.data_dir={data}"))
    assert message.startswith("2 inputs of this run are missing: (1) dataset folder not found: ")
    assert f"get it with: python -m lnra.data.prepare avenue --download --out {data}." in message
    assert f"(2) CIFAR-100 not found in {data}/intruders/cifar100" in message
    assert f"python -m lnra.data.prepare cifar100 --download --out {data}." in message
    assert "\n" not in message


def test_once_the_dataset_is_there_only_the_intruders_are_named(compose_cfg, tmp_path) -> None:
    _dataset(tmp_path, "avenue")
    message = _error(compose_cfg("dataset=avenue", "pseudo=cifar_smoothmix", f"paths.data_dir={tmp_path}"))
    assert message.startswith(f"CIFAR-100 not found in {tmp_path}/intruders/cifar100")  # one input: as before
    (tmp_path / "intruders" / "cifar100" / "cifar-100-python").mkdir(parents=True)
    (tmp_path / "intruders" / "cifar100" / "cifar-100-python" / "train").write_bytes(b"")
    check_inputs(compose_cfg("dataset=avenue", "pseudo=cifar_smoothmix", f"paths.data_dir={tmp_path}"), True)


def test_labels_test_split_and_checkpoint(compose_cfg, tmp_path) -> None:
    _dataset(tmp_path, "ped2", labels=False)
    labels = tmp_path / "mine.npy"
    cfg = compose_cfg("dataset=ped2", f"paths.data_dir={tmp_path}", f"dataset.labels_path={labels}",
                      "task=test", f"ckpt_path={tmp_path}/x.ckpt")
    message = _error(cfg, training=False)
    assert message.startswith(f"label file not found; looked at {labels} ")
    with pytest.raises(LnraError) as both:  # the run names both gaps at once, one line each
        check(cfg)
    assert str(both.value).split("\nerror: ") == [
        f"ckpt_path={tmp_path}/x.ckpt: checkpoint not found (give a file, or last)", message]
    # task=test reads no training frames: their absence is no gap
    (tmp_path / "ped2" / "training" / "frames" / "01").rmdir()
    np.save(labels, np.zeros((1, 20), np.uint8))
    (tmp_path / "x.ckpt").write_bytes(b"")
    check_inputs(cfg, training=False)
    assert "no video folders in" in _error(cfg, training=True)


@pytest.mark.parametrize(("variant", "says"), [
    ("pseudo=imagenet_smoothmix", "register at https://image-net.org/download"),
    ("pseudo=ped2_smoothmix", "intruder videos not found"),
    ("dataset=shanghai", "https://svip-lab.github.io/dataset/campus_dataset.html"),
])
def test_inputs_without_a_download_say_where_to_get_them(compose_cfg, tmp_path, variant, says) -> None:
    assert says in _error(compose_cfg(variant, f"paths.data_dir={tmp_path}", "dataset.generate=null")
                          if variant.startswith("dataset") else compose_cfg(variant))


def test_generated_data_and_textures_need_nothing(compose_cfg) -> None:
    check_inputs(compose_cfg("pseudo=synthetic_smoothmix"), True)


@pytest.mark.parametrize(("override", "refused"), [
    ("++trainer.limit_val_batches=1", True),  # an int is a number of batches
    ("++trainer.limit_test_batches=0.5", True),
    ("++trainer.overfit_batches=2", True),
    ("++trainer.limit_val_batches=1.0", False),
    ("++trainer.overfit_batches=0", False),
])
def test_a_partial_evaluation_is_refused_naming_the_option(compose_cfg, override, refused) -> None:
    cfg = compose_cfg(override)
    option = override.split("=")[0].lstrip("+")
    if refused:
        with pytest.raises(LnraError, match=f"remove {option} "):
            check(cfg)
    else:
        check(cfg)


def test_run_py_names_missing_inputs_before_making_a_run_directory(tmp_path) -> None:
    """The command a user types: one ``error:`` line naming every gap, exit 2, and no run directory (the
    look-up runs before Hydra makes one, and before torch is imported)."""
    data = tmp_path / "nothing"
    proc = run_py(tmp_path, "dataset=avenue", "pseudo=cifar_smoothmix", f"paths.data_dir={data}",
                  check=False, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: 2 inputs of this run are missing: (1) dataset folder")
    assert "CIFAR-100 not found" in lines[0]
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(("devices", "refused"), [("1", False), ("[0]", False), ("2", True), ("[0,1]", True)])
def test_a_sweep_job_may_name_one_device_as_a_list(compose_cfg, devices, refused) -> None:
    """One device, as a count or a list of one index, runs in a sweep's job; more are refused (on this CPU
    machine Lightning refuses a list for its own reason, which is a different line)."""
    try:
        check(compose_cfg("debug=fast", f"trainer.devices={devices}"), inputs=False, sweep=True)
        said = ""
    except LnraError as err:
        said = str(err)
    assert ("a sweep (-m) runs each job on one device" in said) == refused
