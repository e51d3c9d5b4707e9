"""Developer tooling that never runs in a pod (the ``local`` extra): embedded registry, cluster stand-in, demo."""
