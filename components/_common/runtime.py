"""Where component code runs: base image and pinned packages, in one place.

Every component passes ``**component_kwargs(...)`` to ``@dsl.component``. By default components run on
the public ``python:3.11`` image and pip-install their pinned packages at start-up. When
``KML_COMPONENT_BASE_IMAGE`` is set (``kml compile --base-image IMAGE`` sets it), they use that image
instead -- the runtime image built from ``runtime-image/Dockerfile`` with every package preinstalled -- and install
nothing at start-up.
"""

from __future__ import annotations

import os
from typing import Any

BASE_IMAGE = "python:3.11"
BASE_IMAGE_ENV = "KML_COMPONENT_BASE_IMAGE"

# Packages installed in component pods (pinned; the runtime image installs exactly these).
KFP = "kfp==2.17.3"
MODEL_REGISTRY = "model-registry==0.3.18"
KUBERNETES = "kubernetes==30.1.0"
SCIKIT_LEARN = "scikit-learn==1.7.2"
JOBLIB = "joblib==1.5.2"

RUNTIME_PACKAGES = (KFP, MODEL_REGISTRY, KUBERNETES, SCIKIT_LEARN, JOBLIB)


def component_kwargs(*packages: str) -> dict[str, Any]:
    """Keyword arguments for ``@dsl.component``: base image and packages to install.

    Args:
        *packages: Pinned requirements the component's code imports (from this module's constants).

    Returns:
        ``base_image`` and ``packages_to_install`` (plus ``install_kfp_package=False`` on the runtime image,
        which already has kfp).
    """
    unknown = [p for p in packages if p not in RUNTIME_PACKAGES]
    if unknown:
        raise ValueError(
            f"packages {unknown} are not in RUNTIME_PACKAGES: add them there so the runtime image has them"
        )
    image = os.environ.get(BASE_IMAGE_ENV, "").strip()
    if image:
        return {"base_image": image, "packages_to_install": [], "install_kfp_package": False}
    return {"base_image": BASE_IMAGE, "packages_to_install": list(packages)}
