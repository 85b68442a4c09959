from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "emporter.demo"
    verbose_name = "Demo data"
