"""The method itself: the 3D-convolutional autoencoder, the LightningModule with its loss, and the scoring of
test windows (frame-level AUC and the pixel-level localisation metrics). Nothing here knows about run
folders, consoles or offline tools."""
