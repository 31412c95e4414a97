"""A real HTTPS server on loopback standing in for the SMS gateway (a third
party we cannot reach), in Twilio's API shape, for the test that reminders
go out over TLS and that an untrusted certificate is refused.

Arguments: a folder to record into, the certificate chain (PEM) and its key.
Listens on 127.0.0.1, port 0 (the kernel's choice), prints the port on the
first line of stdout, and writes each form POST to
`/2010-04-01/Accounts/{sid}/Messages.json` into the folder as one JSON file
(written whole, then renamed). Runs until stdin closes (the test ends).
"""

import json
import os
import re
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")


def main(folder, cert, key):
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            match = PATH.match(self.path)
            if not match:
                self.send_response(404)
                self.end_headers()
                return
            with lock:
                count[0] += 1
                n = count[0]
            record = {
                "account": match.group(1),
                "authorization": self.headers.get("authorization", ""),
                "form": dict(urllib.parse.parse_qsl(body)),
            }
            name = os.path.join(folder, f"{n:06d}.json")
            with open(name + ".tmp", "w") as f:
                json.dump(record, f)
            os.replace(name + ".tmp", name)
            answer = json.dumps({"sid": f"SM{n:032d}", "status": "queued"}).encode()
            self.send_response(201)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
