"""Accept an upload: check it, store it durably, queue its job (or only check: a dry run).

The order is what makes "nothing lost" true: the file is received and
checked, written to ``frames/`` and fsync'ed, then its record is committed
(a durable commit), and only then is the upload acknowledged. A crash before
the commit leaves at most an unreferenced file, never a record without its
file. The same file for the same target is recognised by its SHA-256.
"""

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Optional

from astropy import units as u
from astropy.coordinates import SkyCoord
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ccdphot.errors import ConfigError, InputError
from ccdphot.header.profiles import shipped_profiles
from ccdphot.server.errors import Conflict, Invalid
from ccdphot.server.models import Target, Upload
from ccdphot.server.validation import check_upload
from ccdphot.zeropoint.target import parse_coordinates

log = logging.getLogger(__name__)

# A known target given with a position this far from its own is an error, not a new target.
SAME_TARGET_ARCSEC = 10.0
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+:()'-]{0,99}$")
_FILTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_' .-]{0,39}$")
_SHOWN_NAME = re.compile(r"[^A-Za-z0-9_.+-]")


@dataclass(frozen=True)
class UploadForm:
    """What an observer sends with a frame (API form fields or the web form)."""

    target: str
    ra: Optional[str] = None
    dec: Optional[str] = None
    profile: Optional[str] = None
    filter: Optional[str] = None
    dry_run: bool = False


@dataclass
class Accepted:
    """The answer to an upload: its job (None for a dry run) and what was found."""

    upload: Optional[Upload]
    duplicate: bool
    frame: dict  # the frame's summary from the checks
    target: dict  # the target as the job will use it


def target_key(name):
    """Names compare without case and blanks: 'SN 2024abc' is 'sn2024ABC'."""
    return "".join(name.split()).casefold()


def shown_file_name(name):
    """The client's file name reduced to safe characters, for display only (never a path)."""
    base = re.split(r"[\\/]", name or "")[-1]
    return (_SHOWN_NAME.sub("_", base).strip("._") or "frame.fits")[:255]


def check_profile(name):
    """The shipped telescope profile called ``name`` (a client never names a file)."""
    if not name:
        return None
    known = {profile.name.lower(): profile.name for profile in shipped_profiles()}
    if name.lower() not in known:
        raise Invalid(f"profile {name!r} is not one of this server's telescope profiles "
                      f"({', '.join(sorted(known.values()))}); leave it out to match the "
                      "header")
    return known[name.lower()]


def check_form(form):
    """Validate the form fields; return (name, SkyCoord or None, profile, filter)."""
    name = " ".join((form.target or "").split())
    if not _TARGET_NAME.match(name):
        raise Invalid(f"target {form.target!r}: give a name of letters, digits, blanks and "
                      "_ . + : ( ) ' - (at most 100 characters)")
    coord = None
    if form.ra or form.dec:
        if not (form.ra and form.dec):
            raise Invalid("give both ra and dec of the target, or neither for a known target")
        try:
            coord = parse_coordinates(form.ra, form.dec)
        except (ConfigError, ValueError) as err:
            raise Invalid(f"target position: {err}") from err
    forced = (form.filter or "").strip() or None
    if forced is not None and not _FILTER.match(forced):
        raise Invalid(f"filter {form.filter!r}: give a filter name such as V, R, rp or Clear")
    return name, coord, check_profile(form.profile), forced


def find_target(session, name, coord):
    """The known target called ``name``; None if unknown. A position far from it is an error."""
    target = session.scalar(select(Target).where(Target.key == target_key(name)))
    if target is not None and coord is not None:
        known = SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg)
        separation = known.separation(coord).arcsec
        if separation > SAME_TARGET_ARCSEC:
            raise Conflict(f"target {target.name} is known at RA {target.ra_deg:.6f}, Dec "
                           f"{target.dec_deg:.6f} (deg), {separation:.0f} arcsec from the "
                           "position given; leave out ra and dec or use another name")
    if target is None and coord is None:
        raise Invalid(f"target {name!r} is not known to this server; give its ra and dec")
    return target


def _target_summary(target, name, coord):
    if target is not None:
        return {"name": target.name, "ra_deg": target.ra_deg, "dec_deg": target.dec_deg,
                "known": True}
    return {"name": name, "ra_deg": round(coord.ra.deg, 7), "dec_deg": round(coord.dec.deg, 7),
            "known": False}


def _existing(session, sha256, target, observer):
    """The upload of this very file for this target, if any (another observer's: a conflict)."""
    if target is None:
        return None
    upload = session.scalar(select(Upload).where(Upload.sha256 == sha256,
                                                 Upload.target_id == target.id))
    if upload is not None and upload.observer_id != observer.id:
        raise Conflict(f"this frame (SHA-256 {sha256[:12]}...) was uploaded for {target.name} "
                       "by another observer already")
    return upload


def accept_upload(state, session, observer, form, stream, file_name):
    """Check and (unless a dry run) store and queue one upload; return :class:`Accepted`."""
    state.limiter.check(observer.id)
    name, coord, profile, forced = check_form(form)
    target = find_target(session, name, coord)
    shown = shown_file_name(file_name)
    received = state.store.receive(stream, state.settings.max_upload_bytes)
    try:
        try:
            frame = check_upload(received.path, shown, state.settings.max_pixels)
        except InputError as err:
            raise Invalid(str(err)) from err
        frame.update(sha256=received.sha256, size_bytes=received.size_bytes)
        existing = _existing(session, received.sha256, target, observer)
        summary = _target_summary(target, name, coord)
        if form.dry_run or existing is not None:
            return Accepted(upload=existing, duplicate=existing is not None, frame=frame,
                            target=summary)
        state.store.keep(received)
    finally:
        state.store.discard(received)
    for _ in range(2):  # a parallel request may commit the same target or upload first
        upload = _record(session, observer, target, name, coord, received, shown, profile,
                         forced, state.settings.targets_public)
        if upload is not None:
            break
        target = find_target(session, name, coord)
        existing = _existing(session, received.sha256, target, observer)
        if existing is not None:
            return Accepted(upload=existing, duplicate=True, frame=frame, target=summary)
    else:
        raise Conflict("the upload could not be recorded (the database refused it twice); "
                       "send it again")
    state.dispatcher.wake()
    log.info("upload %s by %s for %s: %s (%d bytes) queued", upload.id, observer.name,
             upload.target.name, shown, received.size_bytes)
    return Accepted(upload=upload, duplicate=False, frame=frame, target=summary)


def _record(session, observer, target, name, coord, received, shown, profile, forced,
            public):
    """Commit the target (when new) and the upload; None when the database refuses either
    (the same target or upload committed meanwhile)."""
    try:
        if target is None:
            target = Target(name=name, key=target_key(name), ra_deg=float(coord.ra.deg),
                            dec_deg=float(coord.dec.deg), public=public,
                            created_by=observer.id)
            session.add(target)
            session.flush()
        upload = Upload(id=uuid.uuid4().hex, observer_id=observer.id, target_id=target.id,
                        sha256=received.sha256, file_name=shown,
                        size_bytes=received.size_bytes, profile=profile, forced_filter=forced,
                        attempts=0)
        session.add(upload)
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return upload
