"""A URL conf with one protected API endpoint, to test the shared API authentication alone."""

from django.urls import include, path

from accounts.api import ApiKeyAuth, ApiParser, PromoApi, api_urlpatterns

api = PromoApi(urls_namespace="test-api", parser=ApiParser(), docs_url=None, openapi_url=None)


@api.api_operation(["GET", "POST"], "whoami", auth=ApiKeyAuth())
def whoami(request):
    return {"status": "success", "key": request.api_key.key_id}


urlpatterns = [path("api/1/", include((api_urlpatterns(api), "ninja"), namespace="test-api"))]
