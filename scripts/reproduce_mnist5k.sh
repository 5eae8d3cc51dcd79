#!/usr/bin/env bash
# docs/reproduction.md, attribution robustness on MNIST-5k: train the reproduction models (the former quickstart
# configs, configs/mnist5k/reproduction/) and evaluate them on the reproduction grid. Rerunning it continues where
# it stopped (a fit resumes from last.ckpt; finished evaluations are kept, unfinished ones resume).
set -euo pipefail
cd "$(dirname "$0")/.."
for mode in natural pgd ig_sum_norm; do
  robattr-train fit --config "configs/mnist5k/reproduction/${mode}.yaml" --ckpt_path last \
    --trainer.enable_progress_bar false --trainer.enable_model_summary false
  out="results/mnist5k_${mode}_reproduction"
  [[ -f "${out}/results.json" ]] && continue
  robattr-evaluate --config configs/eval/mnist5k_reproduction.yaml \
    --model.init_args.checkpoint "checkpoints/mnist5k_${mode}_reproduction/last.ckpt" \
    --model.init_args.output_dir "${out}" \
    --trainer.logger.init_args.name "eval_mnist5k_${mode}_reproduction" --trainer.enable_progress_bar false
done
python scripts/results_table.py results/mnist5k_{natural,pgd,ig_sum_norm}_reproduction/results.json
python scripts/results_table.py results/mnist5k_{natural,pgd,ig_sum_norm}_reproduction/results.json --failed failed_excluded
