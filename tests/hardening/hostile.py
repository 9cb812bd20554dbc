"""Hostile TCP servers on 127.0.0.1, written here (no TLS library on the server side): each
answers every connection with ``behaviour(conn, stop)`` in its own thread; ``close()`` (or the
context manager) stops the listener, closes every connection and joins the threads."""

from __future__ import annotations

import socket
import struct
import threading


class HostileServer:
    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(5)
            self.conns.append(conn)
            t = threading.Thread(target=self._one, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _one(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn, self.stop)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=5)

    def __enter__(self) -> "HostileServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record(content: int, body: bytes, version: bytes = b"\x03\x03") -> bytes:
    return bytes([content]) + version + struct.pack(">H", len(body)) + body


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def server_hello(extensions: bytes, suite: int = 0x1301, session_id: bytes = b"\x00" * 32) -> bytes:
    body = (b"\x03\x03" + b"\x11" * 32 + bytes([len(session_id)]) + session_id
            + struct.pack(">H", suite) + b"\x00" + struct.pack(">H", len(extensions)) + extensions)
    return handshake(2, body)


def read_hello(conn: socket.socket) -> bytes:
    """Read (most of) the ClientHello: one recv is enough on loopback."""
    return conn.recv(65536)


def truncated_supported_versions_then_ccs(conn, stop) -> None:
    """Defect 2: a ServerHello whose supported_versions extension claims 2 bytes and holds 1,
    then a ChangeCipherSpec record."""
    read_hello(conn)
    ext = struct.pack(">HH", 43, 2) + b"\x03"  # supported_versions: 2 announced, 1 present
    conn.sendall(record(22, server_hello(ext)) + record(20, b"\x01"))
    stop.wait(3)
