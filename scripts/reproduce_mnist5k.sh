#!/usr/bin/env bash
# docs/reproduction.md, attribution robustness on MNIST-5k: evaluate the three quickstart models on the reproduction grid.
# Run scripts/quickstart.sh first (it trains the models).
set -euo pipefail
cd "$(dirname "$0")/.."
for mode in natural pgd ig_sum_norm; do
  robattr-evaluate --config configs/eval/mnist5k_reproduction.yaml \
    --model.init_args.checkpoint "checkpoints/mnist5k_${mode}_quick/last.ckpt" \
    --model.init_args.output_dir "results/mnist5k_${mode}_reproduction" \
    --trainer.logger.init_args.name "eval_mnist5k_${mode}_reproduction" --trainer.enable_progress_bar false
done
python scripts/results_table.py results/mnist5k_{natural,pgd,ig_sum_norm}_reproduction/results.json
python scripts/results_table.py results/mnist5k_{natural,pgd,ig_sum_norm}_reproduction/results.json --failed failed_excluded
