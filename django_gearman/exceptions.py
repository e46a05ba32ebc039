"""Everything django_gearman raises derives from GearmanError."""

from .protocol.errors import (  # noqa: F401
    GearmanError,
    GearmanJobFailed,
    GearmanServerUnavailable,
    GearmanTimeout,
    ProtocolError,
)
from .serializers import PayloadError  # noqa: F401
