#!/usr/bin/env bash
# Evaluate the CIFAR-10 comparison runs (scripts/train_zoo.sh) with the `drlkit eval` protocol on
# the lossless CIFAR-10 test set, and join the reports into one table with `drlkit compare`.
# Runs whose 10k-step export does not exist yet are skipped (and said so). Evaluating while a
# training runs slows both: pause the training (kill -STOP / -CONT) or wait for it.
#
#   bash scripts/benchmarks.sh     # writes docs/benchmarks/cifar10/*.json and docs/benchmarks/cifar10.md
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DRLKIT_DATA:-../shared/data}
OUT=docs/benchmarks/cifar10
mkdir -p "$OUT" docs/benchmarks

evaluate() {  # evaluate LABEL FILE REPORT [eval options...]
  local label=$1 file=$2 report=$3; shift 3
  if [[ ! -f $file ]]; then echo "skip $label: $file not trained yet"; return; fi
  if [[ -f $report ]]; then echo "have $report"; return; fi
  python -m drlkit eval "$file" --dataset cifar10 --data-root "$DATA" --label "$label" \
      --report "$report" --quiet "$@"
}

# The first evaluation also runs the baselines (raw pixels, random encoder) and draws the t-sweep.
evaluate "DRL t-conditioned" runs/cifar10/model-10000.safetensors "$OUT/drl.json" \
    --plot docs/benchmarks/cifar10_t_curve.png
evaluate "DRL static" runs/cifar10-static/model-10000.safetensors "$OUT/drl-static.json" --baselines none
evaluate "VDRL" runs/cifar10-vdrl/model-10000.safetensors "$OUT/vdrl.json" --baselines none
evaluate "DRL coarse (uniform-sigma)" runs/cifar10-coarse/model-10000.safetensors "$OUT/coarse.json" --baselines none
evaluate "AE" runs/cifar10-ae/model-10000.safetensors "$OUT/ae.json" --baselines none
evaluate "VAE" runs/cifar10-vae/model-10000.safetensors "$OUT/vae.json" --baselines none
evaluate "SimCLR" runs/cifar10-simclr/model-10000.safetensors "$OUT/simclr.json" --baselines none
reports=()
for name in drl drl-static vdrl coarse ae vae simclr; do
  if [[ -f $OUT/$name.json ]]; then reports+=("$OUT/$name.json"); fi
done
python -m drlkit compare "${reports[@]}" --out docs/benchmarks/cifar10.md
