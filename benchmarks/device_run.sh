#!/usr/bin/env bash
# The speed check on the lent H200 (issue 7.3): GPU benchmarks, then Ped2 skip_frame at full resolution
# (256x256, batch 4, lr 1e-4: the paper's Table 1 settings) for as many epochs as fit in TRAIN_SECONDS,
# tested at the end. Everything lands in $OUT as at most 8 files (what the device tool brings back):
#   tables.md  every benchmark table and the training summary
#   results.json  benchmark rows, the run's AUCs (last and best epoch, per-epoch history) and timings
#   logs.tar.gz  every log, the run's results.json, scores and metrics
#   env.txt  nvidia-smi, python and package versions
#
# Prepare here first (wheels in .whl, data in .devdata): bash benchmarks/prepare_device.sh
# On the machine (device tool): run  bash benchmarks/device_run.sh  with carry [".whl", ".devdata"].
# Here, without a GPU: bash benchmarks/device_run.sh --dry-run  (every step on the CPU at tiny sizes).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
TRAIN_SECONDS=${TRAIN_SECONDS:-420}   # at most this much training; less when the benchmarks ran long, because
DEADLINE=${DEADLINE:-540}             # the whole script must end inside the device tool's 600 s per command
if [ $DRY = 1 ]; then
    OUT=${OUT:-$REPO/outputs/device_dry}
    rm -rf "$OUT"
fi
: "${OUT:?set OUT to the folder for the results (the device tool sets it)}"
mkdir -p "$OUT"
WORK=$(mktemp -d)
LOGS=$WORK/logs
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
START=$(date +%s)
say() { echo "[device_run $(($(date +%s) - START)) s] $*" | tee -a "$LOGS/device_run.log"; }

# -- 1. packages the machine lacks, from the carried wheels ------------------------------------------------
for need in .whl/hydra_core-*.whl .whl/omegaconf-*.whl .whl/antlr4_python3_runtime-*.whl .devdata/ped2_256; do
    compgen -G "$need" >/dev/null || { echo "error: $need missing: run bash benchmarks/prepare_device.sh" >&2; exit 2; }
done
SITE=$WORK/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    .whl/hydra_core-*.whl .whl/omegaconf-*.whl .whl/antlr4_python3_runtime-*.whl || exit 2
export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
# pytorch_lightning is on the image; its carried wheel is used only where it is missing or older than 2.5.
if ! python3 -c "import pytorch_lightning, sys; v = tuple(map(int, pytorch_lightning.__version__.split('.')[:2])); sys.exit(v < (2, 5))" \
    2>/dev/null || [ $DRY = 1 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/lightning" \
        .whl/pytorch_lightning-*.whl || exit 2
    python3 -c "import pytorch_lightning" 2>/dev/null || export PYTHONPATH=$WORK/lightning:$PYTHONPATH
fi
python3 -c "import hydra, omegaconf, pytorch_lightning, lnra.run.builders" || { echo "error: imports fail" >&2; exit 2; }

{
    date -u
    nvidia-smi 2>&1 || echo "no nvidia-smi (dry run)"
    python3 -c "import sys, torch, pytorch_lightning, hydra; print(sys.version); print('torch', torch.__version__, \
'cuda', torch.version.cuda, 'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None); \
print('pytorch_lightning', pytorch_lightning.__version__, 'hydra', hydra.__version__)"
    python3 -c "import os; print(os.cpu_count())"
} > "$OUT/env.txt" 2>&1
say "packages ready; $(tail -1 "$OUT/env.txt") cores"

# -- 2. benchmarks --------------------------------------------------------------------------------------------
DATA=(--data-dir "$REPO/.devdata" --labels "$REPO/.devdata/labels/frame_labels_ped2.npy"
      --intruders "$REPO/.devdata/cifar10_small" "dataset.root=$REPO/.devdata/ped2_256"
      --json "$WORK/bench.json" --md "$OUT/tables.md")
if [ $DRY = 1 ]; then
    SLOW=20   # a shared CPU is far slower than the GPU the time limits are made for
    ACC=(--accelerator cpu --size 32 --steps 1 --warmup 1 dataset.num_workers=0)
    TRAIN_SET=(fp32 fast); COMPILE_SET=(fast); EVAL_SET=(fp32 fast --limit 3); BIG_BATCH=8; EPOCH_LIMIT=(--limit 3)
    RUN_ARGS=(trainer=cpu dataset.height=32 dataset.width=32 dataset.num_workers=0 trainer.max_epochs=1
              +trainer.limit_train_batches=2)
else
    SLOW=1
    ACC=(--accelerator gpu --size 256 --steps 40 --warmup 10)
    TRAIN_SET=(fp32 bf16 fast); COMPILE_SET=(fast_compile); EVAL_SET=(fp32 fast); BIG_BATCH=32
    EPOCH_LIMIT=()
    RUN_ARGS=(trainer=gpu dataset.max_epochs=60 trainer.check_val_every_n_epoch=5)
fi
bench() {  # bench NAME TIMEOUT ARGS...: one section; a failure is logged and the script goes on
    local name=$1 limit=$2; shift 2
    say "bench $name"
    timeout $((limit * SLOW)) python3 benchmarks/bench_speed.py "$@" "${DATA[@]}" > "$LOGS/bench_$name.log" 2>&1 ||
        say "bench $name FAILED or timed out (rc $?): see logs/bench_$name.log"
}
echo "# lnra speed on $(python3 -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() \
else 'CPU (dry run)')"), $(date -u +%Y-%m-%d)" > "$OUT/tables.md"
bench train 150 train "${ACC[@]}" --settings "${TRAIN_SET[@]}"
bench train_compile 120 train "${ACC[@]}" --settings "${COMPILE_SET[@]}" --variants none
bench train_batch$BIG_BATCH 60 train "${ACC[@]}" --settings fast --variants skip_frame --batch $BIG_BATCH \
    "model.lr=$(python3 -c "print(1e-4 * $BIG_BATCH / 4)")"
bench eval 60 eval "${ACC[@]}" --settings "${EVAL_SET[@]}" --eval-batch 64
bench epoch 60 epoch "${ACC[@]}" --settings fast --variants skip_frame "${EPOCH_LIMIT[@]}"

# -- 3. Ped2 skip_frame at full resolution, as many epochs as fit, then the test ------------------------------
RUN_DIR=$WORK/ped2_skip_frame
LEFT=$((DEADLINE - ($(date +%s) - START) - 45))   # 45 s for the start-up, the test and the packing
[ $LEFT -lt $TRAIN_SECONDS ] && TRAIN_SECONDS=$((LEFT > 60 ? LEFT : 60))
[ $DRY = 0 ] && RUN_ARGS+=("+trainer.max_time={seconds:$TRAIN_SECONDS}")
say "training Ped2 skip_frame$([ $DRY = 0 ] && echo " for at most $TRAIN_SECONDS s")"
T0=$(date +%s.%N)
python3 run.py dataset=ped2 pseudo=skip_frame "dataset.root=$REPO/.devdata/ped2_256" \
    "dataset.labels_path=$REPO/.devdata/labels/frame_labels_ped2.npy" logger=csv \
    trainer.enable_progress_bar=false "hydra.run.dir=$RUN_DIR" "${RUN_ARGS[@]}" > "$LOGS/train.log" 2>&1
RC=$?
T1=$(date +%s.%N)
say "training finished with rc $RC"

# -- 4. results.json and the training table -------------------------------------------------------------------
python3 - "$WORK/bench.json" "$RUN_DIR" "$T0" "$T1" "$RC" "$OUT" "$TRAIN_SECONDS" <<'EOF'
import json, sys
from pathlib import Path
bench, run_dir, t0, t1, rc, out, budget = sys.argv[1:]
rows = json.loads(Path(bench).read_text()) if Path(bench).is_file() else []
result = {"benchmarks": rows, "training": {"returncode": int(rc), "wall_s": float(t1) - float(t0),
                                           "time_budget_s": int(budget)}}
res_file = Path(run_dir) / "results.json"
lines = ["", "### Ped2 skip_frame, full resolution (256×256, batch 4, lr 1e-4), time-boxed", ""]
if res_file.is_file():
    res = json.loads(res_file.read_text())
    epochs = int(res["epoch"]) + 1
    wall = float(t1) - float(t0)
    per_epoch = wall / max(epochs, 1)
    result["training"].update({k: res.get(k) for k in ("epoch", "auc_micro", "auc_macro", "best_epoch",
                                                       "best_auc_micro", "history")})
    result["training"].update({"epochs_done": epochs, "s_per_epoch_incl_startup_val_test": per_epoch,
                               "projected_60_epochs_min": 60 * per_epoch / 60})
    hist = ", ".join(f"{h['epoch']}: {100 * h['auc_micro']:.2f}" for h in res.get("history", []))
    lines += ["| epochs done | wall (start-up, cache, validation every 5, test) | s/epoch | 60 epochs (projected) "
              "| last-epoch AUC % | best-epoch AUC % |", "|---|---|---|---|---|---|",
              f"| {epochs} | {wall:.0f} s | {per_epoch:.1f} | {per_epoch:.1f} min | {100 * res['auc_micro']:.2f} | "
              f"{100 * res['best_auc_micro']:.2f} (epoch {res['best_epoch']}) |", "",
              f"validation AUC per epoch: {hist or '(none)'}; paper Table 1: 96.50"]
else:
    lines.append(f"no results: the run failed with rc {rc} (see logs/train.log)")
with open(Path(out) / "tables.md", "a") as f:
    f.write("\n".join(lines) + "\n")
(Path(out) / "results.json").write_text(json.dumps(result, indent=1))
EOF
cp "$RUN_DIR"/results.json "$RUN_DIR"/run.log "$LOGS"/ 2>/dev/null
cp "$RUN_DIR"/csv/metrics.csv "$LOGS"/ 2>/dev/null
say "done; everything is in $OUT"
tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs
rm -rf "$WORK"
cat "$OUT/tables.md"
