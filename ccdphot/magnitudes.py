"""The magnitude conventions every capability shares.

Tools mark a magnitude they could not measure with a large sentinel (SExtractor
99.0, DAOPHOT 99.999, catalogues 99.99): any value at or above
:data:`UNDEFINED_MAG` is such a sentinel and is masked wherever it is read.
"""

UNDEFINED_MAG = 90.0
