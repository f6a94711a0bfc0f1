"""The method: the 3D-convolutional autoencoder, its LightningModule and losses, and the scoring of test
windows (frame AUC, pixel localisation); nothing here knows about run folders, consoles or offline tools."""
