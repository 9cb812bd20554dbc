"""Reporters: text (rich), JSON and SARIF, all derived from the same ``Report``."""
