"""Asynchronous LLM work, as a Django app: uploaded files and (OpenAI) batches of requests."""

from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "chungus.batches"
    label = "batches"
    verbose_name = "Batches"
