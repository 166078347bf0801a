#!/usr/bin/env python3
"""TLS against a loopback HTTPS server with a self-signed certificate (made here with the
openssl command): glassbox-cli run --remote refuses it with a message that names the
certificate problem, sends nothing (the key never leaves), and accepts it once the
certificate is named by GLASSBOX_CA_FILE (a company's own CA), streaming the reply.

Skipped (exit 77) without the openssl command. Usage: tls_test.py --cli build/app/glassbox-cli
"""
import argparse
import http.server
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading

SKIP = 77
REPLY = ('data: {"choices":[{"delta":{"content":"over TLS"},"finish_reason":"stop"}]}\n\n'
         'data: [DONE]\n\n')


class Handler(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        Handler.seen.append((self.path, self.headers.get("Authorization"), self.rfile.read(n)))
        body = REPLY.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    cli = ap.parse_args().cli
    if not shutil.which("openssl"):
        print("SKIP: no openssl command")
        return SKIP
    failures = []
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"https://127.0.0.1:{server.server_address[1]}/v1"
        env = dict(os.environ, GB_TLS_TEST_KEY="sk-tls-secret")
        env.pop("GLASSBOX_CA_FILE", None)
        args = [cli, "run", "--remote", url, "--api-key-env", "GB_TLS_TEST_KEY", "-m", "m",
                "-p", "hi", "--top-n", "0"]
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        if r.returncode == 0 or "certificate" not in r.stderr:
            failures.append(f"an untrusted certificate: exit {r.returncode}, {r.stderr.strip()!r}")
        if Handler.seen:
            failures.append("a request reached the server through an untrusted certificate")
        print("untrusted:", r.stderr.strip())
        env["GLASSBOX_CA_FILE"] = cert
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
        if r.returncode != 0 or "over TLS" not in r.stdout:
            failures.append(f"with GLASSBOX_CA_FILE: exit {r.returncode}, {r.stdout!r} "
                            f"{r.stderr.strip()!r}")
        elif not Handler.seen or Handler.seen[-1][1] != "Bearer sk-tls-secret":
            failures.append(f"the key did not arrive over TLS: {Handler.seen}")
        else:
            print("trusted:", r.stdout.strip())
        server.shutdown()
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
