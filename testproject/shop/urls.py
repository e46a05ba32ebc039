from django.urls import path

from . import views

urlpatterns = [
    path("add/", views.add_view),
    path("count/", views.start_count),
    path("count/<str:handle>/", views.count_status, name="count-status"),
    path("progress/", views.progress_page),
    path("recipes/product/<str:sku>/", views.product),
    path("recipes/words/", views.word_frequencies),
    path("recipes/orders/", views.place_order),
    path("recipes/contact/", views.contact),
]
