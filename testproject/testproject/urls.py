from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),  # the Gearman dashboard: /admin/django_gearman/
    path("", include("shop.urls")),
]
