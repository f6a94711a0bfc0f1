#!/usr/bin/env bash
# Prepare what benchmarks/device_run.sh carries to the lent GPU machine (both folders are git-ignored):
#   .whl/     the Python packages that machine lacks (hydra-core, omegaconf, antlr4 runtime; pytorch-lightning as a
#             fallback), as wheels for its Python 3.12
#   .devdata/ Ped2 already gray 256x256 (ped2_256), its labels and 50 CIFAR-10 images per class
# usage: bash benchmarks/prepare_device.sh [SHARED_DATA_DIR]   (default $LNRA_SHARED_DATA or ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-${LNRA_SHARED_DATA:-../shared/data}}
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"

mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS \
    -d .whl hydra-core==1.3.8 omegaconf==2.3.1 pytorch-lightning==2.6.6
# antlr4-python3-runtime 4.9.3 (what omegaconf 2.3 pins) is published as source only: build its pure-Python wheel.
ls .whl/antlr4_python3_runtime-4.9.3-*.whl >/dev/null 2>&1 ||
    python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl antlr4-python3-runtime==4.9.3

mkdir -p .devdata/labels .devdata/cifar10_small
[ -d .devdata/ped2_256 ] || cp -r "$DATA/ped2_256" .devdata/ped2_256
cp "$DATA/labels/frame_labels_ped2.npy" .devdata/labels/
for class_dir in "$DATA"/intruders/cifar10_subset/*/; do
    class=$(basename "$class_dir")
    mkdir -p ".devdata/cifar10_small/$class"
    find "$class_dir" -type f | sort | sed -n 1,50p | xargs -I{} cp {} ".devdata/cifar10_small/$class/"
done

# The device tool carries at most 64 MiB: tracked + untracked-not-ignored files + the carried folders.
tree=$( (git ls-files -co --exclude-standard -z | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1) || echo 0)
carried=$(du -cb .whl .devdata | tail -1 | cut -f1)
echo "working tree $((tree / 1024)) KiB + .whl/.devdata $((carried / 1024)) KiB = $(((tree + carried) / 1048576)) MiB (limit 64)"
[ $((tree + carried)) -lt $((64 * 1048576)) ] || { echo "error: over the 64 MiB the device tool carries" >&2; exit 1; }
