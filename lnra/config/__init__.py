"""Options, declared once in the signatures of the classes the config builds, checked all at once before a
run and listed for ``--help`` and ``docs/options.md``; free of torch, so ``--help`` answers at once."""
