"""Header standardisation: telescope profiles, standard keywords, times and airmass."""
