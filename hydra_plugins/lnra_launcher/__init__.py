"""lnra's Hydra launcher plug-in: ``hydra/launcher=gpu_pool`` runs sweep jobs in parallel, one GPU each."""
