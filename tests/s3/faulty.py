# SPDX-License-Identifier: Apache-2.0
"""A forwarding HTTP/1.1 proxy on a loopback port in front of radosgw, for faults no signal can
aim at one request: a rule sees each request (method, target, headers) and the proxy passes it
on, loses its reply (forwards it, so radosgw does the work, and closes the connection instead
of answering), or answers it with an S3 error of its own without forwarding it (REFUSE: 503
SlowDown; NO_SUCH_UPLOAD: what other S3 servers than radosgw answer to a second completion of
one multipart upload). The Host header goes on as it came, so SigV4 signatures made for the
proxy's address hold at radosgw."""
import http.client
import http.server
import socketserver
import threading
import urllib.parse

PASS, LOSE = "pass", "lose"
REFUSE, NO_SUCH_UPLOAD = (503, "SlowDown"), (404, "NoSuchUpload")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "expect"}


class FaultyProxy:
    def __init__(self, upstream):
        u = urllib.parse.urlsplit(upstream)
        self.upstream = (u.hostname, u.port)
        self.rule = lambda method, target, headers: PASS
        self.seen = []  # (method, target, what was done)
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        n = int(self.rfile.readline().split(b";")[0], 16)
                        if n == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(out)
                        out += self.rfile.read(n)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (ConnectionError, OSError):
                    self.close_connection = True

            def forward(self):
                data = self.body()
                what = proxy.rule(self.command, self.path, self.headers)
                with proxy.lock:
                    proxy.seen.append((self.command, self.path, what))
                if isinstance(what, tuple):
                    reply = ("<Error><Code>%s</Code><Message>answered by the test</Message>"
                             "</Error>" % what[1]).encode()
                    self.send_response(what[0])
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                c = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                    if data or self.command in ("PUT", "POST"):
                        headers["Content-Length"] = str(len(data))
                    c.request(self.command, self.path, body=data, headers=headers)
                    r = c.getresponse()
                    payload = r.read()
                    if what == LOSE:
                        self.close_connection = True
                        return
                    self.send_response_only(r.status, r.reason)
                    for k, v in r.getheaders():
                        if k.lower() not in HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    if self.command != "HEAD":
                        self.send_header("Content-Length", str(len(payload)))
                    elif r.getheader("Content-Length") is not None:
                        self.send_header("Content-Length", r.getheader("Content-Length"))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    c.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def done(self, what):
        """The requests the proxy treated so (lost, or answered with one of its errors)."""
        with self.lock:
            return [(m, t) for m, t, w in self.seen if w == what]
