"""Test support: real servers in subprocesses and small protocol clients."""
