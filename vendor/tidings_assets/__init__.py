"""Third-party web assets served by tidings, kept apart from tidings' own sources.

- ``swagger_ui/``: swagger-ui-dist 5.35.0 (Apache-2.0; LICENSE.txt and NOTICE.txt
  beside it), for the mail API's browsable docs on an offline box.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


def swagger_ui() -> Traversable:
    return files(__name__) / "swagger_ui"
