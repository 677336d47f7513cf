# SPDX-License-Identifier: Apache-2.0
"""A minimal FastCGI client (responder role) for talking to octoserve-fcgi directly,
without a web server: enough to hold a request open while the test signals the process."""
import socket
import struct

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def _record(rtype, content, request_id=1):
    return struct.pack(">BBHHBx", 1, rtype, request_id, len(content), 0) + content


def _pair_len(n):
    return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(params):
    out = b""
    for k, v in params.items():
        k, v = k.encode(), v.encode()
        out += _pair_len(len(k)) + _pair_len(len(v)) + k + v
    return out


class Request:
    """One FastCGI request on its own connection to a unix socket."""

    def __init__(self, path, params, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.sock.sendall(_record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 0)))
        body = encode_params(params)
        self.sock.sendall(_record(FCGI_PARAMS, body) + _record(FCGI_PARAMS, b""))

    def send_stdin(self, data):
        for i in range(0, len(data), 32768):
            self.sock.sendall(_record(FCGI_STDIN, data[i:i + 32768]))

    def finish(self):
        """End stdin and read the whole response: (status, headers dict, body)."""
        self.sock.sendall(_record(FCGI_STDIN, b""))
        out = b""
        while True:
            head = self._read(8)
            if head is None:
                break
            _, rtype, _, clen, plen = struct.unpack(">BBHHBx", head)
            content = self._read(clen + plen) or b""
            if rtype == FCGI_STDOUT:
                out += content[:clen]
            elif rtype == FCGI_END_REQUEST:
                break
        self.sock.close()
        head, _, body = out.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode(errors="replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        status = int(headers.get("status", "200").split()[0]) if headers else 0
        return status, headers, body

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


def params_for(method, uri, content_length=None):
    p = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "SERVER_PROTOCOL": "HTTP/1.1",
         "GATEWAY_INTERFACE": "CGI/1.1"}
    if content_length is not None:
        p["CONTENT_LENGTH"] = str(content_length)
    return p
