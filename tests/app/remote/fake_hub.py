#!/usr/bin/env python3
"""A local stand-in for the Hugging Face hub, for download tests (standard library only).

It answers as the hub does (the shapes huggingface_hub's client reads):
  HEAD/GET /{repo}/resolve/{rev}/{path}
      an LFS file: 302 to a CDN on a second port, with X-Repo-Commit, X-Linked-Etag (the
      quoted sha256), X-Linked-Size and ETag; a small git file: 200 with its bytes, ETag (the
      quoted git blob id), X-Repo-Commit and Content-Length; Range honoured
  GET /api/models/{repo}[/revision/{rev}][?blobs=true]
      {"id", "sha", "siblings": [{"rfilename"} + with blobs {"blobId", "size",
      "lfs": {"sha256", "size", "pointerSize"}}]}
  GET /api/models/{repo}/tree/{rev}
      [{"type": "file", "oid", "size", "path", "lfs": {"oid", "size", "pointerSize"}}]
  refusals with X-Error-Code / X-Error-Message headers and a JSON {"error": ...} body:
      RepoNotFound (401 without a token, 404 with one, as the hub hides private repos),
      RevisionNotFound 404, EntryNotFound 404, GatedRepo (401 without a token, 403 with a
      token that has no access)
  a renamed repo: 307 with a relative Location to its new name, as the hub redirects.
The CDN (GET/HEAD /cdn/{sha256}) honours Range (206 with Content-Range, 416 past the end).

Test modes (FakeHub.mode): drop_after=N (the next CDN transfer closes the connection after N
bytes), stall_after=N (sends N bytes, then waits until stopped), corrupt=True (one byte flipped),
ignore_range=True (200 and the whole file whatever the Range). Every request is logged in
FakeHub.log: server ("hub" or "cdn"), method, path, authorization, range, status, sent bytes.

Run alone (python3 fake_hub.py) it serves until Ctrl-C and prints its endpoint.
"""
import hashlib
import http.server
import json
import os
import threading
import time
import urllib.parse

COMMIT = "4b8e1a3f0c2d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"
GRANTED_TOKEN = "hf_granted_test_token"


def deterministic_bytes(n, seed):
    """n bytes of a sha256 counter stream: reproducible, not compressible, no pattern."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class RepoFile:
    def __init__(self, path, data, lfs):
        self.path, self.data, self.lfs = path, data, lfs
        self.sha256 = hashlib.sha256(data).hexdigest()
        if lfs:
            pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                       f"size {len(data)}\n").encode()
            self.pointer_size = len(pointer)
            self.blob_id = git_blob_id(pointer)
        else:
            self.blob_id = git_blob_id(data)


def make_repos():
    config = json.dumps({"architectures": ["Qwen3ForCausalLM"], "hidden_size": 64},
                        indent=2).encode()
    repos = {}
    # A real model file to serve, for the app's own tests (the library then lists it).
    real = os.environ.get("GB_FAKE_HUB_GGUF")
    if real:
        with open(real, "rb") as f:
            repos["glassbox-test/real-model"] = {
                "gated": False,
                "files": [RepoFile(os.path.basename(real), f.read(), True)],
            }
    return repos | {
        "glassbox-test/tiny-model": {
            "gated": False,
            "files": [RepoFile("README.md", b"# tiny model\n\nFor tests.\n", False),
                      RepoFile("config.json", config, False),
                      RepoFile("model-Q8.gguf", deterministic_bytes(150_000, "q8"), True),
                      RepoFile("model-Q4.gguf", deterministic_bytes(300_000, "q4"), True)],
        },
        "glassbox-test/gated-model": {
            "gated": "manual",
            "files": [RepoFile("model-Q4.gguf", deterministic_bytes(50_000, "gated"), True)],
        },
    }


RENAMED = {"glassbox-test/old-name": "glassbox-test/tiny-model"}


class FakeHub:
    def __init__(self):
        self.repos = make_repos()
        self.log = []
        self.mode = {}
        self._stop = threading.Event()
        self.hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self.cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        for s in (self.hub, self.cdn):
            s.daemon_threads = True
            threading.Thread(target=s.serve_forever, daemon=True).start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_base(self):
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def file(self, repo, path):
        return next(f for f in self.repos[repo]["files"] if f.path == path)

    def reset(self):
        self.log.clear()
        self.mode.clear()

    def close(self):
        self._stop.set()
        for s in (self.hub, self.cdn):
            s.shutdown()
            s.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handler(self, server_name):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.handle_any(head=True)

            def do_GET(self):
                self.handle_any(head=False)

            def handle_any(self, head):
                self.entry = {"server": server_name, "method": self.command, "path": self.path,
                              "authorization": self.headers.get("Authorization"),
                              "range": self.headers.get("Range"), "status": None, "sent": 0}
                hub.log.append(self.entry)
                self.close_connection = True
                try:
                    if server_name == "cdn":
                        self.cdn(head)
                    else:
                        self.hub_request(head)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            # --- answers ---

            def reply(self, status, headers, body=b"", head=False):
                self.entry["status"] = status
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                    self.entry["sent"] = len(body)

            def refuse(self, status, code, message, head):
                body = json.dumps({"error": message}).encode()
                self.reply(status, [("X-Error-Code", code), ("X-Error-Message", message),
                                    ("Content-Type", "application/json")], body, head)

            def token(self):
                auth = self.headers.get("Authorization") or ""
                return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

            # Checks the repo and the caller's access; returns the repo or None (answered).
            def repo_or_refuse(self, repo_id, head):
                repo = hub.repos.get(repo_id)
                token = self.token()
                if repo is None:
                    self.refuse(404 if token else 401, "RepoNotFound", "Repository not found",
                                head)
                    return None
                if repo["gated"] and token != GRANTED_TOKEN:
                    if token is None:
                        self.refuse(401, "GatedRepo",
                                    f"Access to model {repo_id} is restricted. You must have "
                                    "access to it and be authenticated to access it. "
                                    "Please log in.", head)
                    else:
                        self.refuse(403, "GatedRepo",
                                    f"Access to model {repo_id} is restricted and you are not "
                                    f"in the authorized list. Visit {hub.endpoint}/{repo_id} "
                                    "to ask for access.", head)
                    return None
                return repo

            def hub_request(self, head):
                url = urllib.parse.urlsplit(self.path)
                parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
                query = urllib.parse.parse_qs(url.query)
                if len(parts) >= 3 and parts[0] == "api" and parts[1] == "models":
                    return self.api(parts[2:], query, head)
                if len(parts) >= 5 and parts[2] == "resolve":
                    return self.resolve(parts[0] + "/" + parts[1], parts[3],
                                        "/".join(parts[4:]), head)
                self.refuse(404, "NotFound", "Not found", head)

            def resolve(self, repo_id, rev, path, head):
                if repo_id in RENAMED:
                    rest = self.path.split("/resolve/", 1)[1]
                    return self.reply(307, [("Location", f"/{RENAMED[repo_id]}/resolve/{rest}")],
                                      b"", head)
                repo = self.repo_or_refuse(repo_id, head)
                if repo is None:
                    return
                if rev not in ("main", COMMIT):
                    return self.refuse(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
                f = next((f for f in repo["files"] if f.path == path), None)
                if f is None:
                    return self.refuse(404, "EntryNotFound", "Entry not found", head)
                common = [("X-Repo-Commit", COMMIT), ("Accept-Ranges", "bytes")]
                if f.lfs:
                    location = f"{hub.cdn_base}/cdn/{f.sha256}?X-Signature=fake"
                    body = f"Found. Redirecting to {location}".encode()
                    return self.reply(302, common + [
                        ("Location", location), ("X-Linked-Etag", f'"{f.sha256}"'),
                        ("X-Linked-Size", str(len(f.data))), ("ETag", f'"{f.sha256}"'),
                        ("Content-Type", "text/plain; charset=utf-8")], body, head)
                self.send_bytes(f.data, common + [("ETag", f'"{f.blob_id}"')], head)

            def api(self, parts, query, head):
                # parts: owner, name[, "revision", rev] or owner, name, "tree", rev
                if len(parts) < 2:
                    return self.refuse(404, "NotFound", "Not found", head)
                repo_id = parts[0] + "/" + parts[1]
                repo = self.repo_or_refuse(repo_id, head)
                if repo is None:
                    return
                rest = parts[2:]
                rev = rest[1] if len(rest) >= 2 and rest[0] in ("revision", "tree") else "main"
                if rev not in ("main", COMMIT):
                    return self.refuse(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
                if rest and rest[0] == "tree":
                    out = []
                    for f in repo["files"]:
                        e = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": f.path}
                        if f.lfs:
                            e["lfs"] = {"oid": f.sha256, "size": len(f.data),
                                        "pointerSize": f.pointer_size}
                        out.append(e)
                else:
                    blobs = query.get("blobs", ["false"])[0] == "true"
                    siblings = []
                    for f in repo["files"]:
                        s = {"rfilename": f.path}
                        if blobs:
                            s["blobId"] = f.blob_id
                            s["size"] = len(f.data)
                            if f.lfs:
                                s["lfs"] = {"sha256": f.sha256, "size": len(f.data),
                                            "pointerSize": f.pointer_size}
                        siblings.append(s)
                    out = {"_id": "0123456789abcdef01234567", "id": repo_id, "modelId": repo_id,
                           "author": repo_id.split("/")[0], "sha": COMMIT, "private": False,
                           "gated": repo["gated"], "disabled": False, "tags": ["gguf"],
                           "siblings": siblings}
                self.reply(200, [("Content-Type", "application/json; charset=utf-8")],
                           json.dumps(out).encode(), head)

            def cdn(self, head):
                sha = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
                f = next((f for r in hub.repos.values() for f in r["files"] if f.sha256 == sha),
                         None)
                if f is None:
                    return self.reply(404, [("Content-Type", "text/plain")], b"no such blob",
                                      head)
                self.send_bytes(f.data, [("ETag", f'"{f.sha256}"'),
                                         ("Content-Type", "application/octet-stream")], head)

            # The bytes of a file, or the part a Range asks for, in the test's mode.
            def send_bytes(self, data, headers, head):
                rng = self.headers.get("Range")
                start, status = 0, 200
                if rng and not hub.mode.get("ignore_range"):
                    spec = rng.split("=", 1)[1]
                    start = int(spec.split("-")[0])
                    if start >= len(data):
                        return self.reply(416, headers + [
                            ("Content-Range", f"bytes */{len(data)}")], b"", head)
                    status = 206
                    headers = headers + [
                        ("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")]
                body = bytearray(data[start:])
                if hub.mode.get("corrupt") and not head:
                    body[len(body) // 2] ^= 0xFF
                drop = None if head else hub.mode.pop("drop_after", None)
                stall = None if head else hub.mode.get("stall_after")
                cut = drop if drop is not None else stall
                if cut is None:
                    return self.reply(status, headers + [("Accept-Ranges", "bytes")],
                                      bytes(body), head)
                self.entry["status"] = status
                self.send_response(status)
                for k, v in headers + [("Accept-Ranges", "bytes")]:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(bytes(body[:cut]))
                self.wfile.flush()
                self.entry["sent"] = min(cut, len(body))
                if drop is None:  # stall: hold the connection open, sending nothing
                    hub._stop.wait(30)

        return Handler


if __name__ == "__main__":
    with FakeHub() as h:
        print("endpoint:", h.endpoint, "cdn:", h.cdn_base, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
