"""Turn a bad-input exception into the one line a user reads, and an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps

from lookup.errors import BadInput

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


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
    full_key = getattr(exc, "full_key", None)
    if full_key and msg.strip():  # OmegaConf: "msg\n    full_key: k\n    object_type=dict"
        msg = f"{full_key}: {msg.strip().splitlines()[0]}"
    return "error: " + " ".join(msg.split())


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` means "the input is wrong": :class:`lookup.errors.BadInput` (raised
    where input is checked), or an OmegaConf error (a bad interpolation or value in the
    config). Anything else is a bug and keeps its traceback."""
    if isinstance(exc, BadInput):
        return True
    try:
        from omegaconf.errors import OmegaConfBaseException
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        return False
    return isinstance(exc, OmegaConfBaseException)


def interrupted_line(table: str | None) -> str:
    """The one line printed on Ctrl-C: where the configurations finished so far are."""
    if table:
        return f"interrupted; finished configurations are in {table}"
    return "interrupted"


def bad_input_code(exc: BaseException) -> int:
    """For a command's ``except Exception as exc: return bad_input_code(exc)``: bad input
    prints its one line on stderr and gives exit code 2; anything else is re-raised with its
    traceback (a bug)."""
    cause = root_cause(exc)
    if not is_user_error(cause):
        raise exc
    print(one_line(cause), file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def user_errors_exit(fn: Callable) -> Callable:
    """Decorator: bad input -> one line on stderr and exit code 2; anything else propagates."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - filtered just below
            cause = root_cause(exc)
            if not is_user_error(cause):
                raise
            print(one_line(cause), file=sys.stderr, flush=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            print(interrupted_line(None), file=sys.stderr, flush=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper
