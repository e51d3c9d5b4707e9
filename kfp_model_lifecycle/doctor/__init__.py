"""Is the installation usable? The checks behind ``kml doctor`` and the ``verify_installation`` component.

==========================  =====================================================================================
``checklist``               :class:`Check` (one question, its answer and the fix), :class:`Checklist` (text with
                            ✓/✗, Markdown, ``to_dict()``), :class:`InstallationCheckError`
``registry_http``           raw requests to the registry (status and body, whatever they are)
``registry_checks``         reachable, credentials (Istio's 403 explained), the v1 API, writes (a dry probe)
``kubernetes_checks``       API server, KServe's CRD, RBAC per verb (SelfSubjectAccessReview), the token Secret
``run``                     :func:`check_installation`: all of them, in order
``task``                    the component's job (:func:`run_verify_installation`)
==========================  =====================================================================================
"""

from kfp_model_lifecycle.doctor.checklist import Check, Checklist, InstallationCheckError
from kfp_model_lifecycle.doctor.run import DoctorSettings, check_installation

__all__ = ["Check", "Checklist", "DoctorSettings", "InstallationCheckError", "check_installation"]
