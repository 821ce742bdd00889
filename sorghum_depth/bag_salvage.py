# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Recover the messages of an MCAP bag cut short (power loss, a full disk, a killed recorder).

An MCAP file that ends mid-way has no summary and no footer, so no reader opens it, yet
every record before the damage is intact: a magic, then records of ``opcode (u8),
length (u64), body``. This module walks those records (inside chunks too, compressed or
not), keeps the schemas, channels and messages that are complete, and writes them into a
new, valid rosbag2 MCAP bag that the usual reader opens.
"""

from pathlib import Path
import struct

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import DECOMPRESSORS
from rosbags.typesys import get_typestore, Stores

MAGIC = b'\x89MCAP0\r\n'
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_FOOTER = 0x03, 0x04, 0x05, 0x06, 0x02


def mcap_file(path: Path) -> Path | None:
    """Return the MCAP file of a bag (the file, or the only one in a bag folder), or None."""
    path = Path(path)
    if path.is_file():
        with open(path, 'rb') as f:
            return path if f.read(len(MAGIC)) == MAGIC else None
    files = sorted(path.glob('*.mcap')) if path.is_dir() else []
    return files[0] if len(files) == 1 else None


def _string(body: bytes, at: int) -> tuple[str, int]:
    n = struct.unpack_from('<I', body, at)[0]
    return body[at + 4:at + 4 + n].decode('utf-8'), at + 4 + n


def _records(data: bytes, at: int):
    """Yield (opcode, body) of the complete records of ``data`` from offset ``at``."""
    while at + 9 <= len(data):
        op, length = data[at], struct.unpack_from('<Q', data, at + 1)[0]
        if at + 9 + length > len(data):
            return
        yield op, data[at + 9:at + 9 + length]
        at += 9 + length


def _chunk_records(body: bytes):
    """Yield the records of a complete chunk (nothing if it does not decompress)."""
    size = struct.unpack_from('<Q', body, 16)[0]
    compression, at = _string(body, 28)
    length = struct.unpack_from('<Q', body, at)[0]
    payload = body[at + 8:at + 8 + length]
    try:
        payload = DECOMPRESSORS[compression](payload, size)
    except Exception:        # a damaged or unknown compression: the chunk is lost
        return
    yield from _records(payload, 0)


def _flat_records(data: bytes):
    for op, body in _records(data, len(MAGIC)):
        if op == OP_FOOTER:
            return
        yield from (_chunk_records(body) if op == OP_CHUNK else [(op, body)])


class _Copier:
    """Schemas and channels seen so far, and the new bag's connections."""

    def __init__(self, writer: Writer):
        self.writer, self.schemas, self.channels, self.conns = writer, {}, {}, {}
        self.messages = 0
        self.typestore = get_typestore(Stores.LATEST)

    def record(self, op: int, body: bytes) -> None:
        if op == OP_SCHEMA:
            schema_id = struct.unpack_from('<H', body, 0)[0]
            name, at = _string(body, 2)
            _, at = _string(body, at)
            n = struct.unpack_from('<I', body, at)[0]
            self.schemas[schema_id] = (name, body[at + 4:at + 4 + n].decode('utf-8'))
        elif op == OP_CHANNEL:
            channel_id, schema_id = struct.unpack_from('<HH', body, 0)
            topic, _ = _string(body, 4)
            self.channels[channel_id] = (topic, schema_id)
        elif op == OP_MESSAGE:
            channel_id, _, log_ns = struct.unpack_from('<HIQ', body, 0)
            conn = self._connection(channel_id)
            if conn is not None:
                self.writer.write(conn, log_ns, body[22:])
                self.messages += 1

    def _connection(self, channel_id: int):
        if channel_id not in self.conns:
            topic, schema_id = self.channels.get(channel_id, (None, None))
            if topic is None or schema_id not in self.schemas:
                return None
            name = self.schemas[schema_id][0]
            if name not in self.typestore.types:      # not a type extraction reads
                return None
            self.conns[channel_id] = self.writer.add_connection(topic, name,
                                                                typestore=self.typestore)
        return self.conns[channel_id]


def salvage_mcap(mcap: Path, out_dir: Path) -> int:
    """
    Write the complete messages of the cut-short ``mcap`` as a new rosbag2 bag.

    :param mcap: the damaged MCAP file.
    :param out_dir: the new bag folder (must not exist).
    :returns: number of messages recovered (0: nothing usable, ``out_dir`` may be empty).
    """
    data = Path(mcap).read_bytes()
    writer = Writer(out_dir, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    copier = _Copier(writer)
    try:
        for op, body in _flat_records(data):
            copier.record(op, body)
    finally:
        writer.close()
    return copier.messages
