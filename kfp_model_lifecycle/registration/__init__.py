"""Registering a trained model version with its lineage.

==================  ===========================================================================================
``run``             :func:`run_register_model`, the whole job, returning a :class:`RegistrationResult`
``model_lineage``   what is known of the model (format, code version, training image, datasets) and what is not
``properties``      the version's typed ``customProperties``
``artifacts``       the ModelArtifact and dataset artifacts, and linking them to the version
``writes``          idempotent writes: get-or-create the model, create the version (bounded 409 retries)
``versions``        the ``version`` input and SemVer bumps
``names``           registry name checks
``output``          the ``registered_model`` output metadata and pointer file
``task``            the component's task: KFP artifacts in, outputs filled in
==================  ===========================================================================================
"""

from kfp_model_lifecycle.registration.run import RegistrationResult, run_register_model
from kfp_model_lifecycle.registration.writes import RegisteredVersion, VersionDraft, register_model_version

__all__ = ["RegisteredVersion", "RegistrationResult", "VersionDraft", "register_model_version", "run_register_model"]
