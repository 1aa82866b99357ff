"""Who sees what: observers their own uploads, everyone the public light curves.

An observer sees and changes only their own uploads; an admin sees and
changes all. A target's light curve is readable by anyone when the target is
public, otherwise by admins, by its creator and by observers who uploaded to
it. What a caller may not see is answered as not found, so that its
existence is not given away.
"""

from sqlalchemy import exists, select

from ccdphot.server.errors import Forbidden, NotFound
from ccdphot.server.models import Target, Upload
from ccdphot.server.uploads import target_key


def own_upload(session, observer, job_id):
    """The upload ``job_id`` when ``observer`` may see it, else :class:`NotFound`."""
    upload = session.get(Upload, job_id) if job_id and len(job_id) <= 32 else None
    if upload is None or not (observer.is_admin or upload.observer_id == observer.id):
        raise NotFound(f"no job {job_id} among your uploads")
    return upload


def may_read(session, observer, target):
    """True when ``observer`` (None: anonymous) may read ``target``'s light curve."""
    if target.public:
        return True
    if observer is None:
        return False
    if observer.is_admin or target.created_by == observer.id:
        return True
    return bool(session.scalar(select(exists().where(Upload.target_id == target.id,
                                                     Upload.observer_id == observer.id))))


def readable_target(session, observer, name):
    """The target called ``name`` when ``observer`` may read it, else :class:`NotFound`."""
    target = session.scalar(select(Target).where(Target.key == target_key(name)))
    if target is None or not may_read(session, observer, target):
        raise NotFound(f"no target {name!r} (or its light curve is not public)")
    return target


def readable_targets(session, observer):
    """Every target ``observer`` may read, by name."""
    targets = session.scalars(select(Target).order_by(Target.name)).all()
    return [target for target in targets if may_read(session, observer, target)]


def check_may_change(observer, target):
    """Only an admin or the target's creator changes its settings."""
    if not (observer.is_admin or target.created_by == observer.id):
        raise Forbidden(f"only an admin or the observer who created {target.name} may "
                        "change it")
