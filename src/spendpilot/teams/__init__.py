"""Organisations and their people: memberships with roles, invitations, removal, the last admin kept."""
