"""The table of rights itself: roles nest viewer < analyst < admin, public actions are everyone's, unknown ones fail."""

from __future__ import annotations

import pytest

from spendpilot.auth.permissions import ACTIONS, PUBLIC, Role, UnknownAction, allowed


def test_each_role_has_every_right_of_the_role_below_it():
    for action in ACTIONS:
        rights = [allowed(role, action) for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN)]
        assert rights == sorted(rights), action  # False before True: a higher role never has less


@pytest.mark.parametrize("role", list(Role))
def test_a_public_action_is_allowed_to_every_role(role):
    assert allowed(role, PUBLIC) is True


def test_an_unknown_action_or_role_is_refused_loudly():
    with pytest.raises(UnknownAction):
        allowed(Role.ADMIN, "usage.delete_everything")
    with pytest.raises(ValueError):
        allowed("owner", "usage.read")
