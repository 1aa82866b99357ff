"""Re-record the IRAF DAOPHOT outputs in this directory (not run by the tests).

Runs IRAF DAOPHOT (daofind, phot with 3 and with 1 aperture, pstselect, psf,
nstar, allstar) through PyRAF
on the cut-out [501:700,451:650] of ../ngc6871/NGC6871.fits and copies the
text outputs here. Usage: python record.py WORK_DIR (a scratch directory).
"""

import os
import shutil
import sys
from pathlib import Path

from astropy.io import fits

HERE = Path(__file__).resolve().parent
OUTPUTS = ("coo.1", "mag.1", "mag.2", "pst.1", "psg.1", "nst.1", "als.1", "arj.1")


def main(work):
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    with fits.open(HERE.parent / "ngc6871" / "NGC6871.fits") as hdul:
        data, header = hdul[0].data, hdul[0].header
        cut = fits.Header()
        for key in ("OBJECT", "EXPTIME", "FILTER", "GAIN", "RDNOISE", "SATURATE", "DATE-OBS"):
            cut[key] = header[key]
        cut["COMMENT"] = "cut-out [501:700,451:650] of NGC6871.fits"
        fits.writeto(work / "n6871cut.fits", data[450:650, 500:700].astype("float32"), cut,
                     overwrite=True)
    os.environ.setdefault("USER", "ccdphot")
    os.environ["HOME"] = str(work)
    (work / "uparm").mkdir(exist_ok=True)
    from pyraf import iraf

    iraf.set(uparm=str(work / "uparm") + "/")
    iraf.chdir(str(work))
    iraf.noao(_doprint=0)
    iraf.digiphot(_doprint=0)
    iraf.daophot(_doprint=0)
    for pset in (iraf.datapars, iraf.findpars, iraf.centerpars, iraf.fitskypars,
                 iraf.photpars, iraf.daopars):
        pset.unlearn()
    settings = {
        iraf.datapars: {"fwhmpsf": 4.0, "sigma": 2.5, "datamin": -50.0, "datamax": 31000.0,
                        "readnoise": 15.3, "epadu": 9.0, "exposure": "EXPTIME",
                        "filter": "FILTER"},
        iraf.findpars: {"threshold": 10.0},
        iraf.centerpars: {"calgorithm": "centroid"},
        iraf.fitskypars: {"annulus": 12.0, "dannulus": 8.0},
        iraf.photpars: {"apertures": "3,5,8", "zmag": 25.0},
        iraf.daopars: {"function": "auto", "varorder": 0, "psfrad": 12.0, "fitrad": 4.0,
                       "sannulus": 0.0, "wsannulus": 11.0},
    }
    for pset, values in settings.items():
        for name, value in values.items():
            setattr(pset, name, value)
    img, quiet = "n6871cut.fits", {"verify": "no", "verbose": "no"}
    for name in OUTPUTS:
        (work / f"n6871cut.{name}").unlink(missing_ok=True)
    for name in ("psf.1.fits", "sub.1.fits", "nrj.1", "pst.2"):
        (work / f"n6871cut.{name}").unlink(missing_ok=True)
    iraf.daofind(img, output="n6871cut.coo.1", interactive="no", **quiet)
    iraf.phot(img, coords="n6871cut.coo.1", output="n6871cut.mag.1", interactive="no", **quiet)
    iraf.photpars.apertures = "5"
    iraf.phot(img, coords="n6871cut.coo.1", output="n6871cut.mag.2", interactive="no", **quiet)
    iraf.photpars.apertures = "3,5,8"
    iraf.pstselect(img, photfile="n6871cut.mag.1", pstfile="n6871cut.pst.1", maxnpsf=10,
                   interactive="no", **quiet)
    iraf.psf(img, photfile="n6871cut.mag.1", pstfile="n6871cut.pst.1",
             psfimage="n6871cut.psf.1.fits", opstfile="n6871cut.pst.2",
             groupfile="n6871cut.psg.1", interactive="no", **quiet)
    iraf.nstar(img, groupfile="n6871cut.psg.1", psfimage="n6871cut.psf.1.fits",
               nstarfile="n6871cut.nst.1", rejfile="n6871cut.nrj.1", **quiet)
    iraf.allstar(img, photfile="n6871cut.mag.1", psfimage="n6871cut.psf.1.fits",
                 allstarfile="n6871cut.als.1", rejfile="n6871cut.arj.1",
                 subimage="n6871cut.sub.1.fits", **quiet)
    for name in OUTPUTS:
        shutil.copyfile(work / f"n6871cut.{name}", HERE / f"n6871cut.{name}")


if __name__ == "__main__":
    main(sys.argv[1])
