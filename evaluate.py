#!/usr/bin/env python
"""Evaluate attributions (attacks x methods x metrics) or neuron explanations. See ``python evaluate.py --help``."""

from robattr.cli.evaluate import main

if __name__ == "__main__":
    main()
