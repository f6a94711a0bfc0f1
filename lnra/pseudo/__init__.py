"""Pseudo anomalies (docs/method.md §3-§5); ``kinds`` and ``skip`` import no torch: ``--help`` reads them."""
