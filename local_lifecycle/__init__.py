"""`make demo`: the whole MLOps lifecycle of a SageMaker project on this machine.

No AWS account, GitLab server or Docker: AWS is emulated by a moto server on loopback, GitLab by
`LocalRepositoryHost` (local git repositories) plus gitlab-ci-local, and the staging endpoint by
the real model server of the XGBoost image. Everything else is the platform's own code.
"""

import sys
from pathlib import Path

# The Lambda packages are top-level packages in their deployed zips; import them the same way.
_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
