"""Network Dissection and its corruption (Srivastava et al., ICCV 2023: "Corrupting Neuron Explanations").

Data flow: a Broden-format probing set (:mod:`robattr.data.broden`, or the generated one of
:mod:`robattr.data.broden_synthetic`) -> a model and a layer (:class:`LayerActivations`) -> exact streaming thresholds
(:mod:`robattr.neurons.quantile`) -> IoU with the category gate (:mod:`robattr.neurons.iou`) ->
:class:`DissectionResult`. Corruptions write replaced images (:mod:`robattr.neurons.storage`): random noise
(:class:`NoiseCorruption`) and crafted PGD attacks (:class:`ConceptAttack`, :class:`UnitAttack`,
:class:`ExemplarAttack`); :mod:`robattr.neurons.comparison` compares explanations, :mod:`robattr.neurons.jobs` runs
jobs into output directories checked by :mod:`robattr.neurons.outputs`.
"""

from robattr.neurons.attacks import ConceptAttack, ExemplarAttack, ProbingAttack, UnitAttack, activation_shift_loss
from robattr.neurons.comparison import (
    attack_success,
    changed_fraction,
    corruption_summary,
    exemplar_overlap,
    iou_change,
)
from robattr.neurons.dissection import DissectionResult, NetworkDissection
from robattr.neurons.exemplars import Exemplars, compute_exemplars
from robattr.neurons.hooks import LayerActivations, resolve_layer
from robattr.neurons.iou import IoUTally, assign_concepts, iou_from_counts
from robattr.neurons.jobs import classification_accuracy, run_attack, run_dissect, run_noise
from robattr.neurons.noise import NoiseCorruption
from robattr.neurons.quantile import StreamingQuantile
from robattr.neurons.storage import Poisoning

__all__ = [
    "ConceptAttack",
    "DissectionResult",
    "ExemplarAttack",
    "Exemplars",
    "IoUTally",
    "LayerActivations",
    "NetworkDissection",
    "NoiseCorruption",
    "Poisoning",
    "ProbingAttack",
    "StreamingQuantile",
    "UnitAttack",
    "activation_shift_loss",
    "assign_concepts",
    "attack_success",
    "changed_fraction",
    "classification_accuracy",
    "compute_exemplars",
    "corruption_summary",
    "exemplar_overlap",
    "iou_change",
    "iou_from_counts",
    "resolve_layer",
    "run_attack",
    "run_dissect",
    "run_noise",
]
