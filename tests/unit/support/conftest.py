"""Fixtures for the fake providers' own tests: imported here, as any test package can do to use them."""

from tests.support.fake_providers import fake_providers, unreachable_upstream_url

__all__ = ["fake_providers", "unreachable_upstream_url"]
