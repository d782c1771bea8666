"""Every error flowsleuth raises on purpose.

    FlowsleuthError                      base; the CLI prints its message on one line
    ├── UsageError(ValueError)           bad arguments or configuration (exit 2)
    ├── FormatError(ValueError)          an object or line is not a log we can read
    │   └── UnknownHeaderError           a flow-log header names a field AWS does not document
    ├── SourceError                      listing or reading a source failed
    │   └── transient: bool              True when a retry may succeed
    ├── LakeError                        the lake is unreadable or inconsistent
    │   └── LakeLockedError              another run holds the lake's lock
    └── DetectorError                    a detector file is invalid or its SQL failed

Errors keep their context as attributes (object, line, parameter) so callers can
act on them without parsing the message.
"""

from __future__ import annotations


class FlowsleuthError(Exception):
    """Base of flowsleuth's own errors; the message is meant for a user."""


class UsageError(ValueError, FlowsleuthError):
    """Bad arguments or configuration."""


class FormatError(ValueError, FlowsleuthError):
    """Input is not in a format flowsleuth can read."""

    def __init__(self, message: str, *, source_uri: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.source_uri = source_uri
        self.line = line


class UnknownHeaderError(FormatError):
    """A flow-log header line names fields AWS does not document."""


class SourceError(FlowsleuthError):
    """Listing or reading an object failed."""

    def __init__(self, message: str, *, uri: str | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.uri = uri
        self.transient = transient


class LakeError(FlowsleuthError):
    """The lake cannot be read or written."""


class LakeLockedError(LakeError):
    """Another run holds the lake's lock."""


class DetectorError(FlowsleuthError):
    """A detector file is invalid or its query failed."""

    def __init__(self, message: str, *, detector: str | None = None) -> None:
        super().__init__(message)
        self.detector = detector
