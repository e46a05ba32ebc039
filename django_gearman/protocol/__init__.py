"""A small, fast, correct Gearman protocol core. No Django imports here."""

from .admin import AdminClient, FunctionStatus, QueuedJob, WorkerInfo
from .client import Client, JobHandle, JobRequest, JobStatus
from .codec import DEFAULT_MAX_PAYLOAD_SIZE, OversizedPayload, Packet, PacketType, Parser, encode, to_bytes
from .connection import ServerAddress
from .errors import (
    GearmanError,
    GearmanJobFailed,
    GearmanPayloadTooLarge,
    GearmanServerUnavailable,
    GearmanTimeout,
    GearmanTLSError,
    ProtocolError,
)
from .worker import Job, Worker

__all__ = [
    "DEFAULT_MAX_PAYLOAD_SIZE",
    "AdminClient",
    "Client",
    "FunctionStatus",
    "GearmanError",
    "GearmanJobFailed",
    "GearmanPayloadTooLarge",
    "GearmanServerUnavailable",
    "GearmanTLSError",
    "GearmanTimeout",
    "Job",
    "JobHandle",
    "JobRequest",
    "JobStatus",
    "OversizedPayload",
    "Packet",
    "PacketType",
    "Parser",
    "ProtocolError",
    "QueuedJob",
    "ServerAddress",
    "Worker",
    "WorkerInfo",
    "encode",
    "to_bytes",
]
