#!/usr/bin/env bash
# The denoiser-read study (issue 39, docs/benchmarks/denoiser.md) on the full protocol of
# docs/evaluation.md: each shipped model read at its denoiser read and its best read, beside the
# random-init control of the same architecture read the same way. One evaluation at a time
# (never two on 2 cores); finished reports are kept, so a stopped run continues where it was.
#
#   bash scripts/denoiser_study.sh            # every row, in priority order
#   bash scripts/denoiser_study.sh cifar10    # the rows of one model
#   bash scripts/denoiser_study.sh cifar10-jpeg-b64   # the one-factor training and its read
#   python scripts/denoiser_tables.py         # the tables of docs/benchmarks/denoiser.md
#
# The block x t sweep that chose the read's defaults runs first, on a subset:
#   python scripts/denoiser_sweep.py --model cifar10 --json docs/benchmarks/denoiser/sweep-cifar10.json
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DRLKIT_DATA:-../shared/data}
OUT=docs/benchmarks/denoiser
ONLY=${1:-}
mkdir -p "$OUT" runs

run() {  # run MODEL DATASET NAME [eval options...]: one report, $OUT/NAME.json
  local model=$1 dataset=$2 name=$3; shift 3
  [[ -n $ONLY && $ONLY != "$model" ]] && return
  if [[ -f $OUT/$name.json ]]; then echo "have $OUT/$name.json"; return; fi
  echo "$(date -u +%FT%TZ) $name: drlkit eval $model --dataset $dataset $*"
  python -m drlkit eval "$model" --dataset "$dataset" --data-root "$DATA" --label "$model" \
      --report "$OUT/$name.json" --quiet "$@" > "runs/denoiser-$name.out"
}

# label spreading's 50k x 50k neighbour graph is left out of the best read's runs (about 2 x 10 min
# more per model on 2 cores): the few-label scores are the SVC's
ALL=linear_probe,knn_probe,cluster,few_label
# the shipped model: the denoiser read on the probes with the random-init control read the same
# way, the best read on every metric (its random-init control comes after the next rows)
run cifar10 cifar10 cifar10-denoiser --features denoiser --metrics linear_probe,knn_probe --baselines random
run cifar10 cifar10 cifar10-best --features best --metrics $ALL --baselines none
# the equal-budget row (640k images, as SimCLR's)
run cifar10-cpu cifar10 cifar10-cpu-denoiser --features denoiser --metrics linear_probe,knn_probe --baselines none
run cifar10-cpu cifar10 cifar10-cpu-best --features best --metrics $ALL --baselines none
# Fashion-MNIST, against raw pixels (84.75%) and the AE (86.36%) of docs/benchmarks/fashion-mnist.md
run fashion-mnist fashion-mnist fashion-mnist-denoiser --features denoiser --metrics linear_probe,knn_probe --baselines none
run fashion-mnist fashion-mnist fashion-mnist-best --features best --metrics linear_probe --baselines none
# the random-init control of the shipped model's best read, added to its report (--reuse takes the
# model's scores from it and computes only the control)
if [[ (-z $ONLY || $ONLY == cifar10) && -f $OUT/cifar10-best.json ]] \
    && ! grep -q '"random_encoder"' "$OUT/cifar10-best.json"; then
  echo "$(date -u +%FT%TZ) cifar10-best: adding the random-init control"
  python -m drlkit eval cifar10 --dataset cifar10 --data-root "$DATA" --label cifar10 --quiet \
      --features best --metrics $ALL --baselines random --reuse "$OUT/cifar10-best.json" \
      --report "$OUT/cifar10-best.json" > runs/denoiser-cifar10-best-random.out
fi
# the budget curve's 384k-image points (GPU-trained on the JPEG copy), then MNIST, then the
# denoiser read alone of the 384k models
run cifar10-coarse cifar10 cifar10-coarse-best --features best --metrics linear_probe --baselines none
run cifar10-vdrl cifar10 cifar10-vdrl-best --features best --metrics linear_probe --baselines none
run mnist mnist mnist-best --features best --metrics linear_probe --baselines none
run cifar10-coarse cifar10 cifar10-coarse-denoiser --features denoiser --metrics linear_probe --baselines none
run cifar10-vdrl cifar10 cifar10-vdrl-denoiser --features denoiser --metrics linear_probe --baselines none
run mnist mnist mnist-denoiser --features denoiser --metrics linear_probe --baselines none
# the one-factor run ("Why the CPU run reads better"): cifar10-cpu's recipe (batch 64 x 10,000
# steps) on the lossy JPEG copy that cifar10 trained on. It trains first (about 2 h of these two
# cores in bf16, a state every 500 steps: a stopped run continues with --resume)
JB=runs/cifar10-jpeg-b64
if [[ (-z $ONLY || $ONLY == cifar10-jpeg-b64) && ! -f $OUT/cifar10-jpeg-b64-denoiser.json ]]; then
  if [[ ! -f $JB/model.safetensors ]]; then
    resume=(); [[ -f $JB/state.safetensors ]] && resume=(--resume)
    echo "$(date -u +%FT%TZ) cifar10-jpeg-b64: drlkit train (cifar10-cpu's recipe, JPEG copy)"
    python -m drlkit train --dataset cifar10 --data-root "$DATA" --cifar-copy jpeg --method drl \
        --t-conditioned --t-sampler uniform-t --latent-dim 128 --preset small --steps 10000 \
        --batch-size 64 --seed 0 --checkpoint-every 500 --diagnostics-every 2000 --out $JB \
        "${resume[@]}" >> runs/train-jpeg-b64.out 2>&1
  fi
  echo "$(date -u +%FT%TZ) cifar10-jpeg-b64-denoiser"
  python -m drlkit eval $JB/model.safetensors --dataset cifar10 --data-root "$DATA" \
      --label cifar10-jpeg-b64 --features denoiser --metrics linear_probe,knn_probe \
      --baselines none --report $OUT/cifar10-jpeg-b64-denoiser.json --quiet \
      > runs/denoiser-cifar10-jpeg-b64-denoiser.out
fi
echo "done: python scripts/denoiser_tables.py"
