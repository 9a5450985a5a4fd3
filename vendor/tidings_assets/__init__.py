"""Third-party web assets served by tidings, kept apart from tidings' own sources.

- ``swagger_ui/``: swagger-ui-dist 5.35.0 (Apache-2.0; LICENSE.txt and NOTICE.txt
  beside it), for the mail API's browsable docs on an offline box.
- ``web/``: the web app's front end, built by ``frontend/build.sh`` from the npm
  packages pinned in ``frontend/package-lock.json`` (htmx 2 and htmx-ext-ws, Alpine.js's
  CSP build, Tailwind CSS; versions in ``web/VERSIONS.txt``; all MIT).
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


def swagger_ui() -> Traversable:
    return files(__name__) / "swagger_ui"


def web_assets() -> Traversable:
    return files(__name__) / "web"
