"""Re-export for coffea users who import processors from a `processors` package; the processor
lives in hh4b.analysis.processor."""

from hh4b.analysis.processor import HH4bProcessor, finalise

__all__ = ["HH4bProcessor", "finalise"]
