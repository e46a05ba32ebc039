"""A worker module whose import fails: discovery must raise this, not skip the module."""

import gearman_probe.no_such_module  # noqa: F401
