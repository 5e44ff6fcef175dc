"""Golden-path verifier and load benchmark that speak only the public spendpilot.v1 interface."""

from spendpilot.verify.bench import abench, bench
from spendpilot.verify.runner import CHECK_NAMES, averify, verify

__all__ = ["CHECK_NAMES", "abench", "averify", "bench", "verify"]
