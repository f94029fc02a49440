"""The Abalone (or any configured tabular regression) pipeline: definition, preprocess and evaluate scripts."""
