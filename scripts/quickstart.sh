#!/usr/bin/env bash
# The README's main job: train natural, PGD and IG-SUM-NORM models on the 5,000 embedded MNIST digits (CPU),
# then evaluate their attribution robustness (random sign and top-k attacks; top-k, Kendall, LENS, top-k-div).
set -euo pipefail
cd "$(dirname "$0")/.."
for mode in natural pgd ig_sum_norm; do
  robattr-train fit --config "configs/mnist5k/${mode}_quick.yaml" --trainer.enable_progress_bar false
  # test accuracy and PGD accuracy (eps 0.3, 40 steps of 0.01) on the 500 held-out digits
  robattr-train test --config "configs/mnist5k/${mode}_quick.yaml" --trainer.enable_progress_bar false \
    --ckpt_path "checkpoints/mnist5k_${mode}_quick/last.ckpt"
done
for mode in natural pgd ig_sum_norm; do
  robattr-evaluate --config configs/eval/mnist5k_quick.yaml \
    --model.init_args.checkpoint "checkpoints/mnist5k_${mode}_quick/last.ckpt" \
    --model.init_args.output_dir "results/mnist5k_${mode}_quick" \
    --trainer.logger.init_args.name "eval_mnist5k_${mode}_quick"
done
echo
echo "Checkpoints:  checkpoints/mnist5k_{natural,pgd,ig_sum_norm}_quick/{last,best-*}.ckpt"
echo "Results:      results/mnist5k_{natural,pgd,ig_sum_norm}_quick/results.{csv,json}"
echo "TensorBoard:  tensorboard --logdir logs"
