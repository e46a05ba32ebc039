from django.contrib import admin
from django.urls import include, path

from django_gearman.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),  # the Gearman dashboard: /admin/django_gearman/
    path("metrics", metrics_view),  # Prometheus
    path("", include("shop.urls")),
]
