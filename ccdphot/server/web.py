"""The server's web pages (Jinja2, rendered on the server): targets, upload form, jobs.

The upload form takes the observer's API token once; the server then keeps it
in an HTTP-only, same-site cookie, so the job page and the private targets'
pages know who is asking. Everything else is the API's work, called the same way.
"""

import logging
from importlib import resources
from typing import Optional

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from ccdphot.header.profiles import shipped_profiles
from ccdphot.server.access import own_upload, readable_target, readable_targets
from ccdphot.server.auth import observer_by_token
from ccdphot.server.errors import RequestError, Unauthorized
from ccdphot.server.lightcurve import count_points, lightcurve_json, lightcurve_table
from ccdphot.server.models import PENDING_STATUSES
from ccdphot.server.schemas import JobOut, TargetOut
from ccdphot.server.state import TOKEN_COOKIE, get_session, get_state
from ccdphot.server.uploads import UploadForm, accept_upload

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("ccdphot.server") / "templates"))


def page_observer(request: Request, session=Depends(get_session)):
    """The observer of the page's cookie; None when there is none or it is no longer valid."""
    return observer_by_token(session, request.cookies.get(TOKEN_COOKIE))


def render(request, name, status_code=200, **context):
    state = get_state(request)
    context.setdefault("observer", None)
    return templates.TemplateResponse(request, name, {"title": state.settings.title, **context},
                                      status_code=status_code)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, observer=Depends(page_observer), session=Depends(get_session)):
    targets = [TargetOut.of(target, count_points(session, target))
               for target in readable_targets(session, observer)]
    return render(request, "index.html", observer=observer, targets=targets)


@router.get("/targets/{name}", response_class=HTMLResponse)
def target_page(name: str, request: Request, observer=Depends(page_observer),
                session=Depends(get_session)):
    target = readable_target(session, observer, name)
    points = lightcurve_json(lightcurve_table(session, target))["points"]
    return render(request, "target.html", observer=observer, target=TargetOut.of(target),
                  points=points)


def _upload_form(request, observer, status_code=200, error=None, form=None):
    settings = get_state(request).settings
    return render(request, "upload.html", status_code=status_code, observer=observer,
                  error=error, form=form or UploadForm(target=""),
                  profiles=[profile.name for profile in shipped_profiles()],
                  max_upload_mb=settings.max_upload_bytes / 1e6,
                  max_megapixels=settings.max_megapixels,
                  per_minute=settings.uploads_per_minute)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, observer=Depends(page_observer)):
    return _upload_form(request, observer)


@router.post("/upload", response_class=HTMLResponse)
def upload_from_page(request: Request, file: UploadFile = File(), target: str = Form(""),
                     ra: Optional[str] = Form(None), dec: Optional[str] = Form(None),
                     profile: Optional[str] = Form(None), filter: Optional[str] = Form(None),
                     token: str = Form(""), observer=Depends(page_observer),
                     session=Depends(get_session)):
    form = UploadForm(target=target, ra=ra, dec=dec, profile=profile or None,
                      filter=filter or None)
    token = token.strip()
    try:
        if token:
            observer = observer_by_token(session, token)
        if observer is None:
            raise Unauthorized("give your API token (ask the server's admin for one)")
        accepted = accept_upload(get_state(request), session, observer, form, file.file,
                                 file.filename)
    except RequestError as err:
        return _upload_form(request, observer, err.status_code, str(err), form)
    url = f"/jobs/{accepted.upload.id}" + ("?duplicate=1" if accepted.duplicate else "")
    response = RedirectResponse(url, status_code=303)
    if token:
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, duplicate: bool = False,
             observer=Depends(page_observer), session=Depends(get_session)):
    if observer is None:
        raise Unauthorized("upload through the form first: the page then knows your token")
    job = JobOut.of(own_upload(session, observer, job_id))
    return render(request, "job.html", observer=observer, job=job, duplicate=duplicate,
                  pending=job.status in PENDING_STATUSES)
