#!/usr/bin/env bash
# The fine-tuning study of issue 41 (docs/finetune.md): DRLClassifier from each init, at one fixed
# CPU budget (EPOCHS passes over the train split for every run), on the few-label protocol's
# labelled images (--label-draw d: the d-th draw of `drlkit eval`'s few_label metric), scored on
# the validation split and the lossless test split; beside them the frozen rows (the init's
# features kept as they are: SVC and label spreading on the same labels). One run at a time;
# an interrupted run continues from its last epoch (--resume), a finished report is kept.
#
#   nohup bash scripts/finetune_study.sh > runs/finetune.out 2>&1 &      # every row, in this order
#   nohup bash scripts/finetune_study.sh c4000 > runs/finetune.out 2>&1 &  # the rows named c4000*
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DRLKIT_DATA:-../shared/data}
# laplacenet runs with DRLClassifier's default supervised_epochs=1 (its first epoch on the labels
# alone, LaplaceNet's supervised initialisation): docs/benchmarks/finetune/ablations/ keeps the
# 4000-label runs without it. 3 epochs: bench/finetune.py measures an epoch (50k images,
# laplacenet, bf16 on the Xeon) at about 3.3 min with the encoder backbone and 12.5 min with the
# denoiser's, so the slowest run takes about 40 min
EPOCHS=${EPOCHS:-3}
R=docs/benchmarks/finetune
mkdir -p "$R" runs/finetune
PREFIX=${1:-}

run() {  # run NAME DATASET LABELS DRAW [finetune options...]: one report, $R/NAME.json
  local name=$1 data=$2 labels=$3 draw=$4; shift 4
  [[ -n $PREFIX && $name != "$PREFIX"* ]] && return 0
  if [[ -f $R/$name.json ]]; then echo "have $R/$name.json"; return 0; fi
  local out=runs/finetune/$name.safetensors resume=()
  [[ -d $out.state ]] && resume=(--resume)
  echo "$(date -u +%FT%TZ) $name: drlkit finetune --data $data --labels $labels --label-draw $draw $*"
  python -m drlkit finetune --data "$data" --labels "$labels" --label-draw "$draw" \
      --data-root "$DATA" --epochs "$EPOCHS" -o "$out" --report "$R/$name.json" --quiet \
      "${resume[@]}" "$@" > "runs/finetune/$name.out" 2>&1
}

frozen() {  # frozen NAME MODEL FEATURES: the frozen rows, $R/frozen-NAME.json
  local name=$1 model=$2 features=$3
  [[ -n $PREFIX && frozen-$name != "$PREFIX"* ]] && return 0
  if [[ -f $R/frozen-$name.json ]]; then echo "have $R/frozen-$name.json"; return 0; fi
  echo "$(date -u +%FT%TZ) frozen-$name"
  python scripts/finetune_frozen.py --model "$model" --features "$features" --labels 100,4000 \
      --draws 3 --data-root "$DATA" --json "$R/frozen-$name.json" > "runs/finetune/frozen-$name.out" 2>&1
}

# Wait for a training, evaluation or fine-tuning left running (never two at once).
while pgrep -f "drlkit (train|eval|finetune)" > /dev/null; do sleep 30; done

rows() {  # rows PREFIX DATASET LABELS DRAW: every init x method x backbone of one label set
  local p=$1 d=$2 n=$3 k=$4
  run "$p-drl-lap-enc" "$d" "$n" "$k" --model cifar10 --method laplacenet --backbone encoder
  run "$p-random-lap-enc" "$d" "$n" "$k" --model cifar10 --random-init --method laplacenet --backbone encoder
  run "$p-drl-lap-den" "$d" "$n" "$k" --model cifar10 --method laplacenet --backbone denoiser
  run "$p-random-lap-den" "$d" "$n" "$k" --model cifar10 --random-init --method laplacenet --backbone denoiser
  run "$p-vdrl-lap-enc" "$d" "$n" "$k" --model cifar10-vdrl --method laplacenet --backbone encoder
  run "$p-simclr-lap-enc" "$d" "$n" "$k" --model cifar10-simclr --method laplacenet --backbone encoder
  run "$p-drl-sup-enc" "$d" "$n" "$k" --model cifar10 --method supervised --backbone encoder
  run "$p-random-sup-enc" "$d" "$n" "$k" --model cifar10 --random-init --method supervised --backbone encoder
  run "$p-drl-sup-den" "$d" "$n" "$k" --model cifar10 --method supervised --backbone denoiser
  run "$p-random-sup-den" "$d" "$n" "$k" --model cifar10 --random-init --method supervised --backbone denoiser
}

rows c4000 cifar10 4000 0
frozen cifar10-z cifar10 z
frozen cifar10-best cifar10 best
frozen cifar10-vdrl-z cifar10-vdrl z
frozen cifar10-simclr-z cifar10-simclr z
rows c100-d0 cifar10 100 0
run m100-drl-lap-enc mnist 100 0 --model mnist --method laplacenet --backbone encoder
run m100-random-lap-enc mnist 100 0 --model mnist --random-init --method laplacenet --backbone encoder
rows c100-d1 cifar10 100 1
rows c100-d2 cifar10 100 2
echo "$(date -u +%FT%TZ) fine-tuning study done${PREFIX:+ ($PREFIX)}: python scripts/finetune_tables.py"
