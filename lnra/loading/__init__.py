"""From frame caches to the batches the module reads: the LightningDataModule, its samplers and batches."""
