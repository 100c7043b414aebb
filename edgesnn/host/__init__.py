"""Host side of the edgesnn serial protocol (firmware/PROTOCOL.md): framing, transports, client, boards."""

from edgesnn.host.board import build_host_board, start_host_board
from edgesnn.host.client import Client, LinkStats
from edgesnn.host.errors import DeviceError, DeviceReset, DeviceTimeout, FrameError, HostError
from edgesnn.host.messages import DeviceResult, Encoding, Info
from edgesnn.host.proxy import FaultProxy, Faults
from edgesnn.host.transport import ProcessTransport, SerialTransport, Trace, Transport

__all__ = [
    "Client",
    "DeviceError",
    "DeviceReset",
    "DeviceResult",
    "DeviceTimeout",
    "Encoding",
    "FaultProxy",
    "Faults",
    "FrameError",
    "HostError",
    "Info",
    "LinkStats",
    "ProcessTransport",
    "SerialTransport",
    "Trace",
    "Transport",
    "build_host_board",
    "start_host_board",
]
