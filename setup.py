"""Package data layout (the rest of the metadata is in pyproject.toml).

The repo's top-level ``fixtures/`` and ``test_plans/`` folders stay where they are; in a wheel they are
shipped as ``bench/_data/fixtures`` and ``bench/_data/test_plans`` (read by ``bench._data.root()``
through importlib.resources). An editable install reads them from the checkout instead.
"""

from setuptools import find_packages, setup

DATA = {"bench._data.fixtures": "fixtures", "bench._data.test_plans": "test_plans"}

setup(
    packages=find_packages(include=["bench", "bench.*"]) + list(DATA),
    package_dir=DATA,
    package_data={"bench._data.fixtures": ["**/*"], "bench._data.test_plans": ["*.yaml"]},
    include_package_data=False,
)
