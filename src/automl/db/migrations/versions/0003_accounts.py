"""accounts: users, sessions, the first-admin setup link, scoped tokens, the audit log, who created what

API keys become scoped tokens: existing keys keep working as `predict` tokens with no owner. Rows created
before accounts existed have no creator (only an admin may delete them once authentication is on).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 07:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from automl.db.base import UTCDateTime

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
OWNED = (('datasets', 'created_by_id', True), ('experiments', 'created_by_id', True),
         ('trained_models', 'created_by_id', False), ('trained_models', 'deployed_by_id', False),
         ('batch_predictions', 'created_by_id', False))


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_login_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('disabled_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
        sa.UniqueConstraint('username', name=op.f('uq_users_username')),
    )
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash')),
    )
    op.create_index(op.f('ix_user_sessions_user_id'), 'user_sessions', ['user_id'], unique=False)
    op.create_table(
        'setup_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_setup_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_setup_tokens_token_hash')),
    )
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('object', sa.String(length=255), nullable=True),
        sa.Column('client', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )
    op.create_index(op.f('ix_audit_events_at'), 'audit_events', ['at'], unique=False)
    op.create_index(op.f('ix_audit_events_actor'), 'audit_events', ['actor'], unique=False)
    op.create_index('ix_audit_events_action_at', 'audit_events', ['action', 'at'], unique=False)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', JSON, nullable=True))
        batch_op.add_column(sa.Column('model_ids', JSON, nullable=True))
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_keys_user_id'), ['user_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_user_id_users'), 'users', ['user_id'], ['id'],
                                    ondelete='CASCADE')
    keys = sa.table('api_keys', sa.column('scopes', JSON))
    op.execute(sa.update(keys).values(scopes=['predict']))
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=JSON, nullable=False)
    for table, column, indexed in OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
            if indexed:
                batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_{column}_users'), 'users', [column], ['id'],
                                        ondelete='SET NULL')


def downgrade() -> None:
    for table, column, indexed in reversed(OWNED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_{column}_users'), type_='foreignkey')
            if indexed:
                batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
            batch_op.drop_column(column)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_keys_user_id'))
        for column in ('expires_at', 'user_id', 'model_ids', 'scopes'):
            batch_op.drop_column(column)
    op.drop_table('audit_events')
    op.drop_table('setup_tokens')
    op.drop_table('user_sessions')
    op.drop_table('users')
