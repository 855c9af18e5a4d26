"""The msgpack-RPC server for game engines and tools, and its Python client.

`protocol` frames and checks messages, `session` gives each method its meaning over one
Sequencer, `server` moves bytes (TCP, Unix socket, stdio), `device` plays to the sound card,
`app` is `soundtrack serve`, and `client` is the Python client. docs/protocol.md is the reference.
"""

from soundtrack.ipc.client import Client, RemoteError
from soundtrack.ipc.protocol import PROTOCOL_VERSION, ErrorCode, Limits, RpcError

__all__ = ["PROTOCOL_VERSION", "Client", "ErrorCode", "Limits", "RemoteError", "RpcError"]
