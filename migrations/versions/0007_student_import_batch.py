"""student.import_batch: the roster import that added a student

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('student', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_batch', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_student_import_batch'), ['import_batch'], unique=False)


def downgrade():
    with op.batch_alter_table('student', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_student_import_batch'))
        batch_op.drop_column('import_batch')
