"""The API's documented shapes (OpenAPI), and how a database row becomes one."""

from datetime import datetime
from typing import Optional
from urllib.parse import quote

from pydantic import BaseModel, Field

from ccdphot.server.models import as_utc

API_PREFIX = "/api/v1"


def target_url(target):
    return f"{API_PREFIX}/targets/{quote(target.name, safe='')}"


class PointOut(BaseModel):
    """The calibrated point of one frame, or its upper limit."""

    calibrated: bool = Field(description="false when the frame could not be calibrated "
                                         "(reason in `reason`)")
    detected: Optional[bool] = None
    is_upper_limit: bool = Field(description="mag_cal is the 5-sigma limiting magnitude")
    mag_cal: Optional[float] = Field(None, description="calibrated magnitude or limit [mag]")
    magerr_cal: Optional[float] = Field(None, description="its error [mag]")
    band: Optional[str] = None
    system: Optional[str] = None
    bjd_tdb: Optional[float] = Field(None, description="mid-exposure BJD_TDB of the target [d]")
    jd_utc: Optional[float] = Field(None, description="mid-exposure JD (UTC) [d]")
    exptime_s: Optional[float] = None
    airmass: Optional[float] = None
    filter: Optional[str] = Field(None, description="the frame's standardised FILTER")
    telescope: Optional[str] = None
    zp_mag: Optional[float] = Field(None, description="zero point [mag]")
    zp_err_mag: Optional[float] = Field(None, description="its error [mag]")
    zp_scatter_mag: Optional[float] = Field(None, description="robust scatter of the "
                                                              "calibration stars [mag]")
    zp_n_stars: Optional[int] = Field(None, description="calibration stars used")
    zp_outlier_fraction: Optional[float] = None
    zp_quality: Optional[str] = Field(None, description="good or poor")
    zp_quality_reasons: list[str] = []
    reason: Optional[str] = Field(None, description="why the frame is not calibrated")
    note: Optional[str] = None

    @classmethod
    def of(cls, point):
        record = point.record or {}
        return cls(calibrated=point.calibrated, detected=record.get("detected"),
                   is_upper_limit=point.is_upper_limit, mag_cal=point.mag,
                   magerr_cal=point.mag_err, band=point.band, system=point.system,
                   bjd_tdb=point.bjd_tdb, jd_utc=point.jd_utc, exptime_s=point.exptime_s,
                   airmass=point.airmass, filter=point.filter, telescope=point.telescope,
                   zp_mag=point.zp_mag, zp_err_mag=point.zp_err_mag,
                   zp_scatter_mag=point.zp_scatter_mag, zp_n_stars=point.zp_n_stars,
                   zp_outlier_fraction=point.zp_outlier_fraction,
                   zp_quality=point.zp_quality,
                   zp_quality_reasons=record.get("zp_quality_reasons") or [],
                   reason=record.get("zp_skipped_reason"), note=record.get("note"))


class JobOut(BaseModel):
    """One upload and the job that calibrates it."""

    id: str
    status: str = Field(description="queued, processing, done or failed")
    frame_status: Optional[str] = Field(None, description="the engine's status of the frame")
    error: Optional[str] = None
    target: str
    observer: str
    file_name: str = Field(description="the name it was uploaded with (display only)")
    sha256: str
    size_bytes: int
    profile: Optional[str] = None
    filter: Optional[str] = Field(None, description="the forced filter, if one was given")
    attempts: int
    received_utc: datetime
    started_utc: Optional[datetime] = None
    finished_utc: Optional[datetime] = None
    point: Optional[PointOut] = None
    links: dict[str, str]

    @classmethod
    def of(cls, upload):
        base = f"{API_PREFIX}/jobs/{upload.id}"
        return cls(id=upload.id, status=upload.status, frame_status=upload.frame_status,
                   error=upload.error, target=upload.target.name,
                   observer=upload.observer.name, file_name=upload.file_name,
                   sha256=upload.sha256, size_bytes=upload.size_bytes, profile=upload.profile,
                   filter=upload.forced_filter, attempts=upload.attempts,
                   received_utc=as_utc(upload.received_utc),
                   started_utc=as_utc(upload.started_utc),
                   finished_utc=as_utc(upload.finished_utc),
                   point=PointOut.of(upload.point) if upload.point is not None else None,
                   links={"self": base, "log": f"{base}/log", "point": f"{base}/point",
                          "products": f"{base}/products",
                          "lightcurve": f"{target_url(upload.target)}/lightcurve"})


class UploadOut(BaseModel):
    """The answer to an upload: its job, or for a dry run what the checks found."""

    dry_run: bool
    duplicate: bool = Field(description="this file was uploaded for this target before: "
                                        "the job is that upload's")
    job: Optional[JobOut] = None
    frame: dict = Field(description="the checked frame: HDU, size, header values, SHA-256")
    target: dict = Field(description="the target as the job uses it (known or new)")


class TargetOut(BaseModel):
    name: str
    ra_deg: float
    dec_deg: float
    public: bool
    n_points: int = 0
    links: dict[str, str] = {}

    @classmethod
    def of(cls, target, n_points=0):
        base = target_url(target)
        return cls(name=target.name, ra_deg=target.ra_deg, dec_deg=target.dec_deg,
                   public=target.public, n_points=n_points,
                   links={"lightcurve": f"{base}/lightcurve", "plot": f"{base}/lightcurve.png",
                          "page": f"/targets/{quote(target.name, safe='')}"})


class TargetIn(BaseModel):
    name: str
    ra: str = Field(description="degrees, or sexagesimal hours")
    dec: str = Field(description="degrees, or sexagesimal degrees")
    public: Optional[bool] = Field(None, description="default: the server's setting")


class TargetChange(BaseModel):
    public: bool


class ObserverIn(BaseModel):
    name: str
    admin: bool = False


class ObserverOut(BaseModel):
    name: str
    is_admin: bool
    token: Optional[str] = Field(None, description="shown once, when the observer is made")


class ProductOut(BaseModel):
    name: str
    size_bytes: int
    url: str


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
    workers: int
    queued: int
    processing: int
    cluster_error: Optional[str] = None
