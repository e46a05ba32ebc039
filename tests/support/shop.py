"""What gearmand and the shop's workers have done, as the feature tests read it."""

from __future__ import annotations

import time
from pathlib import Path

from django_gearman.protocol import PacketType, ServerAddress, encode
from django_gearman.protocol.connection import Connection

from .waiting import wait_for


def waiting_clients(server, unique: str) -> int:
    """How many clients wait for the job with this unique id (GET_STATUS_UNIQUE, gearmand >= 1.1)."""
    connection = Connection(ServerAddress.parse(str(server)))
    try:
        connection.send(encode(PacketType.GET_STATUS_UNIQUE, unique.encode()))
        packets = []
        while not packets:
            packets = connection.receive(time.monotonic() + 5)
    finally:
        connection.close()
    (kind, args), = packets
    assert kind == PacketType.STATUS_RES_UNIQUE, packets
    return int(args[5])


def collected_lines(shop_data: Path, count: int) -> list[str]:
    """The lines shop.recipes.collect_log appended, once there are `count` of them."""
    path = shop_data / "collected.log"

    def enough():
        lines = path.read_text().splitlines() if path.exists() else []
        return lines if len(lines) >= count else None

    return wait_for(enough, message=f"{count} lines in {path}")


def sent_mail(shop_data: Path) -> str:
    """The one e-mail the mail worker wrote with the file-based backend, once it is complete."""
    directory = shop_data / "mail"

    def written():
        files = sorted(directory.glob("*.log")) if directory.exists() else []
        texts = [path.read_text() for path in files]
        # The file-based backend ends every message with a line of 79 dashes.
        return texts if texts and all(text.endswith("-" * 79 + "\n") for text in texts) else None

    texts = wait_for(written, message=f"an e-mail in {directory}")
    assert len(texts) == 1, texts
    return texts[0]
