"""``lstm-deploy arm64 setup|status``: the emulated ARM64 environment behind ``benchmark --arch arm64``
and ``export --verify-arch arm64``.

When it cannot be had (not a Debian/Ubuntu x86-64 host, no network to the package registries,
a qemu older than 10) the command prints one line ``unavailable: <why>`` and exits 2.

Example:
    lstm-deploy arm64 setup
    lstm-deploy arm64 status
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click


def _unavailable(exc: Exception) -> NoReturn:
    """One line ``unavailable: <why>`` on stderr, exit 2 (SystemExit: Click's non-standalone mode would swallow Exit's code)."""
    click.echo(str(exc), err=True)
    sys.exit(2)


@click.group("arm64")
def command() -> None:
    """Emulated ARM64 (phone CPU class): set up the environment and show what is there.

    \b
    The environment (about 130 MB of downloads, 255 MB on disk, cached per user under
    ~/.cache/lstm-deploy/arm64 or $LSTM_DEPLOY_ARM64_HOME) is qemu-aarch64 10 from Debian
    bookworm-backports, Debian's arm64 CPython 3.11 and aarch64 wheels of this host's numpy,
    ai-edge-litert and onnxruntime versions. Nothing is installed system-wide. See docs/arm64.md.
    """


@command.command("setup")
@click.option("--qemu", "qemu", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Use this qemu-aarch64 (version 10 or newer, checked) instead of downloading one.")
@click.option("--force", is_flag=True, help="Rebuild even when a complete environment exists.")
@click.pass_context
def setup(ctx: click.Context, qemu: str | None, force: bool) -> None:
    """Download and assemble the ARM64 environment (once; later runs find it)."""
    from rich.console import Console

    from ..arm64 import Arm64Unavailable, setup_env

    quiet = bool((ctx.find_root().obj or {}).get("quiet"))
    console = Console(stderr=True)
    try:
        env = setup_env(qemu=qemu, force=force, progress=not quiet, say=None if quiet else lambda m: console.print(f"[dim]{m}[/dim]"))
    except Arm64Unavailable as exc:
        _unavailable(exc)
    d = env.describe()
    click.echo(f"ready: {d['root']} (qemu {d['qemu']}, CPython {d['python']} aarch64, "
               f"ai-edge-litert {d['wheels'].get('ai-edge-litert')}, onnxruntime {d['wheels'].get('onnxruntime')}, numpy {d['wheels'].get('numpy')})")


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Say whether the ARM64 environment for this host's versions is set up, and where."""
    from ..arm64 import Arm64Unavailable
    from ..arm64 import status as env_status

    try:
        info = env_status()
    except Arm64Unavailable as exc:
        _unavailable(exc)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if not info["ready"]:
        click.echo(f"not set up: {info['why']}")
        return
    click.echo(f"ready: {info['root']} ({info['size_mb']} MB)")
    click.echo(f"  qemu-aarch64 {info['qemu']} (static build: no TCG plugins, so no instruction counts)")
    click.echo(f"  emulated Python check: {info['smoke']}")
    click.echo("  wheels: " + ", ".join(f"{k} {v}" for k, v in info["wheels"].items()))
