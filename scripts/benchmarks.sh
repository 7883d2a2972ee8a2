#!/usr/bin/env bash
# Evaluate the zoo and the CIFAR-10 comparison runs (scripts/train_zoo.sh) with the `drlkit eval`
# protocol (CIFAR-10 on its lossless test set), write each model's metrics into its card, and join
# the reports into one table per dataset with `drlkit compare`. Runs not trained yet are skipped
# (and said so); finished reports are kept, so this can be re-run after every training.
# Evaluating while a training runs slows both: scripts/train_zoo.sh calls this between runs.
#
#   bash scripts/benchmarks.sh   # docs/benchmarks/DATASET/*.json -> docs/benchmarks/DATASET.md
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DRLKIT_DATA:-../shared/data}

evaluate() {  # evaluate DATASET LABEL FILE REPORT [eval options...]
  local file=$3 report=$4
  if [[ ! -f $file ]]; then echo "skip $2: $file not trained yet"; return; fi
  if [[ -f $report ]]; then echo "have $report"; return; fi
  run_eval "$@"
}

# add_random DATASET LABEL FILE REPORT [eval options...]: add the random-encoder baseline to a
# finished REPORT, reusing its model and raw-pixel scores (`drlkit eval --reuse`).
add_random() {
  local report=$4
  if [[ ! -f $report ]]; then echo "skip the random encoder of $2: $report not evaluated yet"; return; fi
  if python -c 'import json, sys; sys.exit("random_encoder" not in json.load(open(sys.argv[1]))["representations"])' "$report"; then
    echo "have $report (with the random encoder)"; return
  fi
  run_eval "$@" --reuse "$report"
}

# pooled DATASET LABEL FILE REPORT [eval options...]: the same protocol on the encoder's pooled
# features (`--features pooled`, issue 31); not written into the card, whose metrics are z's.
pooled() { CARD=no evaluate "$@" --features pooled; }

run_eval() {  # run_eval DATASET LABEL FILE REPORT [eval options...]
  local dataset=$1 label=$2 file=$3 report=$4; shift 4
  local card=(--write-card)
  [[ ${CARD:-} == no ]] && card=()
  mkdir -p "$(dirname "$report")" runs
  echo "$(date -u +%FT%TZ) evaluating $label ($file)"
  python -m drlkit eval "$file" --dataset "$dataset" --data-root "$DATA" --label "$label" \
      --report "$report" "${card[@]}" --quiet "$@" > "runs/eval-$(basename "$(dirname "$report")")-$(basename "$report" .json).out"
}

# table DATASET NAME...: join the reports that exist into docs/benchmarks/DATASET.md. Each NAME is
# docs/benchmarks/DATASET/NAME.json, or a path to a report.
table() {
  local dataset=$1; shift
  local reports=() report
  for name in "$@"; do
    report=docs/benchmarks/$dataset/$name.json
    [[ $name == */* ]] && report=$name
    if [[ -f $report ]]; then reports+=("$report"); fi
  done
  if (( ${#reports[@]} )); then
    python -m drlkit compare "${reports[@]}" --out "docs/benchmarks/$dataset.md" > /dev/null
    echo "wrote docs/benchmarks/$dataset.md (${#reports[@]} reports)"
  fi
}

# CIFAR-10: the t-conditioned DRL run also gets the baselines (raw pixels, random encoder) and the
# t-sweep plot; the others reuse its raw-pixel scores (pixels do not depend on the model).
C=docs/benchmarks/cifar10
reuse=(--baselines pixels --pixels-from "$C/drl.json")
evaluate cifar10 "DRL t-conditioned" runs/cifar10/model-10000.safetensors "$C/drl.json" \
    --plot docs/benchmarks/cifar10_t_curve.png
evaluate cifar10 "AE" runs/cifar10-ae/model-10000.safetensors "$C/ae.json" "${reuse[@]}"
evaluate cifar10 "SimCLR" runs/cifar10-simclr/model-10000.safetensors "$C/simclr.json" "${reuse[@]}"
evaluate cifar10 "VDRL" runs/cifar10-vdrl/model-10000.safetensors "$C/vdrl.json" "${reuse[@]}"
evaluate cifar10 "DRL coarse (uniform-sigma)" runs/cifar10-coarse/model-10000.safetensors \
    "$C/coarse.json" "${reuse[@]}"
evaluate cifar10 "VAE" runs/cifar10-vae/model-10000.safetensors "$C/vae.json" "${reuse[@]}"
evaluate cifar10 "DRL static" runs/cifar10-static/model-10000.safetensors "$C/drl-static.json" \
    "${reuse[@]}"
evaluate cifar10 "DRL t-conditioned, 30k steps" runs/cifar10-30k/model-30000.safetensors \
    "$C/drl-30k.json" "${reuse[@]}"
# The recipe study's winner (docs/benchmarks.md, "Recipe study"): the paper's recipe read at the
# encoder's pooled features, at the equal budget; the shipped cifar10-cpu is runs/cifar10's export.
pooled cifar10 "DRL t-conditioned, pooled features" checkpoints/cifar10-cpu.safetensors \
    "$C/drl-pooled.json" "${reuse[@]}"
table cifar10 drl drl-pooled drl-30k drl-static vdrl coarse ae vae simclr

# The CIFAR-10 family trained side by side on one H200 to an equal budget (scripts/gpu_zoo.py:
# 1,500 steps x 256 = 384k images each, on the lossy JPEG copy); each was copied from the call's
# output folder to runs/gpu-h200/NAME.safetensors. Evaluated like the others, on the lossless test set.
G=docs/benchmarks/cifar10-gpu
evaluate cifar10 "DRL static" runs/gpu-h200/cifar10-static.safetensors "$G/drl-static.json" "${reuse[@]}"
evaluate cifar10 "VAE" runs/gpu-h200/cifar10-vae.safetensors "$G/vae.json" "${reuse[@]}"
evaluate cifar10 "DRL t-conditioned" runs/gpu-h200/cifar10.safetensors "$G/drl.json" "${reuse[@]}"
evaluate cifar10 "VDRL" runs/gpu-h200/cifar10-vdrl.safetensors "$G/vdrl.json" "${reuse[@]}"
evaluate cifar10 "AE" runs/gpu-h200/cifar10-ae.safetensors "$G/ae.json" "${reuse[@]}"
evaluate cifar10 "SimCLR" runs/gpu-h200/cifar10-simclr.safetensors "$G/simclr.json" "${reuse[@]}"
evaluate cifar10 "DRL coarse (uniform-sigma)" runs/gpu-h200/cifar10-coarse.safetensors \
    "$G/coarse.json" "${reuse[@]}"
table cifar10-gpu drl drl-static vdrl coarse ae vae simclr

# The t-conditioned DRL run trained alone on one H200 for 8 minutes (scripts/gpu_zoo.py --only cifar10
# --threads 8: 6,500 steps x 256 = 1.66M images, on the JPEG copy), copied from the call's output
# folder to runs/gpu-h200-long/cifar10.safetensors: the shipped `cifar10`. It gets the t-sweep plot
# too. Its random-encoder baseline is the one in $C/drl.json: same architecture, seed and protocol.
evaluate cifar10 "DRL t-conditioned, 1.66M images (H200)" runs/gpu-h200-long/cifar10.safetensors \
    docs/benchmarks/cifar10-gpu-long/drl.json "${reuse[@]}" \
    --plot docs/benchmarks/cifar10-gpu-long_t_curve.png
# and read at its pooled features, the recipe study's winning reading (shipped file, hash-pinned)
pooled cifar10 "DRL t-conditioned, 1.66M images (H200), pooled features" \
    checkpoints/cifar10.safetensors docs/benchmarks/cifar10-gpu-long/drl-pooled.json "${reuse[@]}"
# beside the CPU comparison's DRL, AE and SimCLR, which saw 640k images (the budget columns say so)
table cifar10-gpu-long drl drl-pooled "$C/drl.json" "$C/ae.json" "$C/simclr.json"

# Fashion-MNIST: DRL against raw pixels, a random encoder, the DRL variants (static, VDRL, coarse)
# and the AE, VAE and SimCLR baselines (all of which reuse the DRL report's raw-pixel scores). On
# the 2 EPYC cores the DRL report takes two calls of about 80 min each, so that each fits a working
# session: the model and raw pixels, then the random encoder, added to the same report.
F=docs/benchmarks/fashion-mnist
evaluate fashion-mnist "DRL t-conditioned" runs/fashion-mnist/model-2000.safetensors "$F/drl.json" \
    --baselines pixels --plot docs/benchmarks/fashion-mnist_t_curve.png
add_random fashion-mnist "DRL t-conditioned" runs/fashion-mnist/model-2000.safetensors "$F/drl.json" \
    --plot docs/benchmarks/fashion-mnist_t_curve.png
reuse_f=(--baselines pixels --pixels-from "$F/drl.json")
evaluate fashion-mnist "AE" runs/fashion-mnist-ae/model-2000.safetensors "$F/ae.json" "${reuse_f[@]}"
evaluate fashion-mnist "VAE" runs/fashion-mnist-vae/model-2000.safetensors "$F/vae.json" "${reuse_f[@]}"
evaluate fashion-mnist "SimCLR" runs/fashion-mnist-simclr/model-2000.safetensors "$F/simclr.json" \
    "${reuse_f[@]}"
evaluate fashion-mnist "DRL static" runs/fashion-mnist-static/model-2000.safetensors \
    "$F/drl-static.json" "${reuse_f[@]}"
evaluate fashion-mnist "VDRL" runs/fashion-mnist-vdrl/model-2000.safetensors "$F/vdrl.json" \
    "${reuse_f[@]}"
evaluate fashion-mnist "DRL coarse (uniform-sigma)" runs/fashion-mnist-coarse/model-2000.safetensors \
    "$F/coarse.json" "${reuse_f[@]}"
pooled fashion-mnist "DRL t-conditioned, pooled features" checkpoints/fashion-mnist.safetensors \
    "$F/drl-pooled.json" "${reuse_f[@]}"
table fashion-mnist drl drl-pooled drl-static vdrl coarse ae vae simclr
# MNIST: the shipped `mnist` (its report, docs/evaluation/mnist.json, has the raw-pixel and random
# encoder rows), the DRL variants (static, VDRL, coarse) and the AE, VAE and SimCLR baselines; the
# 2-D code is scored apart (a model for pictures, on its own page).
M=docs/benchmarks/mnist
reuse_m=(--baselines pixels --pixels-from docs/evaluation/mnist.json)
evaluate mnist "AE" runs/mnist-ae/model-10000.safetensors "$M/ae.json" "${reuse_m[@]}"
evaluate mnist "VAE" runs/mnist-vae/model-10000.safetensors "$M/vae.json" "${reuse_m[@]}"
evaluate mnist "SimCLR" runs/mnist-simclr/model-10000.safetensors "$M/simclr.json" "${reuse_m[@]}"
evaluate mnist "DRL static" runs/mnist-static/model-10000.safetensors "$M/drl-static.json" \
    "${reuse_m[@]}"
evaluate mnist "VDRL" runs/mnist-vdrl/model-10000.safetensors "$M/vdrl.json" "${reuse_m[@]}"
evaluate mnist "DRL coarse (uniform-sigma)" runs/mnist-coarse/model-10000.safetensors \
    "$M/coarse.json" "${reuse_m[@]}"
table mnist docs/evaluation/mnist.json drl-static vdrl coarse ae vae simclr
evaluate mnist "DRL t-conditioned, 2-d code" runs/mnist-2d/model-5000.safetensors "$M/drl-2d.json" \
    "${reuse_m[@]}"
