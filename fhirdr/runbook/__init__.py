"""Runbooks: the model, loading and validation, the runner and the journal."""
