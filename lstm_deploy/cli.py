"""The ``lstm-deploy`` command line: a thin shell over the library.

Each command lives in ``lstm_deploy/commands/<name>.py`` as a Click command named
``command``; it parses options, calls one library function and prints the result.
Library errors (:class:`lstm_deploy.errors.LstmDeployError`) become one line on
stderr with exit code 2 (bad input) or 1 (failure); a path the system refuses
(permission, missing folder, name too long) is bad input too (2); Ctrl-C exits 130
with "interrupted". Every error is one line -- never a TensorFlow stack --
unless ``--debug`` asks for the traceback. Nothing here imports TensorFlow, so
``lstm-deploy --help`` stays fast.
"""

from __future__ import annotations

import errno
import importlib
import signal
import sys

import click

from . import __version__
from .errors import LstmDeployError

# Order is the pipeline order shown in --help: load -> compress -> export -> run -> report.
COMMAND_MODULES = ("inspect", "prune", "quantize", "optimize", "export", "benchmark", "run", "serve", "arm64")
#: OSError numbers that mean "a path you gave cannot be used" (bad input, exit 2), not a failure of the work.
PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG,
                         errno.EROFS, errno.ELOOP, errno.ENOTEMPTY})


class _LazyGroup(click.Group):
    """Loads command modules on demand; a module that does not exist yet is simply absent."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMAND_MODULES if self._load(name) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name) if name in COMMAND_MODULES else None

    @staticmethod
    def _load(name: str) -> click.Command | None:
        try:
            module = importlib.import_module(f"lstm_deploy.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"lstm_deploy.commands.{name}":
                return None
            raise
        return module.command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lstm-deploy")
@click.option("-v", "--verbose", count=True, help="Show progress detail (-vv: TensorFlow logs too). Before or after the command.")
@click.option("--quiet", is_flag=True, help="No progress lines (results and errors are still printed).")
@click.option("--debug", is_flag=True, help="Show full Python tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """Prune, quantize, export (TFLite / ONNX) and benchmark Keras LSTM models.

    \b
    Pipeline:  inspect -> prune -> quantize -> export -> benchmark
    One shot:  lstm-deploy run recipes/quickstart.yaml -o runs/quickstart
    """
    from . import _tf

    _tf.quiet(verbose=verbose >= 2)
    ctx.obj = {"verbose": verbose, "quiet": quiet, "debug": debug}


#: Options of the group that may also be written after the command (``lstm-deploy export ... -v``).
GLOBAL_FLAGS = frozenset({"--verbose", "--quiet", "--debug"})


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move ``-v``/``-vv``/``--verbose``/``--quiet``/``--debug`` written after the command to the front.

    Everything after ``--`` is left alone.

    Example:
        >>> hoist_global_flags(["export", "m.keras", "-vv", "--debug", "-o", "out"])
        ['-vv', '--debug', 'export', 'm.keras', '-o', 'out']
    """
    end = args.index("--") if "--" in args else len(args)
    is_global = [a in GLOBAL_FLAGS or (len(a) > 1 and a[0] == "-" and set(a[1:]) == {"v"}) for a in args[:end]]
    return [a for a, g in zip(args, is_global) if g] + [a for a, g in zip(args[:end], is_global) if not g] + args[end:]


def one_line(text: str, limit: int = 1000) -> str:
    """``text`` as one line of at most ``limit`` characters (library messages are one line; foreign ones may not be)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn library errors into exit codes."""
    args = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args
    try:
        # Not standalone, Click *returns* the code of a command's click.exceptions.Exit (e.g. optimize's 130
        # after Ctrl-C) instead of exiting with it: that code is the process's exit code.
        code = cli.main(args=args, prog_name="lstm-deploy", standalone_mode=False)
    except LstmDeployError as exc:
        if debug:
            raise
        click.echo(f"Error: {one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # Click turns Ctrl-C (and EOFError) into Abort
        if isinstance(exc.__cause__, EOFError) and not debug:  # a truncated input, not the user
            click.echo(f"Error: an input ended early ({one_line(str(exc.__cause__), 200) or 'EOFError'}); is a file truncated?", err=True)
            sys.exit(2)
        click.echo("Error: interrupted (Ctrl-C); files are written whole or not at all", err=True)
        # An interrupt still pending in TensorFlow's C++ code would be raised again while SystemExit
        # unwinds, and Python would then die of SIGINT (exit -2) instead of 130: ignore further ones.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # validation catches bad paths early; this is the backstop for the rest
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"Error: {where}{one_line(exc.strerror or str(exc), 300)}", err=True)
        sys.exit(2 if exc.errno in PATH_ERRNOS else 1)
    except Exception as exc:  # last resort: one line, not a traceback (TensorFlow's messages carry whole stacks)
        if debug:
            raise
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        click.echo(f"Error: unexpected {exc.__class__.__name__}: {one_line(first, 300)} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
