"""Offline tools on trained checkpoints and finished runs: ``lnra-detect``, ``lnra-export``, ``lnra-report``,
``lnra-hparams`` (also ``python -m lnra.tools.<name>``)."""
