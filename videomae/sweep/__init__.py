"""Sweeps (`-m`): every job's config checked before any is launched (`preflight`), and each job's
final state reported once the scheduler is done with it, requeues included (`jobs`)."""

from videomae.sweep.preflight import (
    CONFIG_DIR,
    describe,
    job_overrides,
    preflight,
    quiet_launcher_schema_warning,
    swept_keys,
)

__all__ = [
    "CONFIG_DIR",
    "describe",
    "job_overrides",
    "preflight",
    "quiet_launcher_schema_warning",
    "swept_keys",
]
