"""Turn a bad-input exception into the one line a user reads, and an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps

log = logging.getLogger(__name__)

# Errors that mean "the input is wrong", as opposed to bugs, which keep their traceback.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    ImportError,  # an optional extra that is not installed (e.g. encoder=minilm)
)
EXIT_BAD_INPUT = 2


def root_cause(exc: BaseException) -> BaseException:
    """Unwrap Hydra's InstantiationException (and similar wrappers) to the original error."""
    from hydra.errors import InstantiationException

    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def one_line(exc: BaseException) -> str:
    """The exception's message on one line, prefixed by 'error:'."""
    msg = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        msg = str(exc.args[0])
    return "error: " + " ".join(msg.split())


def user_errors_exit(fn: Callable) -> Callable:
    """Decorator: bad input -> one line on stderr and exit code 2; anything else propagates."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - filtered just below
            cause = root_cause(exc)
            if not isinstance(cause, USER_ERRORS):
                raise
            print(one_line(cause), file=sys.stderr, flush=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper
