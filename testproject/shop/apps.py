from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"

    def ready(self):
        from .signals import connect_hook_log

        connect_hook_log()
