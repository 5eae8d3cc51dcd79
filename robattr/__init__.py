"""robattr: robustness of model attributions on PyTorch Lightning.

Subpackages follow the data flow ``data -> models -> attribution -> attacks -> metrics -> training / evaluation``:

- :mod:`robattr.data`: LightningDataModules, inputs always in ``[0, 1]``;
- :mod:`robattr.models`: classifiers (normalisation inside the model) and the softplus surrogate swap;
- :mod:`robattr.attribution`: batched, differentiable attribution methods;
- :mod:`robattr.attacks`: PGD and attacks on attributions;
- :mod:`robattr.metrics`: attribution-robustness and faithfulness metrics (torchmetrics);
- :mod:`robattr.training`: LightningModules for natural, PGD and RAR training;
- :mod:`robattr.evaluation`: the jobs of ``evaluate.py`` (attribution robustness, faithfulness, map pictures);
- :mod:`robattr.neurons`: Network Dissection and its corruption.
"""

__version__ = "0.1.0"
