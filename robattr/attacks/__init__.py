"""Attacks: one PGD loop over L-inf / L2 steps, and attacks on attribution maps behind one interface.

- :class:`PGD` with its :class:`LinfStep` / :class:`L2Step` (Madry et al., ICLR 2018);
- :class:`MapAttack`, the base of the attacks on attribution maps, returning an :class:`AttackResult`:
  :class:`AttributionAttack` (Ghorbani et al., AAAI 2019; Kamath et al., AAAI 2024; Chen et al., NeurIPS 2019) and
  :class:`RandomSignPerturbation`.
"""

from robattr.attacks.attribution_attacks import ATTACK_OBJECTIVES, AttributionAttack
from robattr.attacks.base import MEASURES, AttackResult, MapAttack, selection_measure
from robattr.attacks.pgd import PGD, STEPS, L2Step, LinfStep, Step, cross_entropy_loss
from robattr.attacks.random_sign import RandomSignPerturbation

__all__ = [
    "ATTACK_OBJECTIVES",
    "MEASURES",
    "PGD",
    "STEPS",
    "AttackResult",
    "AttributionAttack",
    "L2Step",
    "LinfStep",
    "MapAttack",
    "RandomSignPerturbation",
    "Step",
    "cross_entropy_loss",
    "selection_measure",
]
