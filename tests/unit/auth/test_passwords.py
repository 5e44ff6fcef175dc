"""Passwords: argon2id hashes that verify only the right password, and the length rules."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from spendpilot.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, password_problem, verify_password

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
async def stored() -> str:
    return await hash_password(PASSWORD)


async def test_a_hash_is_argon2id_salted_and_not_the_password(stored):
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert await hash_password(PASSWORD) != stored  # a fresh salt each time


async def test_only_the_right_password_verifies(stored):
    assert await verify_password(stored, PASSWORD) is True
    assert await verify_password(stored, PASSWORD + " ") is False
    assert await verify_password(stored, "") is False


async def test_an_account_without_a_password_or_with_a_broken_hash_never_verifies():
    # None: an OAuth-only account (or none at all); verified against a dummy hash so timing tells nothing.
    assert await verify_password(None, "not-a-real-password") is False
    assert await verify_password("not a hash", PASSWORD) is False
    assert await verify_password("$argon2id$v=19$m=1,t=1,p=1$bad", PASSWORD) is False


async def test_a_hash_made_with_other_parameters_still_verifies():
    older = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    assert await verify_password(older, PASSWORD) is True


@pytest.mark.parametrize(("password", "problem"), [
    ("", True), ("x" * (MIN_PASSWORD_LENGTH - 1), True), ("x" * MIN_PASSWORD_LENGTH, False),
    ("x" * 1024, False), ("x" * 1025, True), ("ünïcødé!", False),
])
def test_password_problem_enforces_the_length_bounds(password, problem):
    found = password_problem(password)
    assert (found is not None) is problem
    if problem:
        assert "characters" in found
