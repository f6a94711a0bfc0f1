"""lnra: Learning Not to Reconstruct Anomalies, on PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
