"""Errors a user can cause in corpora/: each message is one sentence saying what to do."""

from __future__ import annotations


class CorpusError(Exception):
    """A bad source, file or setting; the CLI prints the message and exits with status 2."""


class SourceUnavailable(CorpusError):
    """A valid source that cannot be reached right now (offline, server error, interrupted download)."""
