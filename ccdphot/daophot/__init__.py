"""DAOPHOT: parameter sets, DAOPHOT II and IRAF file readers, legacy reductions."""
