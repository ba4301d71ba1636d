"""leadlink: one link for every social bio, turning likes into leads."""

__version__ = "0.1.0"
