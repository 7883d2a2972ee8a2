#!/usr/bin/env bash
# Train the model zoo and the CIFAR-10 comparison runs one after another (never two at once: on
# 2 cores each would run 4-7x slower). Re-run it after an interruption: a finished run is skipped,
# an unfinished one continues from its last checkpoint (--resume), so the script can be started
# again in every session until everything is done. Each finished run's export is also copied to
# runs/NAME/model-STEPS.safetensors, so a run extended later keeps its earlier snapshot, and
# evaluated at once by scripts/benchmarks.sh (which skips what it has already evaluated).
#
#   nohup bash scripts/train_zoo.sh > runs/zoo.out 2>&1 &
#   nohup bash scripts/train_zoo.sh fashion-mnist-ae fashion-mnist-vae > runs/zoo.out 2>&1 &  # just these
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DRLKIT_DATA:-../shared/data}
COMMON=(--data-root "$DATA" --preset small --latent-dim 128 --batch-size 64 --seed 0
        --checkpoint-every 500 --diagnostics-every 2000 --quiet)

ONLY=" $* "  # run names given on the command line: train just those (in this file's order)
for name in "$@"; do
  grep -q "^run $name " scripts/train_zoo.sh || { echo "train_zoo.sh: no run named '$name'" >&2; exit 2; }
done

run() {  # run NAME STEPS [train options...]
  local name=$1 steps=$2; shift 2
  local out=runs/$name
  if [[ $ONLY != "  " && $ONLY != *" $name "* ]]; then return; fi
  if [[ -f $out/model-$steps.safetensors ]]; then
    echo "$(date -u +%FT%TZ) $name: done at $steps steps"
    bash scripts/benchmarks.sh; return
  fi
  local resume=()
  [[ -f $out/state.safetensors ]] && resume=(--resume)
  echo "$(date -u +%FT%TZ) $name: training to $steps steps ${resume[*]}"
  python -m drlkit train "${COMMON[@]}" "$@" --steps "$steps" --out "$out" "${resume[@]}"
  cp "$out/model.safetensors" "$out/model-$steps.safetensors"
  echo "$(date -u +%FT%TZ) $name: exported $out/model-$steps.safetensors"
  bash scripts/benchmarks.sh
}

# Wait for a training or evaluation left running (never two at once).
while pgrep -f "drlkit (train|eval|level-of-detail)" > /dev/null; do sleep 30; done

# CIFAR-10 comparison at equal images seen: 10k steps x 64 = 640k images (12.8 epochs) each.
run cifar10 10000 --dataset cifar10 --method drl --t-conditioned --t-sampler uniform-t
# (the level-of-detail study, `drlkit level-of-detail --steps 2000 --out-dir docs/level-of-detail`, ran here once; its
# results are in docs/level-of-detail/)
# the 2-D-latent MNIST model for pictures (latent grids)
run mnist-2d 5000 --dataset mnist --method drl --t-conditioned --t-sampler uniform-t --latent-dim 2
# Fashion-MNIST before the CIFAR-10 variants below, which already have GPU-trained checkpoints.
# 2,000 steps (128k images), not 10,000: on the 2 AMD EPYC cores (fp32, 27-30 img/s) 10,000 steps
# take 6 hours, longer than a session, and a run's state was lost once between sessions. 2,000
# steps take 72 min there; each baseline gets the same budget.
run fashion-mnist 2000 --dataset fashion-mnist --method drl --t-conditioned --t-sampler uniform-t
# its baselines: the same encoder, data and budget
run fashion-mnist-ae 2000 --dataset fashion-mnist --method ae
run fashion-mnist-vae 2000 --dataset fashion-mnist --method vae
run fashion-mnist-simclr 2000 --dataset fashion-mnist --method simclr
# and the DRL variants of the comparison, at the same budget
run fashion-mnist-static 2000 --dataset fashion-mnist --method drl --static --t-sampler uniform-t
run fashion-mnist-vdrl 2000 --dataset fashion-mnist --method vdrl --t-conditioned --t-sampler uniform-t
run fashion-mnist-coarse 2000 --dataset fashion-mnist --method drl --t-conditioned --t-sampler uniform-sigma
# the same baselines on MNIST, against the shipped `mnist`
run mnist-ae 10000 --dataset mnist --method ae
run mnist-vae 10000 --dataset mnist --method vae
run mnist-simclr 10000 --dataset mnist --method simclr
# and the DRL variants, at the same budget as the shipped `mnist`
run mnist-static 10000 --dataset mnist --method drl --static --t-sampler uniform-t
run mnist-vdrl 10000 --dataset mnist --method vdrl --t-conditioned --t-sampler uniform-t
run mnist-coarse 10000 --dataset mnist --method drl --t-conditioned --t-sampler uniform-sigma
# the baselines and variants, same architecture, data and budget as cifar10 at 10k steps
run cifar10-ae 10000 --dataset cifar10 --method ae
run cifar10-simclr 10000 --dataset cifar10 --method simclr
run cifar10-vdrl 10000 --dataset cifar10 --method vdrl --t-conditioned --t-sampler uniform-t
run cifar10-coarse 10000 --dataset cifar10 --method drl --t-conditioned --t-sampler uniform-sigma
run cifar10-vae 10000 --dataset cifar10 --method vae
run cifar10-static 10000 --dataset cifar10 --method drl --static --t-sampler uniform-t
# a longer run of the shipped default, if time allows. The 10k run's training state was not kept
# between sessions (only its export), so this one starts again from step 0 in its own folder.
run cifar10-30k 30000 --dataset cifar10 --method drl --t-conditioned --t-sampler uniform-t
echo "$(date -u +%FT%TZ) all runs done${*:+ ($*)}"
