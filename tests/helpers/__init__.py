"""What several test files share, one module per kind: ``paths`` (where things are, the tiny dataset and
the fast-run overrides), ``runner`` (``python run.py`` in a child process), ``fork_server`` (many commands
for one start-up), ``data`` (small videos on disk), ``releases`` (tiny official dataset releases),
``checkpoints`` (the paper's state-dict format), ``reference_ae`` (the paper's autoencoder from its layer
table) and ``schema`` (walks over a composed config). Imported as ``helpers.<module>`` from every test
folder (``pythonpath`` in pyproject.toml)."""
