"""The embedded development and test stack."""
