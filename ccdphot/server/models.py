"""The server's database tables: observers, targets, uploads (jobs) and points.

The schema is created and changed only by the Alembic migrations in
``migrations/versions`` (one revision per change); these classes describe it
for the queries. Times are UTC.
"""

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Job statuses: accepted and waiting, sent to the cluster, finished (the engine ran
# and wrote its products, whatever the frame's own status), failed (no products).
QUEUED, PROCESSING, DONE, FAILED = "queued", "processing", "done", "failed"
PENDING_STATUSES = (QUEUED, PROCESSING)


def utc_now():
    return datetime.now(timezone.utc)


def as_utc(moment):
    """A stored time as an aware UTC datetime (SQLite returns naive ones)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


class Observer(Base):
    """Someone who uploads frames; known by an API token kept only as its hash."""

    __tablename__ = "observers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Target(Base):
    """An object whose light curve the server builds; ``key`` is its normalised name."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100), unique=True)
    ra_deg: Mapped[float] = mapped_column(Float)
    dec_deg: Mapped[float] = mapped_column(Float)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("observers.id"))
    created_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Upload(Base):
    """One uploaded frame for one target: the job that calibrates it.

    The frame is stored under its SHA-256 (``frames/<sha256>.fits``); the name
    the observer gave it is kept for display only. The same file for the same
    target is one upload (a re-upload is recognised, not processed twice).
    """

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("sha256", "target_id", name="uq_upload_file_target"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    observer_id: Mapped[int] = mapped_column(ForeignKey("observers.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    profile: Mapped[str] = mapped_column(String(100), nullable=True)
    forced_filter: Mapped[str] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=QUEUED)
    frame_status: Mapped[str] = mapped_column(Text, nullable=True)
    error: Mapped[str] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    started_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_utc: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=True)

    observer: Mapped[Observer] = relationship()
    target: Mapped[Target] = relationship()
    point: Mapped["Point"] = relationship(back_populates="upload", uselist=False,
                                          cascade="all, delete-orphan")


class Point(Base):
    """The calibrated point (or upper limit) of one processed upload.

    Copied from the frame's products when its job ends, so that light curves
    are queries; ``record`` keeps the whole target record of the products.
    """

    __tablename__ = "points"

    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"),
                                           primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"), index=True)
    calibrated: Mapped[bool] = mapped_column(Boolean)
    is_upper_limit: Mapped[bool] = mapped_column(Boolean, default=False)
    mag: Mapped[float] = mapped_column(Float, nullable=True)
    mag_err: Mapped[float] = mapped_column(Float, nullable=True)
    band: Mapped[str] = mapped_column(String(20), nullable=True)
    system: Mapped[str] = mapped_column(String(40), nullable=True)
    bjd_tdb: Mapped[float] = mapped_column(Float, nullable=True)
    jd_utc: Mapped[float] = mapped_column(Float, nullable=True)
    exptime_s: Mapped[float] = mapped_column(Float, nullable=True)
    airmass: Mapped[float] = mapped_column(Float, nullable=True)
    filter: Mapped[str] = mapped_column(String(40), nullable=True)
    telescope: Mapped[str] = mapped_column(String(200), nullable=True)
    zp_mag: Mapped[float] = mapped_column(Float, nullable=True)
    zp_err_mag: Mapped[float] = mapped_column(Float, nullable=True)
    zp_scatter_mag: Mapped[float] = mapped_column(Float, nullable=True)
    zp_n_stars: Mapped[int] = mapped_column(Integer, nullable=True)
    zp_outlier_fraction: Mapped[float] = mapped_column(Float, nullable=True)
    zp_quality: Mapped[str] = mapped_column(String(20), nullable=True)
    record: Mapped[dict] = mapped_column(JSON)

    upload: Mapped[Upload] = relationship(back_populates="point")
