"""A tiny V2-protocol model server for the serving gate's `command` runtime (standard library).

argv: MODEL PORT [MODE]. The model file holds JSON {"scale": x}; each request's answer is the
row's sum times x and the row's length, as one FP64 output of shape [1, 2]. MODE `exit` fails
to load, `hang` never listens (and starts a child, which must be stopped with it), `hog` holds
about 300 MB.
"""

import json
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

model, port = sys.argv[1], int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "ok"
if mode == "exit":
    sys.exit(f"cannot load {model}: not a model")
if mode == "hang":
    # The child names this file in its command line, so that a test can look for it.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", __file__])
    time.sleep(600)
scale = json.loads(Path(model).read_text(encoding="utf-8"))["scale"]
ballast = bytearray(300 * 1024 * 1024) if mode == "hog" else b""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(200 if self.path == "/v2/health/ready" else 404, {})

    def do_POST(self) -> None:
        if self.path != "/v2/models/model/infer":
            return self._answer(404, {"error": "no such model"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        row = body["inputs"][0]["data"]
        data = [sum(row) * scale, float(len(row))]
        output = {"name": "predict", "shape": [1, 2], "datatype": "FP64", "data": data}
        self._answer(200, {"model_name": "model", "outputs": [output]})

    def _answer(self, status: int, payload: dict) -> None:
        text = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
