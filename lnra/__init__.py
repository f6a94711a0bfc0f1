"""lnra: Learning Not to Reconstruct Anomalies, on PyTorch Lightning and Hydra."""

__version__ = "0.1.0"

# Every way into Hydra (run.py, the compose API in tests, a launcher's job process) imports lnra first, so
# registering here means every composition starts from the run's settings and finds lnra's resolvers.
from lnra.run.settings import register  # noqa: E402

register()
