"""Fourier series at a known period: fit, model, amplitude, decomposition parameters.

The model is VARTOOLS's ``-Killharm`` one, a weighted (1/err^2) least-squares fit

    mag(t) = A0 + sum_k [ a_k sin(2 pi k t / P) + b_k cos(2 pi k t / P) ],  k = 1..K

with ``t`` the times as given (no epoch subtracted), K = 1 + number of harmonics.
Decomposition parameters follow VARTOOLS's ``outampphase`` / ``outRphi``:
a **cosine** series ``A_k cos(2 pi k t / P + 2 pi phi_k)`` with

    A_k = sqrt(a_k^2 + b_k^2),   phi_k = atan2(-a_k, b_k) / (2 pi)   [cycles]
    R_k1 = A_k / A_1,            phi_k1 = phi_k - k phi_1            [cycles, not wrapped]

A sine series ``A_k sin(... + phi^s_k)`` has phi^s_k = phi_k + 1/4 cycle, hence
phi^s_21 = phi_21 - 1/4 cycle (pi/2) and phi^s_31 = phi_31 - 1/2 cycle (pi): compare
published phi_21, phi_31 only after converting to the same series. ``Amplitude``
is the model's peak-to-peak range over one cycle.
"""

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ccdphot.periods.peaks import column

log = logging.getLogger(__name__)

OUTPUT_STYLES = ("sincos", "ampphase", "Rphi")


@dataclass(frozen=True)
class FourierFit:
    """A fitted series: mean A0, sine and cosine coefficients a_k, b_k (k = 1..K)."""

    period: float
    mean: float
    sin: np.ndarray
    cos: np.ndarray

    def model(self, t):
        """Model magnitudes at times ``t``."""
        phase = 2 * np.pi * np.outer(np.asarray(t, dtype=float), np.arange(1, len(self.sin) + 1)) \
            / self.period
        return self.mean + np.sin(phase) @ self.sin + np.cos(phase) @ self.cos

    @property
    def amplitudes(self):
        return np.hypot(self.sin, self.cos)

    @property
    def phases(self):
        """phi_k in cycles (cosine series, VARTOOLS's convention)."""
        return np.arctan2(-self.sin, self.cos) / (2 * np.pi)

    def peak_to_peak(self):
        """Maximum minus minimum of the model over one cycle (grid, then refined)."""
        steps = 100 * len(self.sin)
        phase = np.arange(steps) / steps
        values = self.model(phase * self.period)

        def refine(index, sign):
            result = minimize_scalar(lambda x: sign * self.model([x * self.period])[0],
                                     bounds=((index - 1) / steps, (index + 1) / steps),
                                     method="bounded", options={"xatol": 1e-7})
            return sign * result.fun

        return refine(int(np.argmax(values)), -1) - refine(int(np.argmin(values)), 1)


def fit_fourier(t, mag, err, period, nharm=0):
    """Weighted least-squares Fourier series of 1 + ``nharm`` terms at ``period``."""
    t, mag, err = (np.asarray(v, dtype=float) for v in (t, mag, err))
    k = np.arange(1, nharm + 2)
    phase = 2 * np.pi * np.outer(t, k) / period
    # columns 1, sin 1, cos 1, sin 2, cos 2, ...
    design = np.column_stack([np.ones_like(t),
                              np.stack([np.sin(phase), np.cos(phase)], axis=2).reshape(len(t), -1)])
    coeffs, *_ = np.linalg.lstsq(design / err[:, None], mag / err, rcond=None)
    return FourierFit(period=float(period), mean=float(coeffs[0]), sin=coeffs[1::2],
                      cos=coeffs[2::2])


def whiten(t, mag, err, period):
    """``mag`` less a one-term sinusoid at ``period``, keeping its weighted mean."""
    fit = fit_fourier(t, mag, err, period, 0)
    weights = 1 / np.square(err)
    return mag - fit.model(t) + np.sum(weights * mag) / np.sum(weights)


def fourier_columns(fit, index=0, style="sincos", number=1):
    """VARTOOLS's ``-Killharm`` columns of one fit (``number``: Per1, Per2, ...)."""
    if style not in OUTPUT_STYLES:
        raise ValueError(f"Fourier output style '{style}' unknown; use one of "
                         f"{', '.join(OUTPUT_STYLES)}")
    prefix = f"Killharm_Per{number}_"
    columns = {column("Killharm_Mean_Mag", index): fit.mean,
               column("Killharm_Period", index, number): fit.period}
    if style == "sincos":
        columns[column(prefix + "Fundamental_Sincoeff", index)] = fit.sin[0]
        columns[column(prefix + "Fundamental_Coscoeff", index)] = fit.cos[0]
        for k in range(1, len(fit.sin)):
            columns[column(prefix + f"Harm_{k + 1}_Sincoeff", index)] = fit.sin[k]
            columns[column(prefix + f"Harm_{k + 1}_Coscoeff", index)] = fit.cos[k]
    else:
        amp, phi = fit.amplitudes, fit.phases
        columns[column(prefix + "Fundamental_Amp", index)] = amp[0]
        columns[column(prefix + "Fundamental_Phi", index)] = phi[0]
        for k in range(1, len(fit.sin)):
            if style == "ampphase":
                columns[column(prefix + f"Harm_Amp_{k + 1}", index)] = amp[k]
                columns[column(prefix + f"Harm_Phi_{k + 1}", index)] = phi[k]
            else:
                columns[column(prefix + f"Harm_R_{k + 1}_1", index)] = amp[k] / amp[0]
                columns[column(prefix + f"Harm_Phi_{k + 1}_1", index)] = phi[k] - (k + 1) * phi[0]
    columns[column(prefix + "Amplitude", index)] = fit.peak_to_peak()
    return columns
