"""Analysis stage: readers, selection, pairing, truth matching, histograms and the coffea processor."""
