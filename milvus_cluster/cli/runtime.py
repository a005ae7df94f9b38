"""What every command shares at run time: errors as one line and an exit code, progress
bars on stderr, SIGTERM as an error, and output as text or one JSON object.

With --json every outcome is one JSON object on stdout, errors included, and each
object opens with `time` (UTC) and `run_id`: the run's row in the catalog where the
command made one, else an id of this invocation alone (a log line can always be
named). So `--json >> log.jsonl` makes a JSON Lines file and nothing else.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from milvus_cluster.errors import LockHeld, MilvusClusterError, Terminated

LOCK_HELD = 3  # exit code: another job holds the lock


class Skipped(click.ClickException):
    """Another job holds the lock: nothing was done (exit code 3, not 1)."""

    exit_code = LOCK_HELD


class Bars:
    """One progress bar per stage on stderr; silent with --json or off a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None

    def __call__(self, stage: str, total: int) -> Callable[[int], None]:
        self.close()
        if not self.enabled:
            return lambda rows: None
        self._bar = click.progressbar(length=total, label=f"{stage:<7}", file=sys.stderr)
        self._bar.__enter__()
        return self._bar.update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextmanager
def progress_bars(as_json: bool) -> Iterator[Bars]:
    """Bars for one command, closed when it ends however it ends."""
    bars = Bars(enabled=not as_json)
    try:
        yield bars
    finally:
        bars.close()


def emit(result: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """The result as one JSON object (its as_dict(), stamped), or as `text` renders it."""
    click.echo(json_line(result.as_dict()) if as_json else text(result))


def json_line(values: dict[str, Any]) -> str:
    """One JSON object that opens with `time` and `run_id` (see the module)."""
    from milvus_cluster.jobs.catalog import new_run_id, now

    stamp = {"time": now(), "run_id": values.get("run_id") or new_run_id()}
    return json.dumps(stamp | {k: v for k, v in values.items() if k not in stamp})


def reported(command: Callable) -> Callable:
    """Turn library errors into one plain line and exit code 1 (3: the lock is held);
    tokens never shown."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from milvus_cluster.milvus.client import quiet_logs

        token = kwargs.get("token") or ""
        quiet_logs(bool(kwargs.get("verbose")))
        try:
            try:
                with sigterm_as_error():
                    return command(*args, **kwargs)
            except click.ClickException:
                raise
            except Exception as error:
                if kwargs.get("verbose"):
                    traceback.print_exc()
                failure = Skipped if isinstance(error, LockHeld) else click.ClickException
                raise failure(_message(error, token)) from error
        except click.ClickException as failure:
            if not kwargs.get("as_json"):
                raise failure.with_traceback(None) from None
            click.echo(json_line(_error_object(failure, kwargs)))
            raise click.exceptions.Exit(failure.exit_code) from None

    return wrapper


def _error_object(failure: click.ClickException, options: dict[str, Any]) -> dict[str, Any]:
    """An error as --json prints it; `run_id` is the failed run's, if it had begun."""
    context = click.get_current_context(silent=True)
    cause = failure.__cause__
    return {
        "run_id": getattr(cause, "run_id", ""),
        "command": context.info_name if context else "",
        "collection": options.get("collection"),
        "error": failure.format_message(),
        "exit_code": failure.exit_code,
    }


def _message(error: Exception, token: str) -> str:
    if isinstance(error, MilvusClusterError):
        message = str(error)
    else:
        message = (
            f"Unexpected error ({type(error).__name__}: {error}); run again with -v for details."
        )
    return message.replace(token, "***") if token else message


@contextmanager
def sigterm_as_error() -> Iterator[None]:
    """While a command runs, SIGTERM (a Kubernetes job stopped, `kill`) ends it like an
    error: its run row says failed, its lock is released, exit code 1. Without this
    Python dies on the spot and the lock waits for its lease to run out."""

    def terminated(signum: int, frame: Any) -> None:
        raise Terminated(
            "Stopped by SIGTERM; what was written is consistent, and the next run finishes "
            "the work."
        )

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # only the main thread may set handlers
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
