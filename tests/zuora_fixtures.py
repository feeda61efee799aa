"""Fixtures that start the Zuora sandbox in-process."""
