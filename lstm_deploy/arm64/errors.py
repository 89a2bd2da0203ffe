"""The one ARM64 failure: the environment cannot be had here (or a step of setting it up failed).

The CLI prints it as one line ``unavailable: <why>`` and exits 2 (the same code as bad input:
nothing was measured and the user has to change something -- the host, the network, an option).

Example:
    >>> str(Arm64Unavailable("apt-get not found (Debian/Ubuntu hosts only)"))
    'unavailable: apt-get not found (Debian/Ubuntu hosts only)'
"""

from __future__ import annotations

from ..errors import LstmDeployError


class Arm64Unavailable(LstmDeployError):
    """No ARM64 environment: not a Debian/Ubuntu x86-64 host, a download failed, qemu too old, not set up."""

    exit_code = 2

    def __init__(self, why: str) -> None:
        super().__init__(f"unavailable: {why}")
        self.why = why
