#!/usr/bin/env bash
# The README's main job: train natural, PGD and IG-SUM-NORM models on the 5,000 embedded MNIST digits (CPU),
# test their accuracy and PGD accuracy, then evaluate their attribution robustness (random sign, random walk and
# top-k attacks on IG; top-k, Kendall, LENS, top-k-div) on 50 test digits. Prints the time of every phase.
#
# Rerunning it continues where it stopped: a fit resumes from its last.ckpt (or does nothing when finished), an
# evaluation whose results exist is skipped (an interrupted one resumes).
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=(natural pgd ig_sum_norm)
START=$(date +%s)
TIMES=()

phase() {  # phase NAME COMMAND...: run the command, print and remember how long it took
  local name=$1 t0
  shift
  t0=$(date +%s)
  echo
  echo "=== ${name}"
  "$@"
  local seconds=$(($(date +%s) - t0))
  TIMES+=("$(printf '%-28s %4d s' "${name}" "${seconds}")")
  echo "=== ${name}: ${seconds} s"
}

for mode in "${MODES[@]}"; do
  config="configs/mnist5k/${mode}_quick.yaml"
  phase "train ${mode}" robattr-train fit --config "${config}" --ckpt_path last \
    --trainer.enable_progress_bar false --trainer.enable_model_summary false
  # test accuracy and PGD accuracy (eps 0.3, 40 steps of 0.01) on the 500 held-out digits, logged into the training run
  phase "test ${mode}" robattr-train test --config "${config}" --ckpt_path last \
    --trainer.enable_progress_bar false --trainer.enable_model_summary false
done
for mode in "${MODES[@]}"; do
  out="results/mnist5k_${mode}_quick"
  if [[ -f "${out}/results.json" ]]; then
    echo
    echo "=== evaluate ${mode}: already done, see ${out}/results.csv"
    continue
  fi
  phase "evaluate ${mode}" robattr-evaluate --config configs/eval/mnist5k_quick.yaml \
    --model.init_args.checkpoint "checkpoints/mnist5k_${mode}_quick/last.ckpt" \
    --model.init_args.output_dir "${out}" \
    --trainer.logger.init_args.name "eval_mnist5k_${mode}_quick" \
    --trainer.enable_progress_bar false --trainer.enable_model_summary false
done
echo
echo "Time per phase:"
for line in "${TIMES[@]}"; do echo "  ${line}"; done
echo "  total                        $(($(date +%s) - START)) s"
echo
echo "Checkpoints:  checkpoints/mnist5k_{natural,pgd,ig_sum_norm}_quick/{last,best-*}.ckpt"
echo "Results:      results/mnist5k_{natural,pgd,ig_sum_norm}_quick/results.{csv,json}"
echo "TensorBoard:  tensorboard --logdir logs"
