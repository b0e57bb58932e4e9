"""The one exception type for bad input.

Raise :class:`BadInput` where input is checked (a config value, a file a user named, a column
of a table): its message is the one line a user reads, naming the key and the bad value (or
the path) and what would be valid. The app prints it as ``error: <message>`` and exits with
code 2. Every other exception is a bug and keeps its traceback (exit code 1).

The subclasses keep the builtin types callers may already catch: a missing file is also a
``FileNotFoundError``, a missing optional extra also an ``ImportError``.
"""

from __future__ import annotations


class BadInput(ValueError):
    """Input the user can fix; the message is one line: key=value, why, what is valid."""


class MissingFile(BadInput, FileNotFoundError):
    """A path the user gave (or a default data path) does not exist."""


class BadPath(BadInput, OSError):
    """A path exists but is of the wrong kind or cannot be used (a FIFO, a device, a folder
    where a file belongs, no permission, a full disk)."""


class MissingExtra(BadInput, ImportError):
    """An optional extra needed by the chosen option is not installed."""
