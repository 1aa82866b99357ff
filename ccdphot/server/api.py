"""The HTTP API, version 1 (``/api/v1``): uploads, jobs, points, light curves, products.

Handlers are plain functions run in the server's thread pool; what they do
is in the modules they call (uploads, access, lightcurve, ...). OpenAPI
documentation at ``/docs`` and ``/openapi.json``.
"""

import logging
from typing import Literal, Optional

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse, PlainTextResponse
from sqlalchemy import func, select

from ccdphot import __version__
from ccdphot.header.profiles import shipped_profiles
from ccdphot.plots.lightcurve import plot_lightcurve
from ccdphot.products import LOG_NAME
from ccdphot.server.access import (
    check_may_change,
    own_upload,
    readable_target,
    readable_targets,
)
from ccdphot.server.auth import create_observer
from ccdphot.server.errors import Conflict, NotFound
from ccdphot.server.lightcurve import (
    count_points,
    lightcurve_aavso,
    lightcurve_csv,
    lightcurve_json,
    lightcurve_table,
)
from ccdphot.server.models import PENDING_STATUSES, PROCESSING, QUEUED, Target, Upload
from ccdphot.server.schemas import (
    API_PREFIX,
    HealthOut,
    JobOut,
    ObserverIn,
    ObserverOut,
    PointOut,
    ProductOut,
    TargetChange,
    TargetIn,
    TargetOut,
    UploadOut,
)
from ccdphot.server.state import (
    get_session,
    get_state,
    optional_observer,
    require_admin,
    require_observer,
)
from ccdphot.server.uploads import UploadForm, accept_upload, check_form, find_target, target_key

log = logging.getLogger(__name__)

router = APIRouter(prefix=API_PREFIX)
ERRORS = {code: {"description": text, "content": {"application/json": {"example": {
    "detail": "one line saying what is wrong and what to do"}}}}
    for code, text in ((401, "no or unknown API token"), (403, "not allowed"),
                       (404, "not found (or not yours)"), (409, "conflict"),
                       (413, "upload too large"), (422, "invalid input"),
                       (429, "too many uploads"))}


def _errors(*codes):
    return {code: ERRORS[code] for code in codes}


@router.get("/health", response_model=HealthOut, tags=["server"])
def health(state=Depends(get_state), session=Depends(get_session)):
    """Whether the server, its database and its cluster are up, and the queue's length."""
    counts = dict(session.execute(select(Upload.status, func.count())
                                  .where(Upload.status.in_(PENDING_STATUSES))
                                  .group_by(Upload.status)).all())
    dispatcher = state.dispatcher
    return HealthOut(status="ok" if dispatcher.error is None else "degraded",
                     version=__version__, database=session.bind.dialect.name,
                     workers=dispatcher.n_workers, queued=counts.get(QUEUED, 0),
                     processing=counts.get(PROCESSING, 0), cluster_error=dispatcher.error)


@router.get("/profiles", response_model=list[str], tags=["server"])
def profiles():
    """The telescope profiles an upload may name (else the header is matched)."""
    return [profile.name for profile in shipped_profiles()]


@router.get("/observers/me", response_model=ObserverOut, tags=["observers"],
            responses=_errors(401))
def me(observer=Depends(require_observer)):
    return ObserverOut(name=observer.name, is_admin=observer.is_admin)


@router.post("/observers", response_model=ObserverOut, status_code=201, tags=["observers"],
             responses=_errors(401, 403, 409))
def add_observer(body: ObserverIn, _=Depends(require_admin), session=Depends(get_session)):
    """Add an observer (admins only); the answer holds its token, shown only this once."""
    observer, token = create_observer(session, body.name, body.admin)
    return ObserverOut(name=observer.name, is_admin=observer.is_admin, token=token)


@router.post("/uploads", response_model=UploadOut, status_code=202, tags=["uploads"],
             responses={200: {"description": "a dry run, or a re-upload of the same file for "
                                             "the same target (its existing job)"},
                        **_errors(401, 409, 413, 422, 429)})
def upload_frame(response: Response,
                 file: UploadFile = File(description="the FITS frame"),
                 target: str = Form(description="target name"),
                 ra: Optional[str] = Form(None, description="target RA (deg or hh:mm:ss); "
                                                            "needed for a new target"),
                 dec: Optional[str] = Form(None, description="target Dec (deg or dd:mm:ss)"),
                 profile: Optional[str] = Form(None, description="telescope profile (see "
                                                                 "/profiles); default: "
                                                                 "matched by the header"),
                 filter: Optional[str] = Form(None, description="force this FILTER"),
                 dry_run: bool = Form(False, description="only check; store nothing"),
                 observer=Depends(require_observer), state=Depends(get_state),
                 session=Depends(get_session)):
    """Upload a frame of a target: checked, stored durably and queued; returns its job.

    Acknowledged (202) only once the file and its record are on disk. A dry run
    checks the frame and the fields and stores nothing.
    """
    form = UploadForm(target=target, ra=ra, dec=dec, profile=profile, filter=filter,
                      dry_run=dry_run)
    accepted = accept_upload(state, session, observer, form, file.file, file.filename)
    if dry_run or accepted.duplicate:
        response.status_code = 200
    return UploadOut(dry_run=dry_run, duplicate=accepted.duplicate,
                     job=JobOut.of(accepted.upload) if accepted.upload is not None else None,
                     frame=accepted.frame, target=accepted.target)


@router.get("/jobs", response_model=list[JobOut], tags=["jobs"], responses=_errors(401))
def list_jobs(status: Optional[Literal["queued", "processing", "done", "failed"]] = None,
              limit: int = Query(100, ge=1, le=1000), observer=Depends(require_observer),
              session=Depends(get_session)):
    """Your uploads, newest first (an admin sees everyone's)."""
    query = select(Upload).order_by(Upload.received_utc.desc()).limit(limit)
    if not observer.is_admin:
        query = query.where(Upload.observer_id == observer.id)
    if status:
        query = query.where(Upload.status == status)
    return [JobOut.of(upload) for upload in session.scalars(query)]


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"], responses=_errors(401, 404))
def get_job(job_id: str, observer=Depends(require_observer), session=Depends(get_session)):
    """Status of one of your jobs, with its point once done."""
    return JobOut.of(own_upload(session, observer, job_id))


@router.get("/jobs/{job_id}/point", response_model=PointOut, tags=["jobs"],
            responses=_errors(401, 404))
def get_point(job_id: str, observer=Depends(require_observer), session=Depends(get_session)):
    """The calibrated point (or upper limit) of one of your jobs."""
    upload = own_upload(session, observer, job_id)
    if upload.point is None:
        raise NotFound(f"job {job_id} has no point ({upload.status}"
                       f"{': ' + upload.error if upload.error else ''})")
    return PointOut.of(upload.point)


@router.get("/jobs/{job_id}/log", response_class=PlainTextResponse, tags=["jobs"],
            responses=_errors(401, 404))
def get_log(job_id: str, observer=Depends(require_observer), state=Depends(get_state),
            session=Depends(get_session)):
    """The frame's step-by-step log (as far as it has been written)."""
    upload = own_upload(session, observer, job_id)
    path = state.store.frame_results(upload.id) / LOG_NAME
    header = f"# job {upload.id}: {upload.status}" + \
        (f" ({upload.frame_status})" if upload.frame_status else "") + "\n"
    try:
        return header + path.read_text(errors="replace")
    except FileNotFoundError:
        return header + "# the frame has not started yet\n"


def _products(state, upload):
    folder = state.store.frame_results(upload.id)
    if not folder.is_dir():
        return {}
    return {path.name: path for path in sorted(folder.iterdir())
            if path.is_file() and not path.name.startswith(".")}


@router.get("/jobs/{job_id}/products", response_model=list[ProductOut], tags=["jobs"],
            responses=_errors(401, 404))
def list_products(job_id: str, observer=Depends(require_observer), state=Depends(get_state),
                  session=Depends(get_session)):
    """The frame's products (photometry.ecsv, run.json, target.json, plots, log)."""
    upload = own_upload(session, observer, job_id)
    return [ProductOut(name=name, size_bytes=path.stat().st_size,
                       url=f"{API_PREFIX}/jobs/{job_id}/products/{name}")
            for name, path in _products(state, upload).items()]


@router.get("/jobs/{job_id}/products/{name}", response_class=FileResponse, tags=["jobs"],
            responses=_errors(401, 404))
def get_product(job_id: str, name: str, observer=Depends(require_observer),
                state=Depends(get_state), session=Depends(get_session)):
    """Download one product by its name in the list (no other name is served)."""
    upload = own_upload(session, observer, job_id)
    path = _products(state, upload).get(name)
    if path is None:
        raise NotFound(f"job {job_id} has no product {name!r}; see its list of products")
    return FileResponse(path, filename=name)


@router.delete("/jobs/{job_id}", status_code=204, tags=["jobs"], responses=_errors(401, 404, 409))
def delete_job(job_id: str, observer=Depends(require_observer), state=Depends(get_state),
               session=Depends(get_session)):
    """Withdraw one of your uploads: its job, point and products (not while it runs).

    The frame file stays, under its checksum, as other uploads may share it.
    """
    upload = own_upload(session, observer, job_id)
    if upload.status == PROCESSING:
        raise Conflict(f"job {job_id} is being processed; delete it when it has ended")
    session.delete(upload)
    session.commit()
    state.store.remove_job(job_id)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/reprocess", response_model=JobOut, status_code=202, tags=["jobs"],
             responses=_errors(401, 404, 409))
def reprocess_job(job_id: str, observer=Depends(require_observer), state=Depends(get_state),
                  session=Depends(get_session)):
    """Queue one of your ended jobs again (e.g. after the server's configuration changed)."""
    upload = own_upload(session, observer, job_id)
    if upload.status in PENDING_STATUSES:
        raise Conflict(f"job {job_id} is {upload.status} already")
    upload.status, upload.error, upload.frame_status = QUEUED, None, None
    session.commit()
    state.dispatcher.wake()
    return JobOut.of(upload)


@router.get("/targets", response_model=list[TargetOut], tags=["targets"], responses=_errors(401))
def list_targets(observer=Depends(optional_observer), session=Depends(get_session)):
    """The targets whose light curves you may read."""
    return [TargetOut.of(target, count_points(session, target))
            for target in readable_targets(session, observer)]


@router.post("/targets", response_model=TargetOut, status_code=201, tags=["targets"],
             responses=_errors(401, 409, 422))
def add_target(body: TargetIn, observer=Depends(require_observer), state=Depends(get_state),
               session=Depends(get_session)):
    """Make a known target, so uploads may name it without a position."""
    name, coord, _, _ = check_form(UploadForm(target=body.name, ra=body.ra, dec=body.dec))
    if find_target(session, name, coord) is not None:
        raise Conflict(f"target {name} exists already")
    target = Target(name=name, key=target_key(name), ra_deg=float(coord.ra.deg),
                    dec_deg=float(coord.dec.deg), created_by=observer.id,
                    public=state.settings.targets_public if body.public is None else body.public)
    session.add(target)
    session.commit()
    return TargetOut.of(target)


@router.get("/targets/{name}", response_model=TargetOut, tags=["targets"],
            responses=_errors(401, 404))
def get_target(name: str, observer=Depends(optional_observer), session=Depends(get_session)):
    target = readable_target(session, observer, name)
    return TargetOut.of(target, count_points(session, target))


@router.patch("/targets/{name}", response_model=TargetOut, tags=["targets"],
              responses=_errors(401, 403, 404))
def change_target(name: str, body: TargetChange, observer=Depends(require_observer),
                  session=Depends(get_session)):
    """Make a target's light curve public or private (its creator or an admin)."""
    target = readable_target(session, observer, name)
    check_may_change(observer, target)
    target.public = body.public
    session.commit()
    return TargetOut.of(target, count_points(session, target))


@router.get("/targets/{name}/lightcurve", tags=["targets"],
            responses={200: {"content": {"application/json": {}, "text/csv": {},
                                         "text/plain": {}},
                             "description": "JSON, CSV or AAVSO extended format"},
                       **_errors(401, 404)})
def get_lightcurve(name: str, format: Literal["json", "csv", "aavso"] = "json",
                   obscode: str = Query("na", max_length=20, pattern=r"^[A-Za-z0-9]+$",
                                        description="AAVSO observer code for #OBSCODE"),
                   observer=Depends(optional_observer), session=Depends(get_session)):
    """The target's light curve: every telescope's calibrated points and limits, labelled."""
    target = readable_target(session, observer, name)
    table = lightcurve_table(session, target)
    if format == "csv":
        return Response(lightcurve_csv(table), media_type="text/csv")
    if format == "aavso":
        return PlainTextResponse(lightcurve_aavso(table, obscode))
    return lightcurve_json(table)


@router.get("/targets/{name}/lightcurve.png", response_class=Response, tags=["targets"],
            responses={200: {"content": {"image/png": {}}}, **_errors(401, 404)})
def get_lightcurve_plot(name: str, observer=Depends(optional_observer),
                        session=Depends(get_session)):
    """The light-curve plot: by telescope and band, errors and upper limits marked."""
    target = readable_target(session, observer, name)
    table = lightcurve_table(session, target)
    return Response(plot_lightcurve(table, f"{target.name}: {len(table)} calibrated points"),
                    media_type="image/png", headers={"Cache-Control": "no-store"})

