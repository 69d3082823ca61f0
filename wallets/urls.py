from django.urls import path

from wallets import views

app_name = "wallets"

urlpatterns = [
    path("", views.wallet_list, name="wallet_list"),
    path("new/", views.wallet_create, name="wallet_create"),
    path("<int:pk>/", views.wallet_detail, name="wallet_detail"),
    path("<int:pk>/edit/", views.wallet_edit, name="wallet_edit"),
    path("<int:pk>/transactions/", views.transaction_list, name="transaction_list"),
    path("<int:pk>/adjust/", views.wallet_adjust, name="wallet_adjust"),
]
