"""polysocial: a social platform back end on polyglot persistence."""

__version__ = "0.1.0"
