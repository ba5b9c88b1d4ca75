"""The README's Python examples run as written and print what it shows."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language, section="## Python example"):
    """The code blocks of one README section (up to the next heading)."""
    text = README.read_text(encoding="utf-8")
    text = text[text.index(section) :]
    following = text.find("\n## ", 1)
    text = text if following < 0 else text[:following]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    text = README.read_text(encoding="utf-8")
    shown = re.search(r"prints\n\n```\n(.*?)```", text, re.S)
    shown = shown.group(1).strip().splitlines()
    # The first example's gradient shapes, exactly as the README shows.
    assert printed[1:5] == shown[1:5]
    assert printed[0].startswith(shown[0].rstrip("…"))
