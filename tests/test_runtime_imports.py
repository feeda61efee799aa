"""The sandboxes are test and demo tools: what a production install imports to serve the admin
and run syncs must not load them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter, so that this test process's own imports (the fixtures load the
# sandboxes) cannot hide an import the runtime makes.
PROBE = """
import importlib, json, pkgutil, sys
import django
django.setup()
import syncadmin.services
for module in pkgutil.iter_modules(syncadmin.services.__path__, "syncadmin.services."):
    importlib.import_module(module.name)
for name in ("syncadmin.tasks", "syncadmin.admin", "syncadmin.urls",
             "connectors.netsuite.client", "connectors.zuora.client"):
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("connectors."))))
"""


def test_the_runtime_modules_do_not_import_the_sandboxes():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="syncadmin.settings")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "connectors.netsuite.client" in loaded  # the probe did import the runtime
    assert [m for m in loaded if m.startswith("connectors.sandboxes")] == []
