"""Options, declared once: the signatures of the classes the config builds (:mod:`lnra.config.options`),
checked all at once before a run (:mod:`lnra.config.check`), and listed for ``--help`` and
``docs/options.md`` (:mod:`lnra.config.reference`). Free of torch, so ``--help`` answers at once."""
