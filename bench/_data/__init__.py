"""glassbench's built-in data: plans, bench files, boards, catalogue, instruments, power profiles, corpus.

In a wheel the repo's ``fixtures/`` and ``test_plans/`` folders are shipped inside this package
(``bench/_data/fixtures``, ``bench/_data/test_plans``: a package-dir mapping in setup.py). In a source
checkout (``pip install -e .`` or ``PYTHONPATH``) they are the checkout's own top-level folders, which
stay where they are. ``root()`` hides the difference; nothing is ever written below it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def root() -> Path:
    """The folder holding ``fixtures/`` and ``test_plans/`` of this glassbench installation."""
    here = Path(str(resources.files(__name__)))
    if (here / "fixtures").is_dir():  # built wheel
        return here
    checkout = here.parent.parent  # source checkout: bench/_data/ → the repo
    if (checkout / "fixtures").is_dir() and (checkout / "test_plans").is_dir():
        return checkout
    raise RuntimeError(f"glassbench's built-in data is missing: neither {here}/fixtures nor {checkout}/fixtures "
                       "exists (a broken install?)")
