"""TensorBoard views of a training run, refreshed at every validation epoch (step = epoch): fixed test
windows, fixed pseudo-anomalous clips, score timelines and histograms, the HParams row, learning rate and
memory.

Someone watching a sweep wants to see, without opening files, whether the model learns *not to
reconstruct* and which cell is ahead. Each view is one ``callbacks`` entry with one job, and all of them
reuse what validation already computed: the batches and the reconstructed centre frames the hooks hand
them, the module's logged values and its :attr:`~lnra.method.module.LnraModule.evaluation`. They write only
where the run has a TensorBoard logger, and only on rank 0."""
