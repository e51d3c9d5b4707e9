"""``kml ui``: a read-only web UI for a Model Registry -- models, versions, lineage, audit trail, comparisons.

Server-rendered pages (Starlette, Jinja2 with autoescaping) with inline SVG charts; no JavaScript, nothing loaded
from the internet. It reads the registry only through the Python API (``Lifecycle``), so it works against the
embedded registry and a cluster's (through a port-forward) alike. Developer tooling: the runtime never imports it.

=================  ================================================================================================
``server``         :class:`UiServer` (a background thread) and what ``kml ui`` serves in the foreground
``app``            routes, templates, error pages, security headers
``pages``          one function per page: the ``Lifecycle`` calls and the template's context
``views``          the Models and Model pages' rows, sorting, the audit timeline, deployments
``version_view``   the Version page's lineage for a reader, comparison reports, deployments of the version
``compare_view``   the Compare page's leaderboard (the ``kml models compare`` table and charts)
``charts``         the metric trend across versions (SVG), the production version marked
``graph``          the lineage graph: datasets -> run -> version -> deployments (SVG)
``links``          the UI's own URLs, and which outside URIs may become links
``sorting``        ``?sort=key`` / ``?sort=-key``
``pool``           ``Lifecycle`` objects lent to request threads
=================  ================================================================================================

Templates are in ``templates/``, the stylesheet in ``static/`` (package data).
"""
