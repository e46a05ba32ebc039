"""A serializer of the project's own, for GEARMAN_SERIALIZER = "probe_serializers.HeaderedJSON"."""

import json


class HeaderedJSON:
    """Plain JSON behind a version header, so tests can tell its bytes from the built-in serializer's."""

    header = b"probe-v1 "

    def dumps(self, value) -> bytes:
        return self.header + json.dumps(value).encode()

    def loads(self, data: bytes):
        if not data.startswith(self.header):
            raise ValueError(f"not a probe-v1 payload: {data[:20]!r}")
        return json.loads(data[len(self.header):])


class NoLoads:
    """Looks like a serializer but cannot read anything back."""

    def dumps(self, value) -> bytes:
        return json.dumps(value).encode()
