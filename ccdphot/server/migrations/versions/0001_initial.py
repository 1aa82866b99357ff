"""Initial schema: observers, targets, uploads, points.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc():
    return sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "observers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_utc", _utc(), nullable=False),
    )
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key", sa.String(100), nullable=False, unique=True),
        sa.Column("ra_deg", sa.Float, nullable=False),
        sa.Column("dec_deg", sa.Float, nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("observers.id"), nullable=False),
        sa.Column("created_utc", _utc(), nullable=False),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("observer_id", sa.Integer, sa.ForeignKey("observers.id"), nullable=False,
                  index=True),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False,
                  index=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("profile", sa.String(100)),
        sa.Column("forced_filter", sa.String(40)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("frame_status", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("received_utc", _utc(), nullable=False),
        sa.Column("started_utc", _utc()),
        sa.Column("finished_utc", _utc()),
        sa.UniqueConstraint("sha256", "target_id", name="uq_upload_file_target"),
    )
    op.create_table(
        "points",
        sa.Column("upload_id", sa.String(32),
                  sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False,
                  index=True),
        sa.Column("calibrated", sa.Boolean, nullable=False),
        sa.Column("is_upper_limit", sa.Boolean, nullable=False),
        sa.Column("mag", sa.Float),
        sa.Column("mag_err", sa.Float),
        sa.Column("band", sa.String(20)),
        sa.Column("system", sa.String(40)),
        sa.Column("bjd_tdb", sa.Float),
        sa.Column("jd_utc", sa.Float),
        sa.Column("exptime_s", sa.Float),
        sa.Column("airmass", sa.Float),
        sa.Column("filter", sa.String(40)),
        sa.Column("telescope", sa.String(200)),
        sa.Column("zp_mag", sa.Float),
        sa.Column("zp_err_mag", sa.Float),
        sa.Column("zp_scatter_mag", sa.Float),
        sa.Column("zp_n_stars", sa.Integer),
        sa.Column("zp_outlier_fraction", sa.Float),
        sa.Column("zp_quality", sa.String(20)),
        sa.Column("record", sa.JSON, nullable=False),
    )


def downgrade():
    for table in ("points", "uploads", "targets", "observers"):
        op.drop_table(table)
