#!/usr/bin/env python
"""Train a classifier: natural, PGD (Madry), IG-NORM or IG-SUM-NORM (RAR). See ``python train.py --help``."""

from robattr.cli.train import main

if __name__ == "__main__":
    main()
