"""IoU with the category gate: a hand-computed two-image case and a plain-loop transcription of the reference."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from robattr.neurons.iou import IoUTally, assign_concepts, iou_from_counts

# labels: 1 red (color), 2 blue (color), 3 indoor (scene); categories: 0 color, 1 scene
PRIMARY = torch.tensor([-1, 0, 0, 1])


def _two_images() -> tuple[torch.Tensor, torch.Tensor]:
    acts = torch.zeros(2, 1, 2, 2)
    acts[0, 0, :, 0] = 1.0  # image A: the unit fires on the left column
    acts[1, 0, 1, 1] = 1.0  # image B: on the bottom-right pixel
    planes = torch.zeros(2, 2, 2, 2, dtype=torch.long)
    planes[0, 0] = torch.tensor([[1, 1], [2, 0]])  # A colour plane: red on top, blue bottom-left
    planes[0, 1] = 3  # A scene: indoor (image-level label, expanded)
    planes[1, 0] = torch.tensor([[2, 2], [0, 0]])  # B colour plane: blue on top; B has no scene
    return acts, planes


def test_hand_computed_two_image_case():
    acts, planes = _two_images()
    tally = IoUTally(1, PRIMARY, 2)
    tally.update(acts, planes, torch.tensor([0.5]))
    # N: red 2, blue 1 + 2, indoor 4. I: red 1, blue 1 (A), indoor 2.
    assert tally.label_count[1:].tolist() == [2, 3, 4]
    assert tally.intersection.tolist() == [[0, 1, 1, 2]]
    # gate: A's mask (2 px) touches colour and scene; B's (1 px) touches nothing labelled
    assert tally.unit_category.tolist() == [[2, 2]]
    iou = iou_from_counts(tally.intersection, tally.unit_category, tally.label_count, PRIMARY)
    expected = [0.0, 1 / (2 + 2 - 1), 1 / (2 + 3 - 1), 2 / (2 + 4 - 2)]
    torch.testing.assert_close(iou[0], torch.tensor(expected, dtype=torch.float64))
    concepts = assign_concepts(iou, PRIMARY, 2)
    assert concepts.label.tolist() == [3] and concepts.category.tolist() == [1]
    assert concepts.category_label.tolist() == [[1, 3]]


def test_batches_accumulate_to_the_whole():
    acts, planes = _two_images()
    whole, split = IoUTally(1, PRIMARY, 2), IoUTally(1, PRIMARY, 2)
    whole.update(acts, planes, torch.tensor([0.5]))
    for i in range(2):
        split.update(acts[i : i + 1], planes[i : i + 1], torch.tensor([0.5]))
    for name in ("intersection", "unit_category", "label_count", "unit_count"):
        assert torch.equal(getattr(whole, name), getattr(split, name))


def test_strict_threshold_and_overlapping_planes_count_per_plane():
    acts = torch.full((1, 1, 2, 2), 0.5)
    planes = torch.ones(1, 2, 2, 2, dtype=torch.long)  # two planes labelling the same pixels with label 1
    tally = IoUTally(1, torch.tensor([-1, 0]), 1)
    tally.update(acts, planes, torch.tensor([0.5]))  # equal to the threshold: not above it
    assert tally.intersection.sum() == 0 and tally.label_count.tolist() == [0, 8]
    tally.update(acts, planes, torch.tensor([0.4]))
    assert tally.intersection.tolist() == [[0, 8]] and tally.unit_count.tolist() == [4]


def _reference_tally(acts, planes, thresholds, primary, n_categories):
    """NetDissect-Lite's tally loop, transcribed per image and per unit with numpy."""
    K, L = acts.shape[1], primary.numel()
    inter, unit_cat, label_count = (
        np.zeros((K, L), np.int64),
        np.zeros((K, n_categories), np.int64),
        np.zeros(L, np.int64),
    )
    labelcat = np.zeros((L, n_categories), np.int64)
    for c in range(L):
        if primary[c] >= 0:
            labelcat[c, primary[c]] = 1
    size = planes.shape[-2:]
    for x in range(acts.shape[0]):
        p = planes[x].numpy()
        label_count += np.bincount(p.ravel(), minlength=L)
        for k in range(K):
            up = F.interpolate(acts[x, k][None, None], size=size, mode="bilinear", align_corners=False)[0, 0].numpy()
            mask = up > float(thresholds[k])
            both = np.zeros(L, np.int64)
            for q in range(p.shape[0]):
                both += np.bincount(p[q][mask], minlength=L)
            both[0] = 0
            inter[k] += both
            unit_cat[k] += mask.sum() * (both @ labelcat > 0)
    return inter, unit_cat, label_count


def test_matches_the_reference_loop_with_resizing():
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(5, 4, 3, 3, generator=g)
    planes = torch.randint(0, 6, (5, 3, 8, 8), generator=g)
    planes[:, 2] = planes[:, 2, :1, :1]  # an image-level plane
    primary = torch.tensor([-1, 0, 0, 1, -1, 2])
    thresholds = torch.tensor([0.5, 1.0, -0.2, 3.0])
    tally = IoUTally(4, primary, 3)
    tally.update(acts, planes, thresholds)
    inter, unit_cat, label_count = _reference_tally(acts, planes, thresholds, primary, 3)
    assert tally.intersection.numpy().tolist() == inter.tolist()
    assert tally.unit_category.numpy().tolist() == unit_cat.tolist()
    assert tally.label_count.numpy().tolist() == label_count.tolist()
