"""Reproducing a legacy standalone DAOPHOT II reduction with IRAF DAOPHOT.

:func:`load_legacy` reads a directory holding a DAOPHOT II reduction (option
files ``daophot.opt``, ``photo.opt``, ``allstar.opt`` and any of ``.coo``,
``.ap``, ``.lst``, ``.als``, ``.psf``; :mod:`ccdphot.daophot.legacy_files`) and
maps its options onto the IRAF DAOPHOT parameter sets (datapars, findpars,
centerpars, fitskypars, photpars: :mod:`ccdphot.daophot.legacy_mapping`;
daopars: :mod:`ccdphot.daophot.legacy_daopars`). Every decision is a row of
``LegacyReduction.mapping``.

:mod:`ccdphot.daophot.legacy_comparison` compares a new PSF photometry with the
legacy ALLSTAR list.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from astropy.table import Table

from ccdphot.daophot.legacy_daopars import map_allstar, map_psf
from ccdphot.daophot.legacy_files import find_files, image_shape_of, read_files
from ccdphot.daophot.legacy_mapping import Mapper, map_datapars, map_findpars, map_photometry
from ccdphot.errors import InputError

log = logging.getLogger(__name__)

# Preference order of the star list handed to PHOT/ALLSTAR.
_STAR_LIST_ORDER = ("coo", "ap", "als")


@dataclass
class LegacyReduction:
    """A legacy DAOPHOT II reduction and its IRAF DAOPHOT equivalent.

    ``iraf_params`` maps pset name -> {parameter: value} for every task (a
    value the legacy files cannot decide, e.g. datamin without a star-file
    header or a sky level, is left out and only noted in ``mapping``);
    ``task_params`` maps an IRAF task (``psf``, ``nstar``, ``peak``) -> {pset:
    {parameter: value}} overrides for that task only (DAOPHOT II's PSF and
    NSTAR used daophot.opt's fitting radius, ALLSTAR its own). ``mapping`` rows
    are dicts with keys legacy_option, legacy_value, iraf_param, iraf_value,
    note; ``iraf_param`` is '' for options with no IRAF equivalent.
    """

    directory: Path
    files: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    iraf_params: dict = field(default_factory=dict)
    task_params: dict = field(default_factory=dict)
    mapping: list = field(default_factory=list)
    star_list: Table = None
    star_list_file: Path = None
    psf_stars: Table = None
    allstar: Table = None
    psf: dict = None
    image_shape: tuple = None
    warnings: list = field(default_factory=list)

    def mapping_table(self):
        """The mapping rows as a Table (values as text, for display and ECSV)."""
        names = ("legacy_option", "legacy_value", "iraf_param", "iraf_value", "note")
        rows = [[_text(row[n]) for n in names] for row in self.mapping]
        return Table(rows=rows or None, names=names, dtype=[str] * len(names))


def _text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def load_legacy(directory, image_shape=None, sky_adu=None, sky_sigma_adu=None,
                image_stem=None):
    """Read a legacy DAOPHOT II reduction and map it onto IRAF DAOPHOT parameters.

    ``image_shape`` (ny, nx) of the frame to be reduced: star files made on
    another image size, or with stars outside the frame, raise InputError.
    ``sky_adu`` / ``sky_sigma_adu`` (the frame's sky level and noise) are used
    for datapars.sigma, and for datamin only when no star-file header records
    the LOWBAD DAOPHOT computed from LO. ``image_stem`` picks the files of one
    image when the directory holds several reductions.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"legacy directory {directory} does not exist; give --legacy the "
                         "directory holding daophot.opt and the .coo/.ap/.als files")
    red = LegacyReduction(directory=directory, files=find_files(directory, image_stem))
    if not red.files:
        raise InputError(f"{directory}: no DAOPHOT II files (daophot.opt, photo.opt, allstar.opt,"
                         " .coo, .ap, .lst, .als, .psf) found")
    m = Mapper(red)
    red.options, tables, red.psf, notes = read_files(red.files, image_shape)
    for note in notes:  # the readers' notes go into the log and the reduction
        m.warn(note)
    red.image_shape = image_shape_of(tables, directory)
    for role in _STAR_LIST_ORDER:
        if role in tables:
            red.star_list, red.star_list_file = tables[role], red.files[role]
            break
    red.psf_stars = tables.get("lst")
    red.allstar = tables.get("als")
    map_datapars(m, red, tables, sky_adu, sky_sigma_adu)
    map_findpars(m, red)
    map_photometry(m, red, tables)
    map_psf(m, red, tables)
    map_allstar(m, red, tables)
    log.info("legacy reduction in %s: %d options mapped, %d without IRAF equivalent, "
             "star list %s", directory, sum(1 for r in red.mapping if r["iraf_param"]),
             sum(1 for r in red.mapping if not r["iraf_param"]),
             red.star_list_file.name if red.star_list_file else "none")
    return red
