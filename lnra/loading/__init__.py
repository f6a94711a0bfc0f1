"""From frame caches to the batches the module reads: the one LightningDataModule, its samplers and its
batch types. It sits above ``data/`` (frames, caches, labels) and ``pseudo/`` (whose anomalies it
applies to a training batch on its device), so neither of those needs to know it."""
