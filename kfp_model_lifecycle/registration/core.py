"""Old home of the registration code, kept only so ``tests/test_components.py`` still imports from here.

The code now lives in the modules of :mod:`kfp_model_lifecycle.registration`; import from those (or from the
package). Delete this module once that test imports ``run_register_model`` from
``kfp_model_lifecycle.registration.run``.
"""

from kfp_model_lifecycle.registration.run import run_register_model

__all__ = ["run_register_model"]
