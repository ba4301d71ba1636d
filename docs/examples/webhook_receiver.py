"""A local webhook receiver for trying leadlink's webhooks (stdlib only, not for production).

    LEADLINK_WEBHOOK_SECRET=whsec_… python3 docs/examples/webhook_receiver.py [PORT]

Prints one line per event it receives: whether the signature is valid, the event type and its
data. Answers 204 to a valid request and 401 to anything else, which leadlink then retries.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_webhook import verify_webhook

SECRET = os.environ.get("LEADLINK_WEBHOOK_SECRET", "")


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {
            name: self.headers.get(name, "") for name in ("Leadlink-Id", "Leadlink-Signature")
        }
        valid = bool(SECRET) and verify_webhook(body, headers, SECRET)
        event = json.loads(body) if valid else {}
        verdict = "valid signature" if valid else "INVALID signature"
        print(verdict, event.get("type", "-"), json.dumps(event.get("data", {})), flush=True)
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """One line per event is printed above; no access log."""


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    print(f"listening on http://127.0.0.1:{port}/hook", flush=True)
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
