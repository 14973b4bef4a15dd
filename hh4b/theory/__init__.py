"""Theory: the LO gg -> hh matrix element with its loops, PDFs, cross sections and the HEFT couplings."""
