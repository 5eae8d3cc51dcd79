"""What ``train.py`` and ``evaluate.py`` call."""
