"""Published passband transformations, with their references and validity ranges.

When the reference catalogue lacks the frame's standard band (a Cousins I frame
against APASS Sloan i, a Johnson V frame against Gaia), the catalogue
magnitudes are transformed to that band with a published relation before the
zero point is fitted. Each relation is data: the band it gives, the band it
starts from, a polynomial in one colour with the coefficients as published, the
colour range it is valid in (stars outside are flagged and left out of the
fit) and the reference. The coefficients are copied from:

* Lupton (2005), "Transformations between SDSS magnitudes and UBVRcIc", fitted
  on Stetson's standard stars, as published on the SDSS DR4-DR16 algorithm
  pages (with the scatter ``sigma`` given there). No colour range is published
  with them.
* Jordi, Grebel & Ammon (2006, A&A 460, 339), Table 3 (all stars, ugriz ->
  UBVRcIc), as tabulated on the same SDSS page. No colour range is published
  for these relations.
* Riello et al. (2021, A&A 649, A3), Table C.2, the same relations as the Gaia
  EDR3 documentation section 5.5.1 (Table 5.9): G - X as a polynomial in
  BP - RP, with the ranges of their Table C.1.

For the r - i relations of Lupton and Jordi, ccdphot applies the red limit that
Jester et al. (2005) state for their stellar relations on the same SDSS page
(Rc - Ic < 1.15, i.e. r - i < 0.94 with their Rc - Ic = 1.00 (r - i) + 0.21);
the other SDSS-based relations carry no limit, which the docs and run.json say.
"""

import logging
from dataclasses import dataclass

import numpy as np

from ccdphot.catalogs.schema import error_name
from ccdphot.errors import ConfigError

log = logging.getLogger(__name__)

LUPTON = ("Lupton (2005), SDSS DR4 algorithm page 'Transformations between SDSS magnitudes "
          "and UBVRcIc' (matched to Stetson's standards)")
JORDI = "Jordi, Grebel & Ammon (2006), A&A 460, 339, Table 3"
RIELLO = ("Riello et al. (2021), A&A 649, A3, Tables C.1-C.2 = Gaia EDR3 documentation "
          "section 5.5.1")
JESTER_LIMIT = ("none published; the red limit of Jester et al. (2005) for their stellar "
                "relations, Rc-Ic < 1.15 (r-i < 0.94)")
NONE_PUBLISHED = "none published with the relation"


@dataclass(frozen=True)
class Transformation:
    """``target = base + sign * sum(coefficients[k] * colour**k)``, colour = c1 - c2."""

    name: str
    target: str
    base: str
    colour: tuple
    coefficients: tuple
    sign: int
    published: str
    reference: str
    validity: tuple = (-np.inf, np.inf)
    validity_note: str = NONE_PUBLISHED
    scatter_mag: float = None

    @property
    def inputs(self):
        return tuple(dict.fromkeys((self.base,) + self.colour))

    def describe(self):
        """JSON-ready record for run.json: name, formula, reference, validity."""
        low, high = self.validity
        return {"name": self.name, "formula": self.published, "reference": self.reference,
                "colour": "-".join(self.colour),
                "valid_from_mag": None if np.isinf(low) else low,
                "valid_to_mag": None if np.isinf(high) else high,
                "validity_note": self.validity_note,
                "published_scatter_mag": self.scatter_mag}

    def apply(self, reference):
        """Transformed magnitudes for the rows of a schema table.

        Returns (magnitude, error, inside_validity) as float arrays (NaN where an
        input is missing; the error is NaN where an input error is missing).
        """
        base = _values(reference, self.base)
        first, second = _values(reference, self.colour[0]), _values(reference, self.colour[1])
        colour = first - second
        poly = np.polynomial.Polynomial(self.coefficients)
        magnitude = base + self.sign * poly(colour)
        slope = self.sign * poly.deriv()(colour)
        # d target / d band: base 1, first colour band +slope, second -slope (summed when shared)
        partial = {self.base: 1.0}
        partial[self.colour[0]] = partial.get(self.colour[0], 0.0) + slope
        partial[self.colour[1]] = partial.get(self.colour[1], 0.0) - slope
        variance = sum((np.broadcast_to(d, colour.shape) * _errors(reference, band)) ** 2
                       for band, d in partial.items())
        low, high = self.validity
        inside = (colour > low) & (colour < high)
        return magnitude, np.sqrt(variance), inside


def _values(table, band):
    return np.ma.filled(np.ma.asarray(table[band], float), np.nan)


def _errors(table, band):
    name = error_name(band)
    if name not in table.colnames:
        return np.full(len(table), np.nan)
    return np.ma.filled(np.ma.asarray(table[name], float), np.nan)


def _lupton(target, base, colour, coefficients, sigma, published, validity=None):
    limit = (-np.inf, validity) if validity is not None else (-np.inf, np.inf)
    return Transformation(f"lupton2005:{target}({','.join(colour)})", target, base, colour,
                          coefficients, 1, published, LUPTON, limit,
                          JESTER_LIMIT if validity is not None else NONE_PUBLISHED, sigma)


def _jordi(target, base, colour, coefficients, published, validity=None):
    limit = (-np.inf, validity) if validity is not None else (-np.inf, np.inf)
    return Transformation(f"jordi2006:{target}({','.join(colour)})", target, base, colour,
                          coefficients, 1, published, JORDI, limit,
                          JESTER_LIMIT if validity is not None else NONE_PUBLISHED)


def _riello(target, coefficients, low, high, published):
    return Transformation(f"riello2021:{target}(BP,RP)", target, "G", ("BP", "RP"),
                          coefficients, -1, published, RIELLO, (low, high),
                          f"{low:g} < BP-RP < {high:g} (Riello et al. 2021, Table C.1)")


# Red limit of the r-i relations (see the module docstring).
_RI_RED_LIMIT = 0.94

TRANSFORMATIONS = (
    _lupton("B", "g", ("g", "r"), (0.2271, 0.3130), 0.0107,
            "B = g + 0.3130 (g - r) + 0.2271"),
    _lupton("V", "g", ("g", "r"), (-0.0038, -0.5784), 0.0054,
            "V = g - 0.5784 (g - r) - 0.0038"),
    _lupton("R", "r", ("r", "i"), (-0.1439, -0.2936), 0.0072,
            "R = r - 0.2936 (r - i) - 0.1439", _RI_RED_LIMIT),
    _lupton("R", "r", ("g", "r"), (-0.0971, -0.1837), 0.0106,
            "R = r - 0.1837 (g - r) - 0.0971"),
    _lupton("I", "r", ("r", "i"), (-0.3820, -1.2444), 0.0078,
            "I = r - 1.2444 (r - i) - 0.3820", _RI_RED_LIMIT),
    _lupton("I", "i", ("i", "z"), (-0.3974, -0.3780), 0.0063,
            "I = i - 0.3780 (i - z) - 0.3974"),
    _jordi("B", "g", ("g", "r"), (0.219, 0.313), "B - g = 0.313 (g - r) + 0.219"),
    _jordi("V", "g", ("g", "r"), (-0.016, -0.565), "V - g = -0.565 (g - r) - 0.016"),
    _jordi("R", "r", ("r", "i"), (-0.117, -0.153), "R - r = -0.153 (r - i) - 0.117",
           _RI_RED_LIMIT),
    _jordi("I", "i", ("i", "z"), (-0.397, -0.386), "I - i = -0.386 (i - z) - 0.397"),
    _riello("V", (-0.02704, 0.01424, -0.2156, 0.01426), -0.5, 5.0,
            "G - V = -0.02704 + 0.01424 x - 0.2156 x^2 + 0.01426 x^3, x = BP - RP"),
    _riello("R", (-0.02275, 0.3961, -0.1243, -0.01396, 0.003775), 0.0, 4.0,
            "G - R = -0.02275 + 0.3961 x - 0.1243 x^2 - 0.01396 x^3 + 0.003775 x^4"),
    _riello("I", (0.01753, 0.76, -0.0991), -0.5, 4.5,
            "G - Ic = 0.01753 + 0.76 x - 0.0991 x^2"),
    _riello("g", (0.2199, -0.6365, -0.1548, 0.0064), 0.3, 3.0,
            "G - g = 0.2199 - 0.6365 x - 0.1548 x^2 + 0.0064 x^3"),
    _riello("r", (-0.09837, 0.08592, 0.1907, -0.1701, 0.02263), 0.0, 3.0,
            "G - r = -0.09837 + 0.08592 x + 0.1907 x^2 - 0.1701 x^3 + 0.02263 x^4"),
    _riello("i", (-0.293, 0.6404, -0.09609, -0.002104), 0.5, 2.0,
            "G - i = -0.293 + 0.6404 x - 0.09609 x^2 - 0.002104 x^3"),
)
BY_NAME = {t.name: t for t in TRANSFORMATIONS}


def preference(names):
    """The transformations to try, in order: ``names`` ([zeropoint] transformations) or all."""
    if not names:
        return TRANSFORMATIONS
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(f"[zeropoint] transformations: unknown {', '.join(unknown)}; known: "
                          f"{', '.join(BY_NAME)}")
    return tuple(BY_NAME[n] for n in names)


def find(target, available, candidates=TRANSFORMATIONS):
    """The first transformation giving ``target`` from the bands in ``available``, or None."""
    return next((t for t in candidates
                 if t.target == target and all(b in available for b in t.inputs)), None)
