"""Conversations: each run's period, scope and intent; regenerated and edited answers; share links.

Runs finished before this revision have no stored scope: a follow-up to one of them starts from the
whole organisation and all stored usage, as every question did then.

Revision ID: 0008
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch_op:
        batch_op.add_column(sa.Column('period_from', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('period_to', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('scope', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('intent', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('regenerates', sa.String(length=40), nullable=True))
    with op.batch_alter_table('messages') as batch_op:
        batch_op.add_column(sa.Column('edits', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('regenerates', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('superseded_by', sa.String(length=40), nullable=True))
    op.create_table(
        'shares',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('token_sealed', sa.Text(), nullable=True),
        sa.Column('run_id', sa.String(length=40), nullable=False),
        sa.Column('thread_id', sa.String(length=40), nullable=False),
        sa.Column('user_id', sa.String(length=40), nullable=False),
        sa.Column('org_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_shares_run_id', 'shares', ['run_id'])
    op.create_index('ix_shares_thread_id', 'shares', ['thread_id'])
    op.create_index('ix_shares_user_created', 'shares', ['user_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_shares_user_created', table_name='shares')
    op.drop_index('ix_shares_thread_id', table_name='shares')
    op.drop_index('ix_shares_run_id', table_name='shares')
    op.drop_table('shares')
    with op.batch_alter_table('messages') as batch_op:
        batch_op.drop_column('superseded_by')
        batch_op.drop_column('regenerates')
        batch_op.drop_column('edits')
    with op.batch_alter_table('runs') as batch_op:
        batch_op.drop_column('regenerates')
        batch_op.drop_column('intent')
        batch_op.drop_column('scope')
        batch_op.drop_column('period_to')
        batch_op.drop_column('period_from')
