"""The msgpack-RPC server for game engines and tools, and its Python client.

`protocol` frames and checks messages and holds the limits, `schema` declares every method and
notification once, `hub` gives each method its meaning (clients, control, sessions),
`session` is one music instance over a Sequencer, `wire` the sequencer's objects as sent,
`server` moves bytes (TCP, Unix socket, stdio) fairly, `device` plays to the sound card, `app`
is `soundtrack serve`, `schemadoc` writes docs/protocol.md's tables and the Node types, and
`client` is the Python client. docs/protocol.md is the reference.
"""

from soundtrack.errors import RemoteError, RpcError
from soundtrack.ipc.client import Client
from soundtrack.ipc.protocol import PROTOCOL_VERSION, ErrorCode, Limits

__all__ = ["PROTOCOL_VERSION", "Client", "ErrorCode", "Limits", "RemoteError", "RpcError"]
