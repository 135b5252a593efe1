"""clients/js as a user gets it: `npm pack` makes the tarball, `npm install` puts it (with
@msgpack/msgpack from the npm registry, and TypeScript for the type check) into a scratch
app in a temp dir. Built once per test process; tests run their probes from the app, so
`import 'livesync-client'` resolves exactly as in a user's project."""
import json
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE_DIR = os.path.join(ROOT, "clients", "js")
TYPESCRIPT = "typescript@5.9.3"
_app = None


def npm(args, cwd):
    out = subprocess.run(["npm", *args, "--no-audit", "--no-fund", "--loglevel=error"], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"npm {' '.join(args)} failed in {cwd}:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def scratch_app():
    """The app directory (with node_modules/livesync-client installed from the tarball)."""
    global _app
    if _app:
        return _app
    app = tempfile.mkdtemp(prefix="livesync-js-app-")
    tarball = npm(["pack", "--pack-destination", app], PACKAGE_DIR).strip().splitlines()[-1]
    with open(os.path.join(app, "package.json"), "w") as f:
        json.dump({"name": "scratch-app", "private": True, "type": "module"}, f)
    npm(["install", os.path.join(app, tarball), TYPESCRIPT], app)
    import atexit
    atexit.register(shutil.rmtree, app, True)
    _app = app
    return app


def copy_into_app(*names):
    """Copies test files (beside this module) into the app; returns their paths there."""
    app = scratch_app()
    paths = []
    for name in names:
        shutil.copy(os.path.join(HERE, name), os.path.join(app, name))
        paths.append(os.path.join(app, name))
    return paths
