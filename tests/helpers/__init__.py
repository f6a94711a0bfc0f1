"""What several test files share: paths and tiny settings, generated data, the paper's reference
autoencoder, schema walks. Imported as ``helpers.<module>`` (pytest puts ``tests/`` on the path)."""
