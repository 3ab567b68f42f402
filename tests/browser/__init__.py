"""The real-browser test of /admin (a package, so its conftest never shadows tests/sdk/conftest.py)."""
