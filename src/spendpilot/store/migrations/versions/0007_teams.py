"""Teams: memberships with roles, invitations, password resets, sessions per org, the audit log.

Every existing user becomes the admin of the organisation they signed up with, and every
existing sign-in (token family) belongs to that organisation.

Revision ID: 0007
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'memberships',
        sa.Column('org_id', sa.String(length=40), nullable=False),
        sa.Column('user_id', sa.String(length=40), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('org_id', 'user_id'),
    )
    op.create_index('ix_memberships_user_id', 'memberships', ['user_id'])
    op.execute("INSERT INTO memberships (org_id, user_id, role, created_at) "
               "SELECT org_id, id, 'admin', created_at FROM users")

    op.create_table(
        'invitations',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('org_id', sa.String(length=40), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('invited_by', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('accepted_by', sa.String(length=40), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_invitations_org_id', 'invitations', ['org_id'])

    op.create_table(
        'password_resets',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_password_resets_user_id', 'password_resets', ['user_id'])

    op.create_table(
        'audit_log',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('org_id', sa.String(length=40), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.String(length=40), nullable=True),
        sa.Column('actor_email', sa.String(length=320), nullable=False),
        sa.Column('action', sa.String(length=60), nullable=False),
        sa.Column('target_type', sa.String(length=40), nullable=False),
        sa.Column('target_id', sa.String(length=200), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_org_at', 'audit_log', ['org_id', 'at', 'id'])

    with op.batch_alter_table('token_families') as batch_op:
        batch_op.add_column(sa.Column('org_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('ip', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE token_families SET org_id = "
               "(SELECT users.org_id FROM users WHERE users.id = token_families.user_id)")
    with op.batch_alter_table('token_families') as batch_op:
        batch_op.alter_column('org_id', existing_type=sa.String(length=40), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('token_families') as batch_op:
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('ip')
        batch_op.drop_column('user_agent')
        batch_op.drop_column('org_id')
    op.drop_index('ix_audit_org_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_password_resets_user_id', table_name='password_resets')
    op.drop_table('password_resets')
    op.drop_index('ix_invitations_org_id', table_name='invitations')
    op.drop_table('invitations')
    op.drop_index('ix_memberships_user_id', table_name='memberships')
    op.drop_table('memberships')
