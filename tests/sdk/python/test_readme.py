"""The README's quick start works as written: its Python snippet runs unchanged
against a server started the way the README starts it (default endpoint
127.0.0.1:8800, default instance 'tablesafe', keys from the environment)."""

import os
import re

import pytest

from sdk_helpers import TableSafeServer, ServerStartError

README = os.path.join(os.path.dirname(__file__), "..", "..", "..", "README.md")


def readme_python_snippet():
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    # The first: the official SDK against the server. The second is the seed's
    # flow with TableSafe's own package, run by clients/python/tests/test_readme.py.
    assert len(blocks) == 2, "the README should hold the SDK snippet and the seed's flow"
    return blocks[0]


def test_readme_quick_start_snippet_runs_as_written(tmp_path, monkeypatch, capsys):
    key_id, secret = "readme-demo", "readme-demo-secret"
    monkeypatch.setenv("TABLESAFE_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("TABLESAFE_ACCESS_KEY_SECRET", secret)
    srv = TableSafeServer(tmp_path / "data", tmp_path / "server.log", port=8800, instance="tablesafe",
                          access_key_id=key_id, access_key_secret=secret)
    try:
        srv.start()
    except ServerStartError as e:
        pytest.fail("cannot start the README's server on 127.0.0.1:8800: %s" % e, pytrace=False)
    try:
        exec(compile(readme_python_snippet(), "README.md", "exec"), {})
        out = capsys.readouterr().out
        assert "('langs', 3," in out and "('name', 'Ada'," in out, out
    finally:
        srv.stop()
