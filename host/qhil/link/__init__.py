"""The serial link: framing (docs/protocol.md), transports, and the device client."""

from qhil.link.device import Device, HelloInfo, LinkCounters, LoadInfo
from qhil.link.framing import ErrorCode, MsgType, Packet, decode_frame, encode_frame
from qhil.link.transport import SerialTransport, Transport, open_transport

__all__ = ["Device", "HelloInfo", "LinkCounters", "LoadInfo", "ErrorCode", "MsgType", "Packet",
           "decode_frame", "encode_frame", "SerialTransport", "Transport", "open_transport"]
