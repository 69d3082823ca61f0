"""The public API under /api/1/. Each app lists its endpoints in `api_urlpatterns` in its urls.py."""

from coupons.urls import api_urlpatterns as coupons_api
from promotions.urls import api_urlpatterns as promotions_api
from segments.urls import api_urlpatterns as segments_api
from vouchers.urls import api_urlpatterns as vouchers_api
from wallets.urls import api_urlpatterns as wallets_api

urlpatterns = [*segments_api, *wallets_api, *coupons_api, *vouchers_api, *promotions_api]
