"""The convolution explorer enforces its own limits: every number field of the page (both languages)
has a minimum and a maximum, and explorer.js refuses a value outside them (a size of 1000 over the
max of 512, a fraction, an empty field) with the page's message instead of computing and drawing it.
Run in Node here; tests/test_site.py drives the same refusal through the page in Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "docs" / "explorer.md", REPO / "docs" / "explorer.es.md"]
SCRIPT = REPO / "docs" / "assets" / "javascripts" / "explorer.js"


def _fields(page: Path) -> list[dict]:
    text = page.read_text()
    fields = [dict(label=label.strip(), name=name, min=lo, max=hi) for label, name, lo, hi in re.findall(
        r'<label>([^<]*)<input type="number" name="(\w+)" value="\d+" min="(\d+)" max="(\d+)"></label>', text)]
    assert len(fields) == text.count('type="number"'), f"{page.name}: a number field without min and max"
    return fields


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_number_field_has_limits_and_the_page_a_message_for_them(page):
    fields = _fields(page)
    assert {f["name"] for f in fields} >= {"size", "cin", "cout", "kernel", "stride", "padding", "dilation"}
    assert next(f for f in fields if f["name"] == "size")["max"] == "512"
    message = re.search(r'data-error-range="([^"]+)"', page.read_text())
    assert message and all(k in message.group(1) for k in ("{label}", "{min}", "{max}"))


_RUN = """
global.window = {};
global.document = { addEventListener() {}, querySelectorAll() { return []; } };
require(process.argv[1]);
const cases = JSON.parse(process.argv[2]);
console.log(JSON.stringify(cases.map(fields => {
  const bad = window.convExplorer.outOfRange(fields);
  return bad ? bad.name : null;
})));
"""


def test_explorer_refuses_values_outside_its_limits():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed (tests/test_site.py checks the explorer in Chromium)")
    fields = _fields(PAGES[0])
    defaults = {"size": "7", "cin": "4", "cout": "8", "kernel": "3", "stride": "1", "padding": "0",
                "dilation": "1", "groups": "1", "outpad": "0"}

    def setting(**values):
        return [dict(f, value={**defaults, **values}.get(f["name"], "1")) for f in fields]

    cases = [setting(), setting(size="1000"), setting(size="512"), setting(size="513"), setting(size="0"),
             setting(kernel="3.5"), setting(padding=""), setting(padding="-1"), setting(cin="4097"),
             setting(stride="9"), setting(size=" 12 ")]
    out = subprocess.run([node, "-e", _RUN, str(SCRIPT), json.dumps(cases)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [None, "size", None, "size", "size", "kernel", "padding", "padding", "cin",
                                      "stride", None]
