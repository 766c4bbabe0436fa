"""Measure whether learners apply what an Open edX course taught: activation within a window after completion."""

__version__ = "0.1.0"
