"""Offline command-line tools that use a trained checkpoint or finished runs: ``python -m lnra.tools.detect``,
``lnra.tools.export``, ``lnra.tools.report`` and ``run.py task=preview``'s drawing."""
