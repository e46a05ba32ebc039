from django.urls import path

from . import views

urlpatterns = [
    path("add/", views.add_view),
    path("count/", views.start_count),
    path("count/<str:handle>/", views.count_status),
]
