#!/usr/bin/env python3
"""glassbox-cli download against a local fake of the Hugging Face hub (fake_hub.py: the hub on
one port, its CDN on another). Expected bytes and digests come from the fake's own files and
Python's hashlib, never from the code under test. Checked: a download lands byte for byte with
no .part left and the token-free CDN reached through the hub's redirect; --list puts GGUF files
first with their sizes; a dropped transfer leaves a .part that the next run resumes with a Range
request (the fake's log shows a 206 carrying only the rest); a server that ignores Range is
restarted from zero; corrupted bytes are named as a checksum mismatch and leave no file; an
unknown repo, file and revision are named; a gated repo asks for a token, or for access with a
token that has none, and a granted token reaches the hub but never the CDN and is never
printed; too little disk space is refused before any byte is fetched (GLASSBOX_TEST_FREE_BYTES,
the documented test hook); Ctrl-C keeps the .part; a renamed repo's relative redirect is
followed on the hub; a file already there is verified, not fetched again.

Usage: hub_download_e2e_test.py --cli build/app/glassbox-cli
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_hub  # noqa: E402

REPO = "glassbox-test/tiny-model"
GATED = "glassbox-test/gated-model"


class Checks:
    def __init__(self, cli, hub):
        self.cli, self.hub = cli, hub
        self.failures = []
        self.secret_outputs = []  # every output of a run that had a token, to check for leaks

    def expect(self, ok, what):
        if not ok:
            self.failures.append(what)
            print("FAIL:", what)
        return ok

    def run(self, args, dest, env_extra=None, timeout=60):
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_TOKEN", "HF_ENDPOINT", "GLASSBOX_TEST_FREE_BYTES")}
        env["XDG_DATA_HOME"] = os.path.join(dest, "xdg")
        env.update(env_extra or {})
        r = subprocess.run([self.cli, "download", *args, "--endpoint", self.hub.endpoint,
                            "--dir", dest], capture_output=True, text=True, env=env,
                           timeout=timeout)
        self.secret_outputs.append(r.stdout + r.stderr)
        return r

    def cdn_gets(self):
        return [e for e in self.hub.log if e["server"] == "cdn" and e["method"] == "GET"]


def case(fn):
    fn.is_case = True
    return fn


@case
def downloads_a_file(c, d):
    f = c.hub.file(REPO, "model-Q4.gguf")
    r = c.run([REPO, "model-Q4.gguf"], d)
    path = os.path.join(d, "model-Q4.gguf")
    if not c.expect(r.returncode == 0, f"download failed: {r.stderr}"):
        return
    data = open(path, "rb").read()
    c.expect(data == f.data, "the downloaded bytes differ from the repo's")
    c.expect(hashlib.sha256(data).hexdigest() in r.stderr, "the sha256 is not reported")
    c.expect(not os.path.exists(path + ".part"), "a .part file is left behind")
    c.expect(r.stdout.strip() == path, f"stdout is not the path: {r.stdout!r}")
    heads = [e for e in c.hub.log if e["server"] == "hub" and e["method"] == "HEAD"]
    c.expect(len(heads) == 1 and "/resolve/main/model-Q4.gguf" in heads[0]["path"],
             f"no HEAD on the resolve URL: {c.hub.log}")
    gets = c.cdn_gets()
    c.expect(len(gets) == 1 and gets[0]["range"] is None and gets[0]["status"] == 200,
             f"not one whole GET from the CDN: {gets}")
    # Small git files come from the hub itself (no redirect, no sha256 published).
    cfg = c.hub.file(REPO, "config.json")
    r = c.run([REPO, "config.json"], d)
    c.expect(r.returncode == 0 and open(os.path.join(d, "config.json"), "rb").read() == cfg.data,
             f"config.json: {r.returncode} {r.stderr}")
    # Again: the file is there and verified, nothing fetched.
    c.hub.log.clear()
    r = c.run([REPO, "model-Q4.gguf"], d)
    c.expect(r.returncode == 0 and "already there" in r.stderr and not c.cdn_gets(),
             f"a second run fetched again or failed: {r.stderr} {c.hub.log}")


@case
def lists_files_gguf_first(c, d):
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    r = subprocess.run([c.cli, "download", REPO, "--list", "--endpoint", c.hub.endpoint],
                       capture_output=True, text=True, env=env, timeout=60)
    if not c.expect(r.returncode == 0, f"--list failed: {r.stderr}"):
        return
    lines = r.stdout.splitlines()
    names = [ln.split()[2] for ln in lines[1:]]  # "   300 KB  model-Q4.gguf"
    c.expect(names == ["model-Q4.gguf", "model-Q8.gguf", "README.md", "config.json"],
             f"not GGUF first then by name: {names}")
    c.expect(fake_hub.COMMIT in lines[0], f"the commit is not shown: {lines[0]!r}")
    q4 = next(ln for ln in lines if "model-Q4.gguf" in ln)
    c.expect("300 KB" in q4, f"the size of model-Q4.gguf (300,000 bytes) is not 300 KB: {q4!r}")


@case
def resumes_a_dropped_transfer(c, d):
    f = c.hub.file(REPO, "model-Q4.gguf")
    path = os.path.join(d, "model-Q4.gguf")
    c.hub.mode["drop_after"] = 120_000
    r = c.run([REPO, "model-Q4.gguf"], d)
    c.expect(r.returncode != 0 and "resume" in r.stderr,
             f"a dropped transfer did not fail with a resume hint: {r.returncode} {r.stderr}")
    part = path + ".part"
    if not c.expect(os.path.exists(part) and not os.path.exists(path),
                    "no .part kept (or a final file made) after a drop"):
        return
    kept = os.path.getsize(part)
    c.expect(kept == 120_000, f"the .part holds {kept} bytes, the server sent 120000")
    c.hub.log.clear()
    r = c.run([REPO, "model-Q4.gguf"], d)
    if not c.expect(r.returncode == 0, f"the resume failed: {r.stderr}"):
        return
    gets = c.cdn_gets()
    c.expect(len(gets) == 1 and gets[0]["range"] == f"bytes={kept}-" and gets[0]["status"] == 206
             and gets[0]["sent"] == len(f.data) - kept,
             f"the second transfer was not the rest alone: {gets}")
    c.expect(open(path, "rb").read() == f.data, "the resumed file's bytes differ")
    c.expect(not os.path.exists(part), "the .part is left after the resume")


@case
def restarts_when_range_is_ignored(c, d):
    f = c.hub.file(REPO, "model-Q8.gguf")
    path = os.path.join(d, "model-Q8.gguf")
    c.hub.mode["drop_after"] = 40_000
    c.run([REPO, "model-Q8.gguf"], d)
    if not c.expect(os.path.exists(path + ".part"), "no .part after the drop"):
        return
    c.hub.log.clear()
    c.hub.mode["ignore_range"] = True
    r = c.run([REPO, "model-Q8.gguf"], d)
    gets = c.cdn_gets()
    c.expect(r.returncode == 0 and len(gets) == 1 and gets[0]["range"] == "bytes=40000-"
             and gets[0]["status"] == 200, f"{r.returncode} {r.stderr} {gets}")
    c.expect(os.path.exists(path) and open(path, "rb").read() == f.data,
             "the file is not the repo's after a 200 answer to a Range request")


@case
def refuses_corrupted_bytes(c, d):
    f = c.hub.file(REPO, "model-Q4.gguf")
    c.hub.mode["corrupt"] = True
    r = c.run([REPO, "model-Q4.gguf"], d)
    path = os.path.join(d, "model-Q4.gguf")
    c.expect(r.returncode != 0 and "checksum mismatch" in r.stderr
             and f"expected sha256 {f.sha256} got " in r.stderr,
             f"corruption not named: {r.returncode} {r.stderr}")
    c.expect(not os.path.exists(path) and not os.path.exists(path + ".part"),
             "a corrupted file or its .part was kept")


@case
def names_what_is_missing(c, d):
    r = c.run(["glassbox-test/no-such-repo", "model.gguf"], d)
    c.expect(r.returncode != 0 and "no repo glassbox-test/no-such-repo" in r.stderr,
             f"unknown repo: {r.stderr}")
    r = c.run([REPO, "missing.gguf"], d)
    c.expect(r.returncode != 0 and
             f"no file missing.gguf in repo {REPO} at revision main" in r.stderr,
             f"unknown file: {r.stderr}")
    r = c.run([REPO, "model-Q4.gguf", "--revision", "v9"], d)
    c.expect(r.returncode != 0 and f"no revision v9 in repo {REPO}" in r.stderr,
             f"unknown revision: {r.stderr}")
    c.expect(not c.cdn_gets(), "the CDN was asked for a missing file")
    asked = len(c.hub.log)
    r = c.run(["../etc", "passwd"], d)
    c.expect(r.returncode != 0 and "not a repo id" in r.stderr and len(c.hub.log) == asked,
             f"a path-like repo id: {r.stderr}")
    r = c.run([REPO, "../escape.gguf"], d)
    c.expect(r.returncode != 0 and "not a file path" in r.stderr, f"a path escaping: {r.stderr}")


@case
def gated_repo_needs_a_granted_token(c, d):
    f = c.hub.file(GATED, "model-Q4.gguf")
    path = os.path.join(d, "model-Q4.gguf")
    r = c.run([GATED, "model-Q4.gguf"], d)
    c.expect(r.returncode != 0 and "gated" in r.stderr and "token" in r.stderr
             and f"request access at {c.hub.endpoint}/{GATED}" in r.stderr,
             f"no token: {r.stderr}")
    r = c.run([GATED, "model-Q4.gguf", "--token-env", "GB_TEST_HUB_TOKEN"], d,
              {"GB_TEST_HUB_TOKEN": "hf_not_granted_secret"})
    c.expect(r.returncode != 0 and "not been granted access" in r.stderr,
             f"a token without access: {r.stderr}")
    c.expect(not os.path.exists(path), "a file was written without access")
    c.hub.log.clear()
    r = c.run([GATED, "model-Q4.gguf"], d, {"HF_TOKEN": fake_hub.GRANTED_TOKEN})
    if not c.expect(r.returncode == 0, f"a granted token (HF_TOKEN): {r.stderr}"):
        return
    c.expect(open(path, "rb").read() == f.data, "the gated file's bytes differ")
    hub_auth = [e["authorization"] for e in c.hub.log if e["server"] == "hub"]
    cdn_auth = [e["authorization"] for e in c.hub.log if e["server"] == "cdn"]
    c.expect(hub_auth and all(a == f"Bearer {fake_hub.GRANTED_TOKEN}" for a in hub_auth),
             f"the token did not reach the hub: {hub_auth}")
    c.expect(cdn_auth and all(a is None for a in cdn_auth),
             f"an Authorization header reached the CDN: {cdn_auth}")


@case
def follows_a_renamed_repo_on_the_hub(c, d):
    r = c.run(["glassbox-test/old-name", "model-Q8.gguf"], d, {"HF_TOKEN": "hf_some_token"})
    c.expect(r.returncode == 0 and open(os.path.join(d, "model-Q8.gguf"), "rb").read()
             == c.hub.file(REPO, "model-Q8.gguf").data, f"renamed repo: {r.stderr}")
    heads = [e for e in c.hub.log if e["server"] == "hub" and e["method"] == "HEAD"]
    c.expect(len(heads) == 2 and all(e["authorization"] == "Bearer hf_some_token" for e in heads),
             f"the relative redirect was not followed on the hub with the token: {heads}")
    c.expect(all(e["authorization"] is None for e in c.hub.log if e["server"] == "cdn"),
             "the token reached the CDN")


@case
def refuses_without_disk_space(c, d):
    r = c.run([REPO, "model-Q4.gguf"], d, {"GLASSBOX_TEST_FREE_BYTES": "5000"})
    c.expect(r.returncode != 0 and "not enough disk space" in r.stderr and "300 KB" in r.stderr
             and "5.0 KB" in r.stderr, f"space refusal: {r.stderr}")
    c.expect(not c.cdn_gets(), "bytes were fetched before the space check")
    c.expect(not os.path.exists(os.path.join(d, "model-Q4.gguf.part")), "a .part was made")


@case
def ctrl_c_keeps_the_partial_file(c, d):
    path = os.path.join(d, "model-Q4.gguf")
    c.hub.mode["stall_after"] = 50_000
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    p = subprocess.Popen([c.cli, "download", REPO, "model-Q4.gguf", "--endpoint",
                          c.hub.endpoint, "--dir", d], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    # Once the CDN has sent its 50,000 bytes (and a moment for them to arrive), Ctrl-C.
    end = time.time() + 20
    while time.time() < end and not any(e["sent"] == 50_000 for e in c.cdn_gets()):
        time.sleep(0.02)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    c.expect(p.returncode == 130 and "resume" in err, f"Ctrl-C: {p.returncode} {err}")
    kept = os.path.getsize(path + ".part") if os.path.exists(path + ".part") else 0
    c.expect(0 < kept <= 50_000 and not os.path.exists(path),
             f"the .part was not kept as received ({kept} bytes)")
    del c.hub.mode["stall_after"]
    r = c.run([REPO, "model-Q4.gguf"], d)
    c.expect(r.returncode == 0 and c.cdn_gets()[-1]["range"] == f"bytes={kept}-",
             f"no resume after Ctrl-C: {r.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    cli = ap.parse_args().cli
    with fake_hub.FakeHub() as hub:
        checks = Checks(cli, hub)
        for name, fn in list(globals().items()):
            if not getattr(fn, "is_case", False):
                continue
            hub.reset()
            before = len(checks.failures)
            with tempfile.TemporaryDirectory() as d:
                t0 = time.time()
                fn(checks, d)
                print(f"{'ok  ' if len(checks.failures) == before else 'FAIL'} {name} "
                      f"({time.time() - t0:.2f} s)")
        for secret in ("hf_not_granted_secret", fake_hub.GRANTED_TOKEN, "hf_some_token"):
            if any(secret in o for o in checks.secret_outputs):
                checks.expect(False, f"a token was printed: {secret}")
    for f in checks.failures:
        print("FAIL:", f)
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
