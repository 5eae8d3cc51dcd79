"""Attacks: one PGD loop over L-inf / L2 steps, and attacks on attributions."""

from robattr.attacks.attribution_attacks import AttackResult, AttributionAttack, RandomSignPerturbation, center_of_mass
from robattr.attacks.pgd import PGD, STEPS, L2Step, LinfStep, cross_entropy_loss

__all__ = [
    "PGD",
    "STEPS",
    "AttackResult",
    "AttributionAttack",
    "L2Step",
    "LinfStep",
    "RandomSignPerturbation",
    "center_of_mass",
    "cross_entropy_loss",
]
