"""The OpenAPI 3 schema (`/api/schema/`, JSON unless YAML is asked for) and
its Swagger UI (`/api/docs/`): staff only, errors in the API's own shape."""
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import JSONRenderer

from .errors import exception_handler


class SchemaView(SpectacularAPIView):
    renderer_classes = [OpenApiJsonRenderer, OpenApiYamlRenderer]
    permission_classes = [IsAdminUser]

    def get_exception_handler(self):
        return exception_handler


class DocsView(SpectacularSwaggerSplitView):
    """The page loads its start-up script from `?script`, not inline (CSP)."""

    permission_classes = [IsAdminUser]

    def get_exception_handler(self):
        return exception_handler

    def handle_exception(self, exc):
        """The page is HTML, its errors JSON like everywhere else under /api/."""
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response
