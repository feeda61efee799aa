"""Fixtures that start the NetSuite sandbox in-process."""
