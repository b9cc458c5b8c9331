"""Built-in model plugins, one per file.

Each module registers its plugin with ``@MODELS.register(name)``; :data:`rdlab.registry.MODELS`
imports every public module here on its first lookup, so a new model is one new file
(``rdlab models`` lists them; the contract suites in :mod:`rdlab.testing` pick it up).
"""
