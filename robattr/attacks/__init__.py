"""Attacks: one PGD loop over L-inf / L2 steps, and attacks on attributions."""

from robattr.attacks.pgd import PGD, STEPS, L2Step, LinfStep, cross_entropy_loss

__all__ = ["PGD", "STEPS", "L2Step", "LinfStep", "cross_entropy_loss"]
