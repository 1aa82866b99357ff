"""DAOPHOT: parameter sets (psets), PSF stars and iterations, DAOPHOT II file readers, legacy reductions."""
