#!/usr/bin/env python3
"""What `cmake --install` lays out (resources/CMakeLists.txt), checked in a temporary prefix:
the executables, the launcher (desktop-file-validate), the AppStream file, the icon at every
hicolor size (the PNG header's size), the demo models, the man pages (gzipped -9n, clean under
groff -ww, every command and option of `glassbox-cli --help` in glassbox-cli.1), and that the
installed glassbox-cli, run from elsewhere with GLASSBOX_DATA_DIR unset, finds and opens the
installed demo models rather than the source tree's.

Usage: install_layout_test.py --build BUILD_DIR [--cmake CMAKE] [--app ON|OFF]
           [--cpu-needs "AVX, AVX2, ..."] [--keep]
       install_layout_test.py --prefix DIR [--app ON|OFF]   (check an existing install only)
"""
import argparse
import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DEMO_MODELS = ("glassbox-demo-moe.gguf", "glassbox-demo-dense.gguf")
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

failures = []


def fail(what):
    failures.append(what)
    print("FAIL: " + what)


def need_tool(name, package):
    path = shutil.which(name)
    if not path:
        fail(f"{name} is missing (Debian package {package}; tools/install_deps.sh installs it)")
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def check_file(prefix, rel, executable=False):
    path = os.path.join(prefix, rel)
    if not os.path.isfile(path):
        fail(f"missing {rel}")
        return None
    if executable and not os.access(path, os.X_OK):
        fail(f"{rel} is not executable")
    return path


def check_man(prefix, page):
    path = check_file(prefix, f"share/man/man1/{page}.1.gz")
    if not path:
        return ""
    with open(path, "rb") as f:
        head = f.read(10)
    # gzip -n: no file name (FLG bit 3) and no time stamp (MTIME 0), so rebuilds are identical.
    if head[3] & 0x08 or head[4:8] != b"\0\0\0\0":
        fail(f"{page}.1.gz keeps a name or a time stamp (gzip -9n expected)")
    text = gzip.decompress(open(path, "rb").read()).decode("utf-8")
    groff = need_tool("groff", "groff-base")
    if groff:
        r = subprocess.run([groff, "-man", "-ww", "-z"], input=text, capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            fail(f"groff -man -ww -z on {page}.1: rc {r.returncode}: {r.stderr.strip()}")
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build")
    ap.add_argument("--prefix")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--app", default="ON")
    ap.add_argument("--cpu-needs", default="")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    app = a.app.upper() in ("ON", "1", "TRUE", "YES")

    tmp = tempfile.mkdtemp(prefix="gb_install_")
    try:
        if a.prefix:
            prefix = os.path.abspath(a.prefix)
        else:
            prefix = os.path.join(tmp, "prefix")
            r = run([a.cmake, "--install", a.build, "--prefix", prefix])
            if r.returncode != 0:
                print(r.stdout + r.stderr)
                fail("cmake --install failed")
                return 1
        check(prefix, app, a.cpu_needs, tmp)
    finally:
        if a.keep:
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} problem(s) in the install layout")
        return 1
    print("install layout OK: " + prefix)
    return 0


def check(prefix, app, cpu_needs, tmp):
    cli = check_file(prefix, "bin/glassbox-cli", executable=True)

    # The demo models and their card, byte for byte the repository's.
    for name in DEMO_MODELS + ("README.md",):
        path = check_file(prefix, "share/glassbox/models/" + name)
        src = os.path.join(SOURCE, "resources/models", name)
        if path and os.path.isfile(src) and os.path.getsize(path) != os.path.getsize(src):
            fail(f"share/glassbox/models/{name} differs in size from resources/models/{name}")

    # glassbox-cli.1 documents every command and option that --help prints.
    man = check_man(prefix, "glassbox-cli").replace("\\-", "-").replace("\\fB", "")
    if cli and man:
        r = run([cli, "--help"])
        if r.returncode != 0:
            fail(f"glassbox-cli --help: exit {r.returncode}")
        commands = re.findall(r"^  ([a-z]+) ", r.stdout, re.M)
        if len(commands) < 10:
            fail(f"glassbox-cli --help lists only {commands}")
        for c in commands:
            if not re.search(r"^\.SS \"?" + c + r"\b", man, re.M):
                fail(f"glassbox-cli.1 has no section for the command {c}")
        for opt in sorted(set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", r.stdout))):
            if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", man):
                fail(f"glassbox-cli.1 does not mention the option {opt}")

    # The installed CLI, from another folder, without GLASSBOX_DATA_DIR: its own data.
    if cli:
        env = dict(os.environ)
        env.pop("GLASSBOX_DATA_DIR", None)
        elsewhere = os.path.join(tmp, "elsewhere")
        os.makedirs(elsewhere, exist_ok=True)
        want = os.path.realpath(os.path.join(prefix, "share/glassbox/models"))
        r = run([cli, "paths", "--models"], cwd=elsewhere, env=env)
        got = r.stdout.strip()
        if r.returncode != 0 or os.path.realpath(got) != want:
            fail(f"installed glassbox-cli paths --models: exit {r.returncode}, printed {got!r} "
                 f"(stderr {r.stderr.strip()!r}); expected {want}")
        r = run([cli, "paths"], cwd=elsewhere, env=env)
        if "(installed)" not in r.stdout:
            fail(f"installed glassbox-cli paths does not say it found the installed data: "
                 f"{r.stdout!r} {r.stderr!r}")
        r = run([cli, "inspect", os.path.join(got, DEMO_MODELS[0])], cwd=elsewhere, env=env)
        if r.returncode != 0 or "deepseek2" not in r.stdout:
            fail(f"installed glassbox-cli inspect on the installed demo model: exit "
                 f"{r.returncode}: {r.stderr.strip()}")
        # GLASSBOX_DATA_DIR still wins over the installed folder.
        env["GLASSBOX_DATA_DIR"] = os.path.join(tmp, "nowhere")
        r = run([cli, "paths", "--models"], cwd=elsewhere, env=env)
        if r.returncode == 0 or "GLASSBOX_DATA_DIR" not in r.stderr:
            fail(f"glassbox-cli paths with GLASSBOX_DATA_DIR naming an empty folder: exit "
                 f"{r.returncode}, {r.stderr.strip()!r}")
        # A build for more than the baseline x86-64 refuses a CPU without it, in words.
        env.pop("GLASSBOX_DATA_DIR")
        env["GLASSBOX_PRETEND_OLD_CPU"] = "1"
        r = run([cli, "paths"], cwd=elsewhere, env=env)
        refused = r.returncode == 1 and "This build of Glassbox needs a CPU with" in r.stderr
        if bool(cpu_needs) != refused:
            fail(f"CPU check: built to need {cpu_needs or 'nothing'}, but a pretended old CPU "
                 f"gave exit {r.returncode}: {r.stderr.strip()!r}")

    if not app:
        return
    gui = check_file(prefix, "bin/glassbox", executable=True)
    desktop = check_file(prefix, "share/applications/glassbox.desktop")
    validate = need_tool("desktop-file-validate", "desktop-file-utils")
    if desktop and validate:
        r = run([validate, desktop])
        if r.returncode != 0 or "error" in (r.stdout + r.stderr):
            fail(f"desktop-file-validate glassbox.desktop: {r.stdout}{r.stderr}")
        text = open(desktop, encoding="utf-8").read()
        for line in ("Exec=glassbox %F", "Icon=glassbox", "Name=Glassbox"):
            if line not in text.splitlines():
                fail(f"glassbox.desktop lacks {line}")
    metainfo = check_file(prefix, "share/metainfo/glassbox.metainfo.xml")
    if metainfo:
        appstream = shutil.which("appstreamcli")
        if appstream:  # optional (Debian package appstream): errors fail, warnings are shown
            r = run([appstream, "validate", "--no-net", metainfo])
            errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
            if errors:
                fail("appstreamcli validate: " + "; ".join(errors))
        else:
            ET.parse(metainfo)
    for px in ICON_SIZES:
        path = check_file(prefix, f"share/icons/hicolor/{px}x{px}/apps/glassbox.png")
        if path and png_size(path) != (px, px):
            fail(f"hicolor/{px}x{px}/apps/glassbox.png is {png_size(path)}, not {px}x{px}")
    svg = check_file(prefix, "share/icons/hicolor/scalable/apps/glassbox.svg")
    if svg and not ET.parse(svg).getroot().tag.endswith("svg"):
        fail("scalable/apps/glassbox.svg is not an SVG")
    check_man(prefix, "glassbox")
    if gui:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        env.pop("GLASSBOX_DATA_DIR", None)
        r = run([gui, "--help"], cwd=tmp, env=env)
        if r.returncode != 0 or "--model" not in r.stdout:
            fail(f"installed glassbox --help: exit {r.returncode}: {r.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main())
