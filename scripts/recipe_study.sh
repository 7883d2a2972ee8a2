#!/usr/bin/env bash
# The CIFAR-10 recipe study of docs/benchmarks.md ("Recipe study", issue 31): DRL variants
# (augmented views, t-samplers, z conditioning) and SimCLR, each trained to the same 128,000
# images (2,000 steps x 64, `small` preset) one after another, then scored by the protocol's linear
# probe (t and C chosen on validation) on the same 10,000-image stratified train subset and the
# whole lossless test set. Re-run it after an interruption: a finished run is skipped, an
# unfinished one continues from its last checkpoint (--resume), a finished report is kept.
#
#   nohup bash scripts/recipe_study.sh > runs/recipe.out 2>&1 &        # every run, in this order
#   nohup bash scripts/recipe_study.sh novel none > runs/recipe.out 2>&1 &  # just these
#   python scripts/recipe_table.py          # the reports -> docs/benchmarks/cifar10-recipe.md
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DRLKIT_DATA:-../shared/data}
STEPS=${STEPS:-2000}
R=docs/benchmarks/cifar10-recipe
COMMON=(--dataset cifar10 --data-root "$DATA" --preset small --latent-dim 128 --batch-size 64
        --seed 0 --checkpoint-every 250 --diagnostics-every 1000 --quiet)
EVAL=(--dataset cifar10 --data-root "$DATA" --metrics linear_probe --max-train 10000
      --t 0.1,0.3,0.5,0.7,0.9 --quiet)

ONLY=" $* "
for name in "$@"; do
  grep -Eq "^(run|pooled) $name " scripts/recipe_study.sh \
    || { echo "recipe_study.sh: no run named '$name'" >&2; exit 2; }
done
wanted() { [[ $ONLY == "  " || $ONLY == *" $1 "* ]]; }

evaluate() {  # evaluate NAME REPORT [eval options...]: score runs/recipe/NAME's export once
  local name=$1 report=$2; shift 2
  local file=runs/recipe/$name/model-$STEPS.safetensors
  if [[ -f $report ]]; then echo "have $report"; return; fi
  mkdir -p "$R"
  echo "$(date -u +%FT%TZ) evaluating $name -> $report"
  python -m drlkit eval "$file" "${EVAL[@]}" --label "$name" --report "$report" "$@" \
    > "runs/recipe/$name/eval-$(basename "$report" .json).out"
}

run() {  # run NAME [train options...]: train to $STEPS steps, keep its diagnostics, score z
  local name=$1; shift
  wanted "$name" || return 0
  local out=runs/recipe/$name
  if [[ ! -f $out/model-$STEPS.safetensors ]]; then
    local resume=()
    [[ -f $out/state.safetensors ]] && resume=(--resume)
    echo "$(date -u +%FT%TZ) $name: training to $STEPS steps ${resume[*]}"
    python -m drlkit train "${COMMON[@]}" "$@" --steps "$STEPS" --out "$out" "${resume[@]}"
    cp "$out/model.safetensors" "$out/model-$STEPS.safetensors"
  fi
  mkdir -p "$R"
  # the z-usage and quick-probe records of the run's log (runs/ is not committed)
  grep -E '"(z_usage|probe)"' "$out/log.jsonl" > "$R/$name.diagnostics.jsonl" || true
  local base=(--baselines none)
  [[ $name == none ]] && base=(--baselines pixels,random)  # the baselines, once
  evaluate "$name" "$R/$name.json" "${base[@]}"
}

pooled() {  # pooled NAME: score the encoder's pooled features of a trained run
  wanted "$1" || return 0
  evaluate "$1" "$R/$1-pooled.json" --features pooled --baselines random
}

# Wait for a training or evaluation left running (never two at once).
while pgrep -f "drlkit (train|eval|level-of-detail)" > /dev/null; do sleep 30; done

run novel --method drl --t-conditioned --t-sampler uniform-t --views novel
run none --method drl --t-conditioned --t-sampler uniform-t --views none
run simclr --method simclr
pooled none
run novel-sigma --method drl --t-conditioned --t-sampler uniform-sigma --views novel
run novel-film --method drl --t-conditioned --t-sampler uniform-t --views novel --z-conditioning film
run same --method drl --t-conditioned --t-sampler uniform-t --views same
run novel-lognormal --method drl --t-conditioned --t-sampler lognormal:-1.2,1.2 --views novel
pooled novel
run none-film --method drl --t-conditioned --t-sampler uniform-t --views none --z-conditioning film
pooled none-film
run none-sigma --method drl --t-conditioned --t-sampler uniform-sigma --views none
pooled none-sigma
# novel-inv-per-sample-t (docs/benchmarks/cifar10-recipe/novel-inv-per-sample-t*.json) was this run
# with each image's own t in NT-Xent (drlkit 1128ab0 to b046022), which the current code no longer
# does; the run below has NT-Xent's codes at one t per batch
run novel-inv --method drl --t-conditioned --t-sampler uniform-t --views novel --invariance-weight 1
pooled novel-inv
echo "$(date -u +%FT%TZ) recipe study done${*:+ ($*)}"
