"""Package discovery for setuptools (everything else is in pyproject.toml).

The import package ``bitscale`` is assembled from top-level folders (``bitscale/``,
``nn/``, ``hw/``, ``sim/``, ``cost_model/``, ``boards/``). ROOTS maps each import name to
its folder; every package below a root (any folder with an ``__init__.py``) is found by
``find_packages``, so a subpackage added later (``bitscale/sweep/``, ``boards/<x>/``) lands
in the wheel without touching this file. tests/test_packaging.py builds the wheel and
checks it holds every package of the source tree.
"""

from setuptools import find_packages, setup

ROOTS = {
    "bitscale": "bitscale",
    "bitscale.nn": "nn",
    "bitscale.hw": "hw",
    "bitscale.sim": "sim",
    "bitscale.cost_model": "cost_model",
    "bitscale.boards": "boards",
}


def packages_and_dirs():
    packages, package_dir = [], {}
    for name, folder in ROOTS.items():
        packages.append(name)
        package_dir[name] = folder
        for sub in find_packages(folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return sorted(set(packages)), package_dir


PACKAGES, PACKAGE_DIR = packages_and_dirs()

setup(packages=PACKAGES, package_dir=PACKAGE_DIR)
