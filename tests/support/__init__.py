"""Importable test helpers (plain functions and classes, no fixtures).

Fixtures live in plugin modules under ``tests/fixtures/`` (registered by ``tests/conftest.py``)
or in the conftest of the directory that uses them; test modules import only from here,
``tests.helpers``, ``tests.live`` and the per-directory ``support`` modules, never a conftest.
"""
